/**
 * What the segmentation chain (core.ts) needs from an engine: the grid the model expects, its
 * description, a fit to each scan, and logits of batches of slices. libtorch (torch.ts) and
 * onnxruntime, node or web (onnx.ts), implement it; nothing here imports either.
 */
import type { ModelGrid, PreparedScan } from '../../data/image/conform.js';
import type { ModelInfo } from '../model-info.js';

/** What test-time AdaBN used: scans, slices, batches of the estimate and its shuffle seed. */
export interface AdaBNUse { scans: number; slices: number; batches: number; seed: number }

/** What a backend did to fit the network to a scan. `C`: the engine's adapter-choice record. */
export interface FitOutcome<C = unknown> {
  /** Test-time AdaBN as it ran for this scan (per scan, or once for its folder), or null. */
  adabn: AdaBNUse | null;
  /** The adapter predicted with (given or chosen; a name the backend knows), or null for the base model. */
  adapter: string | null;
  /** The automatic adapter choice, or null. */
  choice: C | null;
  /** Distance of the scan from the model's training scans and the farthest of those (null: not measured). */
  distribution: { distance: number; threshold: number } | null;
  /** Why the mask may be off, from this step. */
  warnings: string[];
}

export interface ScanBackend<C = unknown> {
  readonly grid: ModelGrid;
  readonly info: ModelInfo;
  /** Fit the network to the prepared scan; logits() then predicts with that fit until release(). */
  fit(prep: PreparedScan): Promise<FitOutcome<C>>;
  /** Logits [b, 1, h, w] of the slices x [b, 1, h, w]. */
  logits(x: Float32Array, b: number, h: number, w: number): Promise<Float32Array>;
  /** Undo what fit() set up for one scan (a fitted session, say). */
  release(): Promise<void>;
}

/** The views of a prepared scan test-time AdaBN estimates from: every view the model was trained on. */
export function adabnStacks(prep: PreparedScan): PreparedScan['views'] {
  return prep.views;
}

/** The sentence both engines give when a model selected with test-time AdaBN cannot get it. */
export const NO_STATISTICS_GRAPH = 'the model was selected with test-time AdaBN per scan (inference: adabn), but its ONNX statistics graph '
  + '(<model>.stats.onnx, written by `convlora export`) was not given: predicted with its stored BatchNorm statistics';

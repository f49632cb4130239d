/**
 * The onnxruntime backend of the segmentation chain (core.ts), for onnxruntime-node (`segment --engine
 * onnx`) and onnxruntime-web (the browser app) alike: an exported model, and for a model that predicts
 * with test-time AdaBN its statistics graph. Its fit to a scan re-estimates the statistics with that
 * graph (pipeline/onnx/adabn.ts) and opens a copy of the model holding them, used until release().
 * No Node module.
 */
import type { PreparedScan } from '../../data/image/conform.js';
import type { ModelGrid } from '../../data/image/conform.js';
import type { ModelInfo } from '../model-info.js';
import { adaptToViews } from '../onnx/adabn.js';
import type { OnnxModel } from '../onnx/model.js';
import { NO_STATISTICS_GRAPH, type FitOutcome, type ScanBackend } from './backend.js';
import { TEST_TIME_OPTIONS } from './slices.js';

/** What test-time AdaBN outside libtorch needs: the statistics graph, the model's bytes, and how to open patched bytes. */
export interface OnnxAdaBN {
  stats: Pick<OnnxModel, 'runOutputs' | 'summary'>;
  bytes: Uint8Array;
  open: (bytes: Uint8Array) => Promise<Pick<OnnxModel, 'run' | 'dispose'>>;
}

export interface OnnxBackendOptions {
  /** The model's statistics graph and bytes, when it has them. */
  adabn?: OnnxAdaBN | null;
  /** false: never test-time AdaBN; default: the model's record (`inference: 'adabn'`) unless `adapted`. */
  useAdaBN?: boolean;
  /** Never re-estimate: an adapter without its own test-time AdaBN record fits the model (its metadata may predate `merged`). */
  adapted?: boolean;
  /** Shuffle seed of test-time AdaBN (default 42, as test-time.ts). */
  seed?: number;
  /** Name of the model in messages. */
  what?: string;
}

export class OnnxBackend implements ScanBackend<never> {
  #fitted: Pick<OnnxModel, 'run' | 'dispose'> | null = null;

  constructor(private readonly model: Pick<OnnxModel, 'run' | 'grid' | 'info'>, private readonly o: OnnxBackendOptions = {}) {}

  get grid(): ModelGrid { return this.model.grid; }
  get info(): ModelInfo { return this.model.info; }

  /**
   * The model records test-time AdaBN and nothing else fits it to the scan: no adapter was merged in, or the
   * merged adapter records that it is used with test-time AdaBN too.
   */
  private get recordsAdaBN(): boolean {
    const merged = this.info.merged as { inference?: unknown } | undefined;
    return this.o.adapted !== true && this.info.inference === 'adabn' && (merged === undefined || merged === null || merged.inference === 'adabn');
  }

  async fit(prep: PreparedScan): Promise<FitOutcome<never>> {
    await this.release();
    const base = { adapter: null, choice: null, distribution: null };
    if (!this.recordsAdaBN || this.o.useAdaBN === false) return { ...base, adabn: null, warnings: [] };
    const a = this.o.adabn;
    if (a === undefined || a === null) return { ...base, adabn: null, warnings: [NO_STATISTICS_GRAPH] };
    const seed = this.o.seed ?? TEST_TIME_OPTIONS.seed.default;
    const budget = this.info.adabnSlices;
    const fitted = await adaptToViews(a.stats, a.bytes, prep.views, a.open, { seed, ...(typeof budget === 'number' ? { maxSlices: budget } : {}), ...(this.o.what === undefined ? {} : { what: this.o.what }) });
    this.#fitted = fitted.model;
    return { ...base, adabn: { scans: 1, slices: fitted.slices, batches: fitted.batches, seed }, warnings: [] };
  }

  logits(x: Float32Array, b: number, h: number, w: number): Promise<Float32Array> {
    return (this.#fitted ?? this.model).run(x, b, h, w);
  }

  async release(): Promise<void> {
    const f = this.#fitted;
    this.#fitted = null;
    await f?.dispose();
  }
}

/**
 * The libtorch backend of the segmentation chain (core.ts): a network with its adapters in an
 * AdapterRegistry. Its fit to a scan: the distribution check and the automatic adapter choice (both
 * measure BatchNorm inputs, which only this engine exposes), then test-time AdaBN when the model is
 * used that way (its record, or asked), or when the choice falls back to it; or a folder's statistics,
 * estimated once by adaptToScans.
 */
import type { PreparedScan } from '../../data/image/conform.js';
import type { Device } from '../../engine/tensor.js';
import { snapshotBatchNorm, type BatchNormSnapshot } from '../../lora/adabn.js';
import type { AdapterRegistry } from '../../lora/adapter.js';
import { bnInputStatistics, statisticSlices } from '../../lora/fingerprint.js';
import { asSegmentationNet, type SegmentationNet } from '../../models/zoo.js';
import { chooseAdapter, sourceDistance, type AdapterChoice, type Candidate } from './adapter-choice.js';
import type { ModelGrid } from '../../data/image/conform.js';
import type { ModelInfo } from '../model-info.js';
import { runSlices } from './predict.js';
import { distributionWarning, fallbackWarning } from './segment-checks.js';
import { testTimeAdaBN, type TestTimeResult } from './test-time.js';
import type { FitOutcome, ScanBackend } from './backend.js';

export interface TorchBackendOptions {
  /** Test-time AdaBN per scan: true, false, or undefined for the model's record (when no adapter is given). */
  adabn?: boolean;
  /** Shuffle seed of test-time AdaBN (default test-time.ts TEST_TIME_SEED). */
  seed?: number;
  device?: Device;
  /** Whether an adapter was given or adapters are to be chosen from (then the model's own test-time AdaBN record does not apply). */
  adapted: boolean;
}

export class TorchBackend implements ScanBackend<AdapterChoice> {
  /** BatchNorm buffers re-estimated on a whole folder (adaptToScans), restored after every model switch. */
  #folderStats: { saved: BatchNormSnapshot; result: TestTimeResult } | null = null;

  constructor(readonly registry: AdapterRegistry, readonly grid: ModelGrid, readonly info: ModelInfo, private readonly active: string | null,
    private readonly candidates: readonly Candidate[], private readonly o: TorchBackendOptions) {}

  get model(): SegmentationNet { return asSegmentationNet(this.registry.model); }

  /**
   * Test-time AdaBN per scan with `adapter` (null: the base model) active: asked for; or, with an adapter,
   * what the adapter records (`inference: 'adabn'`); without one, the model's record when no adapter was
   * given or offered.
   */
  private perScanAdaBN(adapter: string | null): boolean {
    if (this.o.adabn !== undefined) return this.o.adabn;
    return adapter !== null ? this.registry.config(adapter)?.inference === 'adabn' : !this.o.adapted && this.info.inference === 'adabn';
  }

  /** The model for prediction: `name` (an adapter, merged, or null: the base model), with a folder's statistics if any. */
  use(name: string | null): void {
    this.registry.activate(name, { merge: true });
    this.model.eval();
    this.#folderStats?.saved.restore();
  }

  private ttaOptions(): { seed?: number; device: Device; maxSlices?: number } {
    const budget = this.info.adabnSlices;
    return { device: this.o.device ?? 'cpu', ...(this.o.seed === undefined ? {} : { seed: this.o.seed }), ...(typeof budget === 'number' ? { maxSlices: budget } : {}) };
  }

  /** Test-time AdaBN over several prepared scans taken as one scanner (a folder), kept for every later fit. */
  adaptToScans(preps: readonly PreparedScan[]): TestTimeResult {
    this.dropFolderStats();
    this.use(this.active);
    const result = { ...testTimeAdaBN(this.model, preps.flatMap((p) => p.views), this.ttaOptions()), scans: preps.length };
    this.#folderStats = { result, saved: snapshotBatchNorm(this.model) };
    return result;
  }

  dropFolderStats(): void {
    this.#folderStats?.saved.dispose();
    this.#folderStats = null;
  }

  async fit(prep: PreparedScan): Promise<FitOutcome<AdapterChoice>> {
    const device = this.o.device ?? 'cpu';
    const warnings: string[] = [];
    // The scan as the base model sees it: for the distribution warning and the adapter choice.
    this.registry.activate(null);
    const stats = this.info.fingerprint === undefined && this.candidates.length === 0 ? null
      : bnInputStatistics(this.model, prep.images, prep.shape, { slices: statisticSlices(prep.images, prep.shape), device });
    const distribution = stats === null ? null : sourceDistance(this.model, stats, this.info.fingerprint);
    const dw = distributionWarning(distribution);
    if (dw !== null) warnings.push(dw);
    let choice: AdapterChoice | null = null;
    let adapter = this.active;
    if (this.candidates.length > 0) {
      choice = chooseAdapter(this.registry, [...this.candidates], prep.images, prep.shape, { device, ...(stats === null ? {} : { sourceStats: stats }) });
      adapter = choice.chosen === null ? null : this.candidates.find((c) => c.name === choice!.chosen)!.adapter;
      const fw = fallbackWarning(choice);
      if (fw !== null) warnings.push(fw);
    }
    this.use(adapter);
    let adabn: TestTimeResult | null = this.#folderStats?.result ?? null;
    if ((this.perScanAdaBN(adapter) && this.#folderStats === null) || (choice !== null && choice.chosen === null)) {
      // One scan, whose views are estimated from together.
      adabn = { ...testTimeAdaBN(this.model, prep.views, this.ttaOptions()), scans: 1 };
    }
    return { adabn, adapter, choice, distribution, warnings };
  }

  async logits(x: Float32Array, b: number, h: number, w: number): Promise<Float32Array> {
    const model = this.model;
    return runSlices(x, [b, h, w], b, this.o.device ?? 'cpu', (t) => [model.forward(t)])[0]!;
  }

  async release(): Promise<void> { /* the next fit() activates its model afresh */ }

  dispose(): void {
    this.dropFolderStats();
    const model = this.registry.model;
    this.registry.dispose();
    model.dispose();
  }
}

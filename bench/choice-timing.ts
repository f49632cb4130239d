/**
 * bench/choice-timing: what the automatic adapter choice (`segment --adapters`) costs next to
 * `segment` itself, for one volume. Rounds interleave the two so machine noise hits them alike;
 * medians are reported.
 *   - segment: `Segmenter.segment` of the volume with the source model (read, prepare, predict every
 *     slice, write the mask), the model loaded once beforehand, as `segment` on a folder does;
 *   - choice: what `--adapters` adds per scan on the already prepared scan: the statistics pass of the
 *     source model on STATISTICS_SLICES slices plus the distances (`chooseAdapter`), and, for
 *     comparison, the self-consistency choice (every candidate run on the slices).
 *   node dist/bench/choice-timing.js --model unet.safetensors --scan scan.nii.gz A.safetensors B.safetensors ... [--rounds 9]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setThreads } from '../src/engine/runtime.js';
import { readNifti } from '../src/data/nifti/index.js';
import { DEFAULT_CONFORM, prepareForModel } from '../src/data/image/conform.js';
import { AdapterRegistry, loadAdapter } from '../src/lora/adapter.js';
import { loadUnet, modelGrid } from '../src/pipeline/models.js';
import { chooseAdapter, type Candidate } from '../src/pipeline/infer/adapter-choice.js';
import { Segmenter } from '../src/pipeline/infer/segment.js';
import { machine, median, writeResult } from './common.js';

export interface ChoiceTiming {
  scan: string; candidates: number; rounds: number;
  segmentSeconds: number; choiceSeconds: number; selfConsistencySeconds: number;
  /** choice / segment: the budget is <= 0.20. */
  ratio: number; selfConsistencyRatio: number;
}

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/** Median times of segment (source model) and of the choice among `adapters` for one scan. */
export async function measureChoiceTime(model: string, adapters: readonly string[], scan: string, rounds = 9): Promise<ChoiceTiming> {
  const dir = mkdtempSync(join(tmpdir(), 'convlora-choice-'));
  const seg = await Segmenter.open({ model });
  const { model: unet, info } = await loadUnet(model);
  const registry = new AdapterRegistry(unet);
  try {
    const candidates: Candidate[] = [{ name: 'source', domain: null, adapter: null, fingerprint: (info.fingerprint ?? null) as Candidate['fingerprint'] }];
    for (const f of adapters) {
      const a = await loadAdapter(f);
      registry.add(f, a, f);
      candidates.push({ name: f, domain: a.config.domain, adapter: f, fingerprint: a.config.fingerprint ?? null });
    }
    const noPrints = candidates.map((c) => ({ ...c, fingerprint: null }));
    const prep = prepareForModel(await readNifti(scan), modelGrid(info), { conform: DEFAULT_CONFORM });
    const segT: number[] = [], choiceT: number[] = [], selfT: number[] = [];
    await seg.segment(scan, join(dir, 'mask.nii.gz')); // warm-up
    chooseAdapter(registry, candidates, prep.images, prep.shape);
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await seg.segment(scan, join(dir, 'mask.nii.gz'));
      segT.push((performance.now() - t0) / 1000);
      choiceT.push(time(() => chooseAdapter(registry, candidates, prep.images, prep.shape)));
      selfT.push(time(() => chooseAdapter(registry, noPrints, prep.images, prep.shape)));
    }
    const s = median(segT), c = median(choiceT), a = median(selfT);
    return { scan, candidates: candidates.length, rounds, segmentSeconds: s, choiceSeconds: c, selfConsistencySeconds: a, ratio: c / s, selfConsistencyRatio: a / s };
  } finally {
    seg.dispose();
    registry.dispose();
    unet.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { model: { type: 'string' }, scan: { type: 'string' }, rounds: { type: 'string', default: '9' }, threads: { type: 'string', default: '2' } } });
  if (values.model === undefined || values.scan === undefined || positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/choice-timing.js --model unet.safetensors --scan scan.nii.gz ADAPTER.safetensors... [--rounds 9]\n');
    process.exit(2);
  }
  setThreads(Number(values.threads));
  const t = await measureChoiceTime(values.model, positionals, values.scan, Number(values.rounds));
  const result = { date: new Date().toISOString(), machine: machine(), model: values.model, ...t };
  writeResult(fileURLToPath(new URL('../../bench/results/choice-timing.json', import.meta.url)), result);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

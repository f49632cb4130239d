/**
 * bench/onnx: one volume through `segment` with libtorch and with onnxruntime-node, the same thread count,
 * plus what `convlora export` costs (time, file size).
 *   - model: the method's U-Net (16 filters) with random weights and a ConvLoRA + AdaBN adapter (random
 *     LoRA B, moved BatchNorm statistics; speed does not depend on the values), recording the phantom's
 *     voxel size and orientation so the scan is sliced as stored;
 *   - scan: a simulated GE 3T head at 1 mm (phantomVolume size 256), written as .nii.gz;
 *   - segment: `Segmenter.segment` (read, prepare, logits of every slice in batches of 16, threshold, map
 *     back, write the mask) with the model already open, as `segment` on a folder runs; rounds alternate
 *     the engines so machine noise hits both alike, and medians are reported;
 *   - export: `exportOnnx` of base + adapter (load, merge, encode, atomic write);
 *   - onnxruntime-web: the same .onnx in the browser app (`convlora app`'s server) in Debian's headless
 *     chromium, the scan uploaded and segmented in the page (decode, prepare, logits, threshold, map
 *     back, gzip the mask); the page's own timing, `rounds` times, after one warm-up that compiles the
 *     model. The page uses min(4, cores) wasm threads (cross-origin isolated). --no-web skips it.
 *   node dist/bench/onnx.js [--threads 2] [--rounds 3] [--size 256] [--no-web] [--out bench/results/onnx.json]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNifti } from '../src/data/nifti/index.js';
import { startAppServer } from '../src/app/server.js';
import { CHROMIUM, haveChromium, openAppPage } from '../test/helpers/browser.js';
import { loadavg, tmpdir } from 'node:os';
import { setThreads } from '../src/engine/runtime.js';
import { phantomVolume } from '../src/data/simulation/phantom.js';
import { writeNifti } from '../src/data/nifti/index.js';
import { axisCodes } from '../src/data/image/orientation.js';
import { exportOnnx } from '../src/pipeline/onnx/export.js';
import { Segmenter } from '../src/pipeline/infer/segment.js';
import type { Engine } from '../src/pipeline/onnx/session.js';
import { smallModelWithAdapter } from '../test/helpers/onnx.js';
import { machine, median, writeResult } from './common.js';

const { values } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string' }, size: { type: 'string' }, out: { type: 'string' }, 'no-web': { type: 'boolean' } } });
const threads = Number(values.threads ?? 2), rounds = Number(values.rounds ?? 3), size = Number(values.size ?? 256);
const dir = mkdtempSync(join(tmpdir(), 'convlora-bench-onnx-'));
try {
  setThreads(threads);
  const v = phantomVolume('GE_3', 0, { size, seed: 1 });
  const scan = join(dir, 'scan.nii.gz');
  await writeNifti(scan, { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data, ...(v.image.datatype === undefined ? {} : { datatype: v.image.datatype }) });
  const files = await smallModelWithAdapter(dir, { filters: 16, seed: 1, info: { size, spacing: v.image.spacing!.slice(0, 3), orientation: axisCodes(v.image.affine!) } });

  const onnx = join(dir, 'model.onnx');
  const exported = await exportOnnx({ model: files.base, adapter: files.adapter, out: onnx });
  const exportSeconds = [exported.seconds];
  for (let i = 1; i < rounds; i++) exportSeconds.push((await exportOnnx({ model: files.base, adapter: files.adapter, out: onnx })).seconds);

  const open = async (engine: Engine): Promise<{ seg: Segmenter; seconds: number }> => {
    const t0 = performance.now();
    const seg = await Segmenter.open(engine === 'torch' ? { model: files.base, adapter: files.adapter } : { model: onnx, engine, threads });
    return { seg, seconds: (performance.now() - t0) / 1000 };
  };
  const engines: Engine[] = ['torch', 'onnx'];
  const opened = { torch: await open('torch'), onnx: await open('onnx') };
  const times: Record<Engine, number[]> = { torch: [], onnx: [] };
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const e of r % 2 === 0 ? engines : [...engines].reverse()) {
      const t0 = performance.now();
      await opened[e].seg.segment(scan, join(dir, `mask-${e}.nii.gz`));
      times[e].push((performance.now() - t0) / 1000);
      loads.push(loadavg()[0]!);
    }
  }
  for (const e of engines) opened[e].seg.dispose();

  let web: { medianSeconds: number; seconds: number[]; threads: number; warmupSeconds: number; maskAgreesWithNode: boolean } | null = null;
  if (values['no-web'] !== true) {
    if (!haveChromium()) throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium, or pass --no-web`);
    const app = await startAppServer({ assets: join(dirname(fileURLToPath(import.meta.url)), '..', 'app'), port: 0, models: [{ id: 'bench', label: 'bench', bytes: readFileSync(onnx) }] });
    const page = await openAppPage(app.url);
    try {
      const warm = await page.segment(scan, 1_800_000);
      if (warm.state !== 'done') throw new Error(`the page failed: ${JSON.stringify(warm.error)}`);
      const nodeMask = Uint8Array.from((await readNifti(join(dir, 'mask-onnx.nii.gz'))).data);
      const seconds: number[] = [];
      for (let r = 0; r < rounds; r++) { seconds.push((await page.segment(scan, 1_800_000)).seconds); loads.push(loadavg()[0]!); }
      web = { medianSeconds: median(seconds), seconds, warmupSeconds: warm.seconds, threads: await page.page.evaluate(() => (window as unknown as { convlora: { threads: number } }).convlora.threads),
        maskAgreesWithNode: warm.mask.length === nodeMask.length && warm.mask.every((v, i) => v === nodeMask[i]) };
    } finally { await page.close(); await app.close(); }
  }
  const result = {
    date: new Date().toISOString(), machine: machine(), threads, rounds,
    scan: { dims: v.image.dims.slice(0, 3), spacing: v.image.spacing!.slice(0, 3), slices: v.image.dims[0] },
    model: { filters: 16, adapter: 'convlora all + adabn (random)' },
    export: { medianSeconds: median(exportSeconds), seconds: exportSeconds, bytes: statSync(onnx).size },
    open: { torchSeconds: opened.torch.seconds, onnxSeconds: opened.onnx.seconds },
    segment: { torchMedianSeconds: median(times.torch), onnxMedianSeconds: median(times.onnx), torch: times.torch, onnx: times.onnx,
      speedup: median(times.torch) / median(times.onnx) },
    web: web === null ? null : { ...web, torchOverWeb: median(times.torch) / web.medianSeconds, onnxNodeOverWeb: median(times.onnx) / web.medianSeconds },
    loadAverage: { min: Math.min(...loads), max: Math.max(...loads) },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (values.out !== undefined) writeResult(values.out, result);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

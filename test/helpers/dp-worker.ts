/**
 * One run of data-parallel training for test/pipeline/dist/data-parallel.test.ts, as a single process or as
 * one rank of several (the launch variables decide, as for the CLI). Rank 0 (or the single process)
 * writes what the test compares: the per-step losses and the resulting tensors, as JSON.
 *
 *   node dp-worker.js source DATA OUT_DIR RESULT.json EPOCHS BATCH LR
 *   node dp-worker.js adapt DATA UNET RESULT.json EPOCHS BATCH LR [implicit|explicit]
 *   node dp-worker.js esh DATA UNET RESULT.json EPOCHS BATCH LR      (train-esh; OUT beside RESULT.json)
 */
import { promises as fsp } from 'node:fs';
import { loadSafetensors } from '../../src/nn/safetensors.js';
import { trainSource } from '../../src/pipeline/train/source.js';
import { trainHead } from '../../src/pipeline/train/early-head.js';
import { join } from 'node:path';
import { adaptDomain } from '../../src/pipeline/train/adapt.js';
import { loadScans, openDomain } from '../../src/pipeline/train/dataset.js';
import { createHead, loadUnet } from '../../src/pipeline/models.js';
import { AdapterRegistry, disposeAdapter } from '../../src/lora/adapter.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { joinDataParallel, leaveDataParallel } from '../../src/pipeline/dist/parallel.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import type { Tensor } from '../../src/engine/tensor.js';

const [mode, data, where, result, epochsArg, batchArg, lrArg, adabnArg] = process.argv.slice(2) as [string, string, string, string, string, string, string, string | undefined];
const epochs = Number(epochsArg), batchSize = Number(batchArg), lr = Number(lrArg);
const losses: number[] = [];
const report = (e: PipelineEvent): void => { if (e.type === 'step') losses.push(e.loss); };
const arrays = (m: Map<string, Tensor>): Record<string, number[]> =>
  Object.fromEntries([...m].filter(([, t]) => t.dtype === 'float32').map(([k, t]) => [k, Array.from(t.data() as Float32Array)]));

// `node --test dist/test/` also loads this file, without arguments: nothing to run then.
if (mode !== undefined) await runWorker();

async function runWorker(): Promise<void> {
  const dp = joinDataParallel();
  let ok = false;
  try {
    let tensors: Record<string, number[]>;
    if (mode === 'source') {
      const r = await trainSource({ data, out: where, epochs, batchSize, lr, seed: 1, filters: 4, report, parallel: dp });
      tensors = dp === null || dp.main ? arrays((await loadSafetensors(r.checkpoint)).tensors) : {};
    } else if (mode === 'esh') {
      const r = await trainHead({ data, unet: where, out: result.replace(/\.json$/, ''), kind: 'esh', epochs, batchSize, lr, seed: 2, report, parallel: dp });
      tensors = dp === null || dp.main ? arrays((await loadSafetensors(join(result.replace(/\.json$/, ''), 'esh-run', `epoch-${String(r.history.length).padStart(4, '0')}.safetensors`))).tensors) : {};
    } else {
      const d = await openDomain(data, 'Philips_3', 'target');
      const train = await loadScans(d.split.train, d.info), val = await loadScans(d.split.val, d.info);
      const { model } = await loadUnet(where);
      manualSeed(5);
      const head = createHead('esh', 4);
      const registry = new AdapterRegistry(model);
      const r = await adaptDomain(registry, head, train, val, d.info, { target: 'Philips_3', method: 'convlora', adabn: adabnArg === 'explicit' ? 'explicit' : 'implicit', epochs, batchSize, lr, seed: 3, report, parallel: dp, select: 'last' });
      tensors = arrays(r.adapter.tensors);
      disposeAdapter(r.adapter);
      registry.dispose();
      head.dispose();
    }
    if (dp === null || dp.main) await fsp.writeFile(result, JSON.stringify({ losses, tensors, worldSize: dp?.worldSize ?? 1 }));
    ok = true;
  } finally { leaveDataParallel(dp, ok); }
}

/** Stage 4: per-volume Surface Dice and Dice of a model (optionally with a domain adapter) on a domain's split. */
import type { Device } from '../engine/tensor.js';
import type { Domain } from '../data/cc359.js';
import { aggregate, type AggregateRow, type CaseMetrics } from '../metrics/aggregate.js';
import { AdapterRegistry } from '../lora/adapter.js';
import { checkData, loadScans, openDomain } from './dataset.js';
import { loadUnet } from './models.js';
import { scoreScans, TOLERANCE_MM } from './score.js';

export interface EvaluateModelOptions {
  unet: string;
  adapter?: string;
  data: string;
  domain: Domain;
  split?: 'train' | 'val' | 'test';
  tolerance?: number;
  device?: Device;
  batchSize?: number;
}

export interface DomainEvaluation { domain: Domain; split: string; adapter: string | null; cases: CaseMetrics[]; summary: AggregateRow }

export async function evaluateModel(o: EvaluateModelOptions): Promise<DomainEvaluation> {
  const device = o.device ?? 'cpu';
  const split = o.split ?? 'test';
  await checkData(o.data, [o.domain]);
  const { model } = await loadUnet(o.unet, device);
  const registry = new AdapterRegistry(model);
  try {
    if (o.adapter !== undefined) {
      await registry.load(o.domain, o.adapter);
      registry.activate(o.domain, { merge: true });
    }
    const d = await openDomain(o.data, o.domain, o.domain === 'GE_3' ? 'source' : 'target');
    const scans = await loadScans(d.split[split], d.info);
    const cases = scoreScans(model, scans, device, o.batchSize ?? 32, o.tolerance ?? TOLERANCE_MM);
    return { domain: o.domain, split, adapter: o.adapter ?? null, cases, summary: aggregate(cases).overall };
  } finally {
    registry.dispose();
    model.dispose();
  }
}

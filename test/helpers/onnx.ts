// A small U-Net checkpoint and a ConvLoRA + AdaBN adapter for it, with nothing trivial in them: BatchNorm
// affine and running statistics random in the base, LoRA B matrices non-zero and every BatchNorm's
// statistics (and the adapted blocks' BN affine) moved again in the adapter. An export that skipped the
// adapter, a BN layer or a LoRA delta would give different logits.
import { join } from 'node:path';
import { UNet2D } from '../../src/models/unet.js';
import { BatchNorm2d } from '../../src/nn/layers.js';
import { applyPlacement, loraLayers, planPlacement } from '../../src/lora/placement.js';
import { AdapterRegistry, disposeAdapter, extractAdapter, saveAdapter, type AdapterConfig } from '../../src/lora/adapter.js';
import { loadUnet, saveNetwork, type ModelInfo } from '../../src/pipeline/models.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { randn, uniform } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy, type Tensor } from '../../src/engine/tensor.js';

const set = (t: Tensor, v: () => Tensor): void => { noGrad(() => tidy(() => { ops.copy_(t, v()); })); };

function shuffleBatchNorms(model: UNet2D, affine: 'all' | 'trainable'): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const c = [m.numFeatures];
    set(m.buffer('running_mean'), () => ops.mul(randn(c), 0.3));
    set(m.buffer('running_var'), () => uniform(c, 0.5, 2));
    const w = m.getParameter('weight')!, b = m.getParameter('bias')!;
    if (affine === 'trainable' && !w.requiresGrad) continue;
    set(w, () => uniform(c, 0.6, 1.4));
    set(b, () => ops.mul(randn(c), 0.2));
  }
}

export const DOMAIN = 'Philips_3';

/** Base checkpoint and adapter under `dir`; `info` overrides the checkpoint's description (size, orientation, spacing). */
export async function smallModelWithAdapter(dir: string, o: { filters: number; seed: number; info?: Partial<ModelInfo> }): Promise<{ base: string; adapter: string }> {
  manualSeed(o.seed);
  const model = new UNet2D({ filters: o.filters });
  try {
    shuffleBatchNorms(model, 'all');
    const base = join(dir, 'base.safetensors');
    await saveNetwork(base, model, { kind: 'unet2d', filters: o.filters, size: 32, source: 'GE_3', orientation: 'RAS', spacing: [8, 8, 8], ...o.info });
    const reg = new AdapterRegistry(model);
    try {
      const placement = planPlacement(model, 'convlora', 'all');
      applyPlacement(model, placement, 'target');
      for (const [, l] of loraLayers(model)) set(l.adapter('target').b, () => ops.mul(randn(l.adapter('target').b.shape), 0.1));
      shuffleBatchNorms(model, 'trainable');
      const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: DOMAIN, method: 'convlora', blocks: 'all',
        lora: { rank: 2, alpha: 2, layout: 'loralib' }, placement, adabn: 'explicit', baseHash: reg.baseHash };
      const a = extractAdapter(model, config);
      const adapter = join(dir, 'adapter.safetensors');
      try { await saveAdapter(adapter, a); } finally { disposeAdapter(a); }
      return { base, adapter };
    } finally { reg.dispose(); }
  } finally { model.dispose(); }
}

/**
 * A ConvLoRA + AdaBN adapter for the checkpoint at `model`, as adaptation might leave it: LoRA B
 * N(0, scale^2), BatchNorm means shifted by N(0, scale^2), variances scaled by up to 1 +- scale.
 */
export async function fakeAdapterFor(model: string, out: string, o: { seed: number; scale: number }): Promise<void> {
  const { model: net } = await loadUnet(model);
  const reg = new AdapterRegistry(net);
  try {
    manualSeed(o.seed);
    const placement = planPlacement(net, 'convlora', 'all');
    applyPlacement(net, placement, 'target');
    for (const [, l] of loraLayers(net)) set(l.adapter('target').b, () => ops.mul(randn(l.adapter('target').b.shape), o.scale));
    for (const [, m] of net.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const c = [m.numFeatures];
      set(m.buffer('running_mean'), () => ops.add(m.buffer('running_mean'), ops.mul(randn(c), o.scale)));
      set(m.buffer('running_var'), () => ops.mul(m.buffer('running_var'), uniform(c, 1 - o.scale, 1 + o.scale)));
    }
    const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: DOMAIN, method: 'convlora', blocks: 'all',
      lora: { rank: 2, alpha: 2, layout: 'loralib' }, placement, adabn: 'explicit', baseHash: reg.baseHash };
    const a = extractAdapter(net, config);
    try { await saveAdapter(out, a); } finally { disposeAdapter(a); }
  } finally {
    reg.dispose();
    net.dispose();
  }
}

/** LoRA layers as ONNX nodes: one Conv with the weight the layer's forward uses (W, or W + delta when unmerged). */
import * as ops from '../engine/ops.js';
import { noGrad } from '../engine/runtime.js';
import { tidy } from '../engine/tensor.js';
import { emitConv, emitter, type EmitterEntry } from '../nn/onnx-layers.js';
import { LoRAConv2d } from './convlora.js';

export const LORA_EMITTERS: EmitterEntry[] = [
  emitter(LoRAConv2d, (m, x, path, ex) => {
    const hint = `${path}.weight`;
    // Merged (or no adapter active): the base weight already is what forward() convolves with.
    if (m.activeAdapter === null || m.merged) return emitConv(ex, m.base, x, path, ex.weight(m.base.weight, hint));
    const w = noGrad(() => tidy(() => ops.add(m.base.weight, m.delta()).toFloat32()));
    return emitConv(ex, m.base, x, path, ex.graph.initializer(hint, m.base.weight.shape, w));
  }),
];

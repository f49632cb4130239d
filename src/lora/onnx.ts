/** LoRA layers as ONNX nodes: one Conv with the weight the layer's forward uses (W, or W + delta when unmerged). */
import * as ops from '../engine/ops.js';
import { noGrad } from '../engine/runtime.js';
import { tidy } from '../engine/tensor.js';
import { emitConv, emitConvTranspose, emitter, type EmitterEntry } from '../nn/onnx-layers.js';
import { LoRAConv2d, LoRAConvTranspose2d, type LoRAConvLayer } from './convlora.js';

/** The weight a LoRA layer's forward convolves with, as an initializer: the base weight when merged or inactive, else W + delta. */
function effectiveWeight(m: LoRAConvLayer, path: string, ex: Parameters<typeof emitConv>[0]): string {
  const hint = `${path}.weight`;
  if (m.activeAdapter === null || m.merged) return ex.weight(m.base.weight, hint);
  const w = noGrad(() => tidy(() => ops.add(m.base.weight, m.delta()).toFloat32()));
  return ex.graph.initializer(hint, m.base.weight.shape, w);
}

export const LORA_EMITTERS: EmitterEntry[] = [
  emitter(LoRAConv2d, (m, x, path, ex) => emitConv(ex, m.base, x, path, effectiveWeight(m, path, ex))),
  emitter(LoRAConvTranspose2d, (m, x, path, ex) => emitConvTranspose(ex, m.base, x, path, effectiveWeight(m, path, ex))),
];

/**
 * UNet2D as an ONNX graph, node for node as UNet2D.forward (unet.ts) runs:
 *   PreActivation2d  BatchNormalization -> Relu -> Conv (the child `layer`, whatever module it is now)
 *   ResBlock2d       Add(conv_path(x), x)
 *   down blocks      BatchNormalization -> Conv 2x2 stride 2 -> Relu -> three ResBlocks
 *   up blocks        three ResBlocks -> BatchNormalization -> ConvTranspose 2x2 stride 2 -> Relu
 *   skips            Add(up, Conv 1x1 (shortcut) of the encoder output)
 * Input `image` [batch, 1, height, width], output `logits` [batch, out, height, width]; batch, height and
 * width are symbolic: any batch, and any height and width divisible by UNET_DIVISOR.
 */
import { ConvLoraError } from '../errors.js';
import { OnnxExporter, emitter, type EmitterEntry } from '../nn/onnx-layers.js';
import { ADABN_LAYERS_KEY, type OnnxValueInfo } from '../nn/onnx.js';
export { ADABN_LAYERS_KEY };
import { PreActivation2d, ResBlock2d, UNet2D } from './unet.js';


/** Three 2x2 stride-2 downsamplings: height and width must be multiples of 8. */
export const UNET_DIVISOR = 8;

const UNET_EMITTERS: EmitterEntry[] = [
  emitter(PreActivation2d, (m, x, path, ex) => {
    const bn = ex.emitChild(m, 'bn', x, path);
    const act = ex.emitChild(m, 'activation', bn, path);
    return ex.emitChild(m, 'layer', act, path);
  }),
  emitter(ResBlock2d, (m, x, path, ex) => ex.graph.node('Add', [ex.emitChild(m, 'conv_path', x, path), x], {}, `${path}.add`)),
  emitter(UNet2D, (m, x, path, ex) => {
    const c = (name: string, v: string): string => ex.emitChild(m, name, v, path);
    const add = (a: string, b: string, hint: string): string => ex.graph.node('Add', [a, b], {}, hint);
    // forwardFeatures: x0..x3 down, then up3, up2(y + shortcut2(x2)), up1(y + shortcut1(x1)), out_path(y + shortcut0(x0)).
    const x0 = c('init_path', x);
    const x1 = c('down1', x0);
    const x2 = c('down2', x1);
    const x3 = c('down3', x2);
    let y = c('up3', x3);
    y = c('up2', add(y, c('shortcut2', x2), 'skip2'));
    y = c('up1', add(y, c('shortcut1', x1), 'skip1'));
    return c('out_path', add(y, c('shortcut0', x0), 'skip0'));
  }),
];

/**
 * Encode `model` (in eval mode) as an ONNX model with `metadata` as its metadata_props. `extra` maps
 * further module classes (a LoRA wrapper) to nodes. Throws E_INVALID_ARG for a module without a mapping
 * or a BatchNorm layer in training mode.
 */
export function unetToOnnx(model: UNet2D, o: { metadata: Record<string, string>; extra?: readonly EmitterEntry[]; version: string; statistics?: boolean }): Uint8Array {
  if (model.training) throw new ConvLoraError('E_INVALID_ARG', 'Expected a U-Net in eval mode for ONNX export but received one in training mode; call model.eval() first');
  const ex = new OnnxExporter([...UNET_EMITTERS, ...(o.extra ?? [])], { batchStats: o.statistics === true });
  const input: OnnxValueInfo = { name: ex.graph.name('image'), dims: ['batch', 1, 'height', 'width'] };
  const logits = ex.emit(model, input.name, '');
  // Name the graph output `logits`: an Identity keeps every internal name as the exporter chose it.
  const output = ex.graph.node('Identity', [logits], {}, 'logits');
  const outC = (model.getModule('out_path.2') as { numFeatures?: number }).numFeatures ?? 1;
  const stats = ex.batchStats ?? [];
  const metadata = stats.length === 0 ? o.metadata : { ...o.metadata, [ADABN_LAYERS_KEY]: JSON.stringify(stats.map((s) => ({ ...s, runningMean: `${s.path}.running_mean`, runningVar: `${s.path}.running_var` }))) };
  return ex.graph.encode({
    input, output: { name: output, dims: ['batch', outC, 'height', 'width'] },
    extraOutputs: stats.flatMap((s) => [{ name: s.mean, dims: [1, s.channels, 1, 1] }, { name: s.var, dims: [1, s.channels, 1, 1] }]),
    graphName: `convlora UNet2D (${model.filters} filters)${stats.length === 0 ? '' : ', batch statistics'}`, producer: 'convlora', version: o.version, metadata,
    doc: `Residual U-Net (DART20) logits; height and width must be multiples of ${UNET_DIVISOR}; mask = logits > 0.`,
  });
}

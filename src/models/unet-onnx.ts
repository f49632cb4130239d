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
import { emitter, type EmitterEntry } from '../nn/onnx-layers.js';
import type { SegmentationNet } from './spec.js';
import { ADABN_LAYERS_KEY } from '../nn/onnx.js';
import { networkToOnnx, type OnnxExportOptions } from './onnx-net.js';
export { ADABN_LAYERS_KEY };
import { PreActivation2d, ResBlock2d, UNet2D } from './unet.js';


/** Three 2x2 stride-2 downsamplings: height and width must be multiples of 8. */
export const UNET_DIVISOR = 8;

export const UNET_EMITTERS: EmitterEntry[] = [
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
 * Encode the paper's U-Net (in eval mode) as ONNX: networkToOnnx with the U-Net's emitters. Other zoo
 * networks: modelToOnnx (models/zoo.ts), which takes the emitters from the model's spec.
 */
export function unetToOnnx(model: SegmentationNet, o: OnnxExportOptions): Uint8Array {
  if (!(model instanceof UNet2D)) throw new ConvLoraError('E_INVALID_ARG', `Expected the paper's UNet2D for \`model\` but received a ${model.constructor.name}; export other zoo networks with modelToOnnx`);
  const outChannels = (model.getModule('out_path.2') as { numFeatures?: number }).numFeatures ?? 1;
  return networkToOnnx(model, { emitters: UNET_EMITTERS, outChannels, filters: model.filters, title: 'Residual U-Net (DART20)', divisor: UNET_DIVISOR }, o);
}

/**
 * A plain U-Net in the style of Ronneberger et al. (2015), with BatchNorm: blocks of two 3x3 convs
 * (padding 1, no bias: BatchNorm follows) each with BatchNorm and ReLU; max pooling 2x2 down; a 2x2
 * stride-2 transposed conv (halving the channels) up, concatenated with the encoder feature of that
 * size, then two 3x3 convs; a 1x1 conv to the logits. Three down-samplings (not the original four), so
 * that inputs are multiples of 8 as for the paper's U-Net and the ESH reads the encoder output at 1/8.
 * Channels n, 2n, 4n, 8n for `filters` n. Module paths: `inc.0` (first conv), `down1.conv.3` (second
 * conv of the first down block), `up1.up` (transposed conv), `outc`.
 */
import { checkInt } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, MaxPool2d, NamedSequential, ReLU, Sequential } from '../nn/layers.js';
import { ConcatUNet, UpConcat, concatUNetEmitter, type ConcatUNetLayout } from './concat-unet.js';
import { convKernelAbove1, type ModelOptions, type ModelSpec } from './spec.js';

/** conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU (children '0'..'5'). */
function doubleConv(cin: number, cout: number, d: { device?: Device }): Sequential {
  return new Sequential(
    new Conv2d(cin, cout, 3, { padding: 1, bias: false, ...d }), new BatchNorm2d(cout, d), new ReLU(),
    new Conv2d(cout, cout, 3, { padding: 1, bias: false, ...d }), new BatchNorm2d(cout, d), new ReLU());
}

export class PlainUNet extends ConcatUNet {
  readonly layout: ConcatUNetLayout = { encoder: ['inc', 'down1', 'down2', 'down3'], decoder: ['up3', 'up2', 'up1'], head: 'outc' };

  constructor(o: ModelOptions = {}) {
    super(o.filters ?? 16);
    const n = this.filters;
    const cin = checkInt('inChannels', o.inChannels ?? 1, 1);
    const cout = checkInt('outChannels', o.outChannels ?? 1, 1);
    const d = o.device === undefined ? {} : { device: o.device };
    const down = (c: number): Module => new NamedSequential([['pool', new MaxPool2d(2)], ['conv', doubleConv(c, 2 * c, d)]]);
    // Up from 2c channels: transposed conv to c, concatenated with the c-channel skip, two convs 2c -> c.
    const up = (c: number): UpConcat => new UpConcat(['up', new ConvTranspose2d(2 * c, c, 2, { stride: 2, bias: true, ...d })], ['conv', doubleConv(2 * c, c, d)]);
    this.registerModule('inc', doubleConv(cin, n, d));
    this.registerModule('down1', down(n));
    this.registerModule('down2', down(2 * n));
    this.registerModule('down3', down(4 * n));
    this.registerModule('up3', up(4 * n));
    this.registerModule('up2', up(2 * n));
    this.registerModule('up1', up(n));
    this.registerModule('outc', new Conv2d(n, cout, 1, { bias: true, ...d }));
  }
}

export const PLAIN_UNET: ModelSpec = {
  arch: 'unet',
  title: 'Plain U-Net (Ronneberger et al. style, with BatchNorm)',
  defaultFilters: 16,
  create: (o = {}) => new PlainUNet(o),
  owns: (m): m is PlainUNet => m instanceof PlainUNet,
  encoderBlocks: ['inc', 'down1', 'down2', 'down3'],
  statisticsBlocks: ['inc', 'down1'],
  // Every 3x3 conv of the adapted blocks (there are no other convs in the encoder).
  loraTarget: convKernelAbove1,
  // Every BatchNorm of the adapted blocks (each follows a conv that gets LoRA).
  adaptedBatchNorm: () => true,
  udasBlock: 'inc',
  taps: { udas: { feature: 'x0', channels: (f) => f, stride: 1 }, esh: { feature: 'x3', channels: (f) => 8 * f, stride: 8 } },
  divisor: 8,
  onnxEmitters: [concatUNetEmitter(PlainUNet)],
  outChannels: (m) => (m.getModule('outc') as Conv2d).outChannels,
};

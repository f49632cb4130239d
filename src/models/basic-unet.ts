/**
 * A network in the manner of MONAI's BasicUNet (2D), with BatchNorm: every block is "TwoConv", two
 * conv3x3 (with bias) -> BatchNorm -> LeakyReLU(0.1) units; "Down" is max pooling 2x2 then TwoConv;
 * "UpCat" up-samples with a 2x2 stride-2 transposed conv (with bias; halving the channels except in the
 * last one), concatenates the encoder feature of that size and runs TwoConv; a 1x1 conv makes the logits.
 * Features (f0, f1, f2, f3, f_out) = (n, n, 2n, 4n, n) for `filters` n: MONAI's default (32, 32, 64, 128,
 * 256, 32) with one down-sampling fewer, so inputs are multiples of 8 as for the paper's U-Net. Module
 * paths follow MONAI's: `conv_0.conv_0.conv`, `down_1.convs.conv_1.adn.N`, `upcat_1.upsample.deconv`, `final_conv`.
 * Dropout (MONAI's default 0) is left out.
 */
import { checkInt } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, MaxPool2d, NamedSequential } from '../nn/layers.js';
import { ConcatUNet, UpConcat, concatUNetEmitter, type ConcatUNetLayout } from './concat-unet.js';
import { convKernelAbove1, type ModelOptions, type ModelSpec } from './spec.js';

/** MONAI's slope for BasicUNet's LeakyReLU. */
const SLOPE = 0.1;

/** conv3x3 (bias) -> adn (N: BatchNorm, A: LeakyReLU), twice: children conv_0, conv_1. */
function twoConv(cin: number, cout: number, d: { device?: Device }): NamedSequential {
  const unit = (i: number): NamedSequential => new NamedSequential([
    ['conv', new Conv2d(i, cout, 3, { padding: 1, bias: true, ...d })],
    ['adn', new NamedSequential([['N', new BatchNorm2d(cout, d)], ['A', new LeakyReLU(SLOPE)]])],
  ]);
  return new NamedSequential([['conv_0', unit(cin)], ['conv_1', unit(cout)]]);
}

export class BasicUNet extends ConcatUNet {
  readonly layout: ConcatUNetLayout = { encoder: ['conv_0', 'down_1', 'down_2', 'down_3'], decoder: ['upcat_3', 'upcat_2', 'upcat_1'], head: 'final_conv' };

  constructor(o: ModelOptions = {}) {
    super(o.filters ?? 16);
    const n = this.filters;
    const cin = checkInt('inChannels', o.inChannels ?? 1, 1);
    const cout = checkInt('outChannels', o.outChannels ?? 1, 1);
    const d = o.device === undefined ? {} : { device: o.device };
    const [f0, f1, f2, f3, f4] = [n, n, 2 * n, 4 * n, n];
    const down = (a: number, b: number): NamedSequential => new NamedSequential([['max_pooling', new MaxPool2d(2)], ['convs', twoConv(a, b, d)]]);
    // UpCat(in, cat, out, halves): deconv in -> up (in / 2 when halving), TwoConv(cat + up -> out).
    const upcat = (cIn: number, cCat: number, cOut: number, halves: boolean): UpConcat => {
      const cUp = halves ? cIn / 2 : cIn;
      return new UpConcat(['upsample', new NamedSequential([['deconv', new ConvTranspose2d(cIn, cUp, 2, { stride: 2, bias: true, ...d })]])],
        ['convs', twoConv(cCat + cUp, cOut, d)]);
    };
    this.registerModule('conv_0', twoConv(cin, f0, d));
    this.registerModule('down_1', down(f0, f1));
    this.registerModule('down_2', down(f1, f2));
    this.registerModule('down_3', down(f2, f3));
    this.registerModule('upcat_3', upcat(f3, f2, f2, true));
    this.registerModule('upcat_2', upcat(f2, f1, f1, true));
    this.registerModule('upcat_1', upcat(f1, f0, f4, false));
    this.registerModule('final_conv', new Conv2d(f4, cout, 1, { bias: true, ...d }));
  }
}

export const BASIC_UNET: ModelSpec = {
  arch: 'basic-unet',
  title: 'MONAI-BasicUNet-like network (BatchNorm, LeakyReLU 0.1)',
  defaultFilters: 16,
  create: (o = {}) => new BasicUNet(o),
  owns: (m): m is BasicUNet => m instanceof BasicUNet,
  encoderBlocks: ['conv_0', 'down_1', 'down_2', 'down_3'],
  statisticsBlocks: ['conv_0', 'down_1'],
  loraTarget: convKernelAbove1,
  adaptedBatchNorm: () => true,
  udasBlock: 'conv_0',
  taps: { udas: { feature: 'x0', channels: (f) => f, stride: 1 }, esh: { feature: 'x3', channels: (f) => 4 * f, stride: 8 } },
  divisor: 8,
  onnxEmitters: [concatUNetEmitter(BasicUNet)],
  outChannels: (m) => (m.getModule('final_conv') as Conv2d).outChannels,
};

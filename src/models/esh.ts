/**
 * Early segmentation heads (docs/method.md §2).
 * - EarlySegHead (ConvLoRA): reads the encoder output x3 [B, 128, H/8, W/8];
 *   Conv3x3(128->12)+BN+ReLU -> Conv3x3(12->8)+BN+ReLU -> Conv3x3(8->1), all convs with bias;
 *   logits upsampled x8 bilinearly (align_corners false). 14,821 parameters at 16 filters.
 * - UdasHead (UDAS baseline): reads init_path's x0 [B, 16, H, W]; Conv(16->12)+ReLU ->
 *   Conv(12->8)+ReLU -> Conv(8->1), no BN: 2,685 parameters.
 */
import * as ops from '../engine/ops.js';
import type { Device, Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../nn/layers.js';

export class EarlySegHead extends Module {
  readonly upscale: number;

  constructor(inChannels = 128, o: { upscale?: number; device?: Device } = {}) {
    super();
    const d = o.device === undefined ? {} : { device: o.device };
    this.upscale = o.upscale ?? 8;
    this.registerModule('head', new Sequential(
      new Conv2d(inChannels, 12, 3, { padding: 1, bias: true, ...d }), new BatchNorm2d(12, d), new ReLU(),
      new Conv2d(12, 8, 3, { padding: 1, bias: true, ...d }), new BatchNorm2d(8, d), new ReLU(),
      new Conv2d(8, 1, 3, { padding: 1, bias: true, ...d })));
  }

  /** x3 [B, 128, h, w] -> logits [B, 1, h * 8, w * 8] */
  forward(x3: Tensor): Tensor {
    const low = this.child('head')!.forward(x3);
    const [, , h, w] = x3.shape as [number, number, number, number];
    return ops.interpolateBilinear(low, [h * this.upscale, w * this.upscale], false);
  }
}

export class UdasHead extends Module {
  constructor(inChannels = 16, o: { device?: Device } = {}) {
    super();
    const d = o.device === undefined ? {} : { device: o.device };
    this.registerModule('head', new Sequential(
      new Conv2d(inChannels, 12, 3, { padding: 1, bias: true, ...d }), new ReLU(),
      new Conv2d(12, 8, 3, { padding: 1, bias: true, ...d }), new ReLU(),
      new Conv2d(8, 1, 3, { padding: 1, bias: true, ...d })));
  }

  /** x0 [B, 16, H, W] -> logits [B, 1, H, W] */
  forward(x0: Tensor): Tensor { return this.child('head')!.forward(x0); }
}

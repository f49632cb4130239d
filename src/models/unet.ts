/**
 * The residual U-Net of DART20 (docs/method.md §1), with PyTorch's module paths so checkpoints
 * load by name: `init_path.2.conv_path.0.layer.weight` is the conv of the first pre-activation of the
 * first ResBlock. Dropout slots are Identity modules, kept so the indices match.
 * With 16 initial filters: 2,434,771 parameters.
 */
import { checkInt, invalidArg } from '../errors.js';
import * as ops from '../engine/ops.js';
import { tidy, type Device, type Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Identity, ReLU, Sequential } from '../nn/layers.js';
import type { SegmentationNet } from './spec.js';

/** BN(in) -> ReLU -> Conv k x k (padding k // 2). Children: bn, activation, layer. */
export class PreActivation2d extends Module {
  readonly bn: BatchNorm2d;
  readonly layer: Conv2d;

  constructor(inC: number, outC: number, kernelSize: number, o: { bias?: boolean; device?: Device } = {}) {
    super();
    const dev = o.device === undefined ? {} : { device: o.device };
    this.bn = this.registerModule('bn', new BatchNorm2d(inC, dev));
    this.registerModule('activation', new ReLU());
    this.layer = this.registerModule('layer', new Conv2d(inC, outC, kernelSize, { padding: Math.floor(kernelSize / 2), bias: o.bias ?? true, ...dev }));
  }

  forward(x: Tensor): Tensor {
    // Look the conv up by name: a LoRA wrapper may have replaced it.
    return this.child('layer')!.forward(ops.relu(this.bn.forward(x)));
  }
}

/** x + PreAct(PreAct(x)) with identity skip (in == out, stride 1). Children: conv_path. */
export class ResBlock2d extends Module {
  constructor(channels: number, kernelSize = 3, o: { device?: Device } = {}) {
    super();
    this.registerModule('conv_path', new Sequential(
      new PreActivation2d(channels, channels, kernelSize, { bias: false, ...o }),
      new PreActivation2d(channels, channels, kernelSize, { bias: false, ...o }),
    ));
  }

  forward(x: Tensor): Tensor { return ops.add(this.child('conv_path')!.forward(x), x); }
}

export interface UNetOptions { inChannels?: number; outChannels?: number; filters?: number; device?: Device }

/** Names of the encoder blocks, in order (the adaptable part of the network). */
export const ENCODER_BLOCKS = ['init_path', 'down1', 'down2', 'down3'] as const;
export type EncoderBlock = (typeof ENCODER_BLOCKS)[number];

/**
 * Encoder blocks whose BatchNorm inputs fingerprint a scanner (adapter choice, `segment` warnings):
 * the full- and half-resolution blocks, where image contrast still shows and which cost the least to
 * run; deeper blocks respond to anatomy more than to the scanner.
 */
export const STATISTICS_BLOCKS: readonly EncoderBlock[] = ['init_path', 'down1'];

/** A type alias, not an interface, so that it is a `Features` (spec.ts) with taps x0 and x3. */
export type UNetFeatures = { logits: Tensor; x0: Tensor; x3: Tensor };

export class UNet2D extends Module implements SegmentationNet {
  readonly filters: number;

  constructor(o: UNetOptions = {}) {
    super();
    const n = checkInt('filters', o.filters ?? 16, 1);
    const cin = checkInt('inChannels', o.inChannels ?? 1, 1);
    const cout = checkInt('outChannels', o.outChannels ?? 1, 1);
    this.filters = n;
    const d = o.device === undefined ? {} : { device: o.device };
    const res = (c: number, k = 3): ResBlock2d => new ResBlock2d(c, k, d);
    this.registerModule('init_path', new Sequential(
      new Conv2d(cin, n, 3, { padding: 1, bias: false, ...d }), new ReLU(), res(n), res(n), res(n)));
    this.registerModule('shortcut0', new Conv2d(n, n, 1, { bias: true, ...d }));
    const down = (c: number, last: boolean): Sequential => {
      const layers: Module[] = [new BatchNorm2d(c, d), new Conv2d(c, 2 * c, 2, { stride: 2, bias: false, ...d }), new ReLU(),
        new Identity(), res(2 * c), res(2 * c), res(2 * c)];
      if (last) layers.push(new Identity());
      return new Sequential(...layers);
    };
    this.registerModule('down1', down(n, false));
    this.registerModule('shortcut1', new Conv2d(2 * n, 2 * n, 1, { bias: true, ...d }));
    this.registerModule('down2', down(2 * n, false));
    this.registerModule('shortcut2', new Conv2d(4 * n, 4 * n, 1, { bias: true, ...d }));
    this.registerModule('down3', down(4 * n, true));
    const up = (c: number): Sequential => new Sequential(res(c), res(c), res(c), new BatchNorm2d(c, d),
      new ConvTranspose2d(c, c / 2, 2, { stride: 2, bias: false, ...d }), new ReLU(), new Identity());
    this.registerModule('up3', up(8 * n));
    this.registerModule('up2', up(4 * n));
    this.registerModule('up1', up(2 * n));
    this.registerModule('out_path', new Sequential(res(n, 1), new PreActivation2d(n, cout, 1, { bias: true, ...d }), new BatchNorm2d(cout, d)));
  }

  /** Logits and the features the early segmentation heads read: x0 (init_path, full size) and x3 (encoder output, 1/8). */
  forwardFeatures(x: Tensor): UNetFeatures {
    const m = (name: string): Module => this.child(name)!;
    const x0 = m('init_path').forward(x);
    const x1 = m('down1').forward(x0);
    const x2 = m('down2').forward(x1);
    const x3 = m('down3').forward(x2);
    // Decoder steps in their own scopes, each releasing the previous step's output once consumed (see Sequential).
    const step = (prev: Tensor, f: () => Tensor): Tensor => { const out = tidy(f); prev.dispose(); return out; };
    let y = m('up3').forward(x3);
    y = step(y, () => m('up2').forward(ops.add(y, m('shortcut2').forward(x2))));
    y = step(y, () => m('up1').forward(ops.add(y, m('shortcut1').forward(x1))));
    const logits = step(y, () => m('out_path').forward(ops.add(y, m('shortcut0').forward(x0))));
    x1.dispose();
    x2.dispose();
    return { logits, x0, x3 };
  }

  /** The first `blocks` encoder blocks only (ENCODER_BLOCKS order): x [B, 1, H, W] -> their output. */
  encode(x: Tensor, blocks: number): Tensor {
    const n = checkInt('blocks', blocks, 1);
    if (n > ENCODER_BLOCKS.length) invalidArg('blocks', `integer <= ${ENCODER_BLOCKS.length}`, blocks);
    let y = x;
    for (const name of ENCODER_BLOCKS.slice(0, n)) {
      const prev = y;
      y = this.child(name)!.forward(prev);
      if (prev !== x) prev.dispose();
    }
    return y;
  }

  /** x [B, 1, H, W] with H, W divisible by 8 -> logits [B, 1, H, W]. */
  forward(x: Tensor): Tensor { return this.forwardFeatures(x).logits; }
}

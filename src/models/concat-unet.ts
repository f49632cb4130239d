/**
 * What the zoo's concatenation U-Nets share (models/plain-unet.ts, models/basic-unet.ts): three encoder
 * blocks after a first one, each halving the size (max pooling), and three decoder blocks that
 * up-sample with a 2x2 stride-2 transposed conv and concatenate the encoder feature of that size
 * (skip first, as both reference designs do) before their convs; a 1x1 conv makes the logits.
 *   x0 = enc0(x)          [B, c0, H, W]         (the UDAS head's tap)
 *   x1..x3 = enc1..enc3   [B, ci, H/2^i, W/2^i] (x3: the ESH's tap, the encoder output at 1/8)
 *   y = dec3(x3, x2), dec2(y, x1), dec1(y, x0); logits = head(y) [B, out, H, W]
 */
import * as ops from '../engine/ops.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import { emitter, join, type EmitterEntry, type OnnxExporter } from '../nn/onnx-layers.js';
import { ConvLoraError, checkInt, invalidArg } from '../errors.js';
import type { Features, SegmentationNet } from './spec.js';

/**
 * A decoder block: `up` (the transposed conv, or a module around it) then `convs` over [skip, up(x)]
 * concatenated on channels. Child names differ per design (`up`/`conv`, `upsample`/`convs`).
 */
export class UpConcat extends Module {
  readonly upName: string;
  readonly convName: string;

  constructor(up: [string, Module], convs: [string, Module]) {
    super();
    [this.upName, this.convName] = [up[0], convs[0]];
    this.registerModule(up[0], up[1]);
    this.registerModule(convs[0], convs[1]);
  }

  /** x [B, Cin, h, w], skip [B, Cs, 2h, 2w] -> convs(cat([skip, up(x)], 1)). */
  fuse(x: Tensor, skip: Tensor): Tensor {
    const u = this.child(this.upName)!.forward(x);
    return this.child(this.convName)!.forward(ops.cat([skip, u], 1));
  }

  forward(): Tensor {
    throw new ConvLoraError('E_INVALID_ARG', 'A decoder block needs the skip feature: call fuse(x, skip)');
  }
}

/** The encoder and decoder block names of a concatenation U-Net, in forward order. */
export interface ConcatUNetLayout { encoder: readonly [string, string, string, string]; decoder: readonly [string, string, string]; head: string }

export abstract class ConcatUNet extends Module implements SegmentationNet {
  readonly filters: number;
  abstract readonly layout: ConcatUNetLayout;

  constructor(filters: number) {
    super();
    this.filters = checkInt('filters', filters, 1);
  }

  forwardFeatures(x: Tensor): Features {
    const { encoder: [e0, e1, e2, e3], decoder: [d3, d2, d1], head } = this.layout;
    const m = (name: string): Module => this.child(name)!;
    const up = (name: string): UpConcat => this.child(name) as UpConcat;
    const x0 = m(e0).forward(x);
    const x1 = m(e1).forward(x0);
    const x2 = m(e2).forward(x1);
    const x3 = m(e3).forward(x2);
    // Decoder steps in their own scopes, each releasing the previous step's output once consumed (as UNet2D).
    const step = (prev: Tensor, f: () => Tensor): Tensor => { const out = tidy(f); prev.dispose(); return out; };
    let y = tidy(() => up(d3).fuse(x3, x2));
    y = step(y, () => up(d2).fuse(y, x1));
    y = step(y, () => up(d1).fuse(y, x0));
    const logits = step(y, () => m(head).forward(y));
    x1.dispose();
    x2.dispose();
    return { logits, x0, x3 };
  }

  encode(x: Tensor, blocks: number): Tensor {
    const enc = this.layout.encoder;
    const n = checkInt('blocks', blocks, 1);
    if (n > enc.length) invalidArg('blocks', `integer <= ${enc.length}`, blocks);
    let y = x;
    for (const name of enc.slice(0, n)) {
      const prev = y;
      y = this.child(name)!.forward(prev);
      if (prev !== x) prev.dispose();
    }
    return y;
  }

  /** x [B, in, H, W] with H, W divisible by 8 -> logits [B, out, H, W]. */
  forward(x: Tensor): Tensor {
    const f = this.forwardFeatures(x);
    f.x0!.dispose();
    f.x3!.dispose();
    return f.logits;
  }
}

function emitUp(ex: OnnxExporter, m: UpConcat, x: string, skip: string, path: string): string {
  const u = ex.emitChild(m, m.upName, x, path);
  return ex.emitChild(m, m.convName, ex.graph.node('Concat', [skip, u], { axis: 1 }, `${path}.cat`), path);
}

/** The ONNX emitter of a concatenation U-Net class: the nodes of forwardFeatures' logits path. */
export function concatUNetEmitter(cls: abstract new (...args: never[]) => ConcatUNet): EmitterEntry {
  return emitter(cls, (m, x, path, ex) => {
    const { encoder: [e0, e1, e2, e3], decoder: [d3, d2, d1], head } = m.layout;
    const c = (name: string, v: string): string => ex.emitChild(m, name, v, path);
    const up = (name: string, v: string, skip: string): string => emitUp(ex, m.child(name) as UpConcat, v, skip, join(path, name));
    const x0 = c(e0, x);
    const x1 = c(e1, x0);
    const x2 = c(e2, x1);
    const x3 = c(e3, x2);
    return c(head, up(d1, up(d2, up(d3, x3, x2), x1), x0));
  });
}

/**
 * Where adapters go and what trains, for a zoo network (its spec, models/zoo.ts, names the blocks, convs
 * and BatchNorms); for the paper's U-Net (docs/method.md §3 table):
 * - 'udas': no LoRA; all of the first encoder block (init_path) trains (14,160).
 * - 'convlora' with blocks '1' (= 'udas-convlora'), '1-2', '1-3', 'all': LoRA on every conv the spec
 *   targets in the adapted encoder blocks (U-Net: kernel > 1, the 3x3 convs and the stride-2 2x2 convs),
 *   plus the gamma/beta of the BatchNorms the spec adapts there (U-Net: inside the ResBlocks, not the
 *   leading BN of a down block): 3,954 / 11,634 / 26,994 / 57,714 at rank 2.
 * - any other network: injectAdapters, by name pattern (PEFT's target_modules).
 */
import { ConvLoraError, describe } from '../errors.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d } from '../nn/layers.js';
import { DEFAULT_ARCH, modelSpec, specOf, type ModelSpec } from '../models/zoo.js';
import { LoRAConv2d, LoRAConvLayer, loraConfig, loraLayerFor, PAPER_LORA, type LoraConfig } from './convlora.js';

export type Method = 'udas' | 'udas-convlora' | 'convlora';
export const METHODS: readonly Method[] = ['udas', 'udas-convlora', 'convlora'];
export type Blocks = '1' | '1-2' | '1-3' | 'all';
export const BLOCK_CHOICES: readonly Blocks[] = ['1', '1-2', '1-3', 'all'];

export interface Placement {
  /** Module paths of the convs that get a LoRA adapter. */
  loraTargets: string[];
  /** Module paths of BatchNorm layers whose affine parameters train. */
  trainableBatchNorms: string[];
  /** Module paths whose every parameter trains (the UDAS baseline). */
  fullyTrainable: string[];
}

export function checkMethod(m: unknown): Method {
  if (typeof m !== 'string' || !(METHODS as readonly string[]).includes(m)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${METHODS.join(', ')} for \`method\` but received ${describe(m)}`);
  }
  return m as Method;
}

export function checkBlocks(b: unknown): Blocks {
  if (typeof b !== 'string' || !(BLOCK_CHOICES as readonly string[]).includes(b)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${BLOCK_CHOICES.join(', ')} for \`blocks\` but received ${describe(b)}`);
  }
  return b as Blocks;
}

/** The encoder block names adapted for a blocks choice ('all': every encoder block of the spec). */
export function encoderBlocks(blocks: Blocks, spec: ModelSpec = modelSpec(DEFAULT_ARCH)): string[] {
  const n = { '1': 1, '1-2': 2, '1-3': 3, all: spec.encoderBlocks.length }[blocks];
  return spec.encoderBlocks.slice(0, n);
}

const isConvTarget = (m: Module): boolean => (m instanceof Conv2d && m.kernelSize > 1) || m instanceof LoRAConv2d;
/** A module injectAdapters can wrap: a Conv2d or ConvTranspose2d, or a LoRA layer already around one. */
const isLoraable = (m: Module): boolean => m instanceof Conv2d || m instanceof ConvTranspose2d || m instanceof LoRAConvLayer;
const within = (path: string, block: string): boolean => path === block || path.startsWith(`${block}.`);

/**
 * Placement of a method on a zoo network (its spec from specOf; E_INVALID_ARG for other networks);
 * `blocks` applies to 'convlora' ('udas-convlora' is blocks '1').
 */
export function planPlacement(model: Module, method: Method, blocks: Blocks = 'all'): Placement {
  const spec = specOf(model);
  checkMethod(method);
  if (method === 'udas') return { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [spec.udasBlock] };
  const adapted = encoderBlocks(method === 'udas-convlora' ? '1' : checkBlocks(blocks), spec);
  const inside = (p: string): boolean => adapted.some((b) => within(p, b));
  const mods = model.namedModules();
  return {
    // A conv already wrapped (an earlier adapter) is judged by its base conv.
    loraTargets: mods.filter(([p, m]) => inside(p) && spec.loraTarget(p, m instanceof LoRAConvLayer ? m.base : m)).map(([p]) => p),
    trainableBatchNorms: mods.filter(([p, m]) => m instanceof BatchNorm2d && inside(p) && spec.adaptedBatchNorm(p)).map(([p]) => p),
    fullyTrainable: [],
  };
}

/**
 * Convs selected by a pattern: a RegExp tested against full module paths, or a list where each entry
 * matches a path exactly or as a dotted suffix (PEFT's target_modules). Only convs with kernel > 1.
 */
export function targetsByPattern(model: Module, pattern: RegExp | string[]): string[] {
  const match = (p: string): boolean => (pattern instanceof RegExp ? pattern.test(p) : pattern.some((s) => p === s || p.endsWith(`.${s}`)));
  const out = model.namedModules().filter(([p, m]) => p !== '' && isConvTarget(m) && match(p)).map(([p]) => p);
  if (out.length === 0) throw new ConvLoraError('E_INVALID_ARG', `No conv with kernel > 1 matches the target pattern ${describe(pattern instanceof RegExp ? String(pattern) : pattern)}`);
  return out;
}

export interface InjectOptions {
  /**
   * Which Conv2d and ConvTranspose2d layers get LoRA (PEFT's target_modules): a RegExp over module paths,
   * or names matched exactly or as a dotted suffix. Any kernel size (1x1 included), stride, padding,
   * dilation and groups ('peft' layout: groups 1).
   */
  targetModules: RegExp | string[];
  /** LoRA rank (default 2, the paper's). */
  rank?: number;
  /** LoRA alpha (default: the rank, so alpha / rank = 1). */
  alpha?: number;
  layout?: LoraConfig['layout'];
  /**
   * BatchNorm layers whose gamma/beta train with the adapters (their statistics are the domain's too):
   * true every BatchNorm2d, false none (default), or a pattern as `targetModules`.
   */
  trainBatchNorm?: boolean | RegExp | string[];
  /** Adapter name (default 'default'). */
  name?: string;
}

/**
 * ConvLoRA for any network (PEFT's inject_adapter_in_model): freeze `model`, wrap the Conv2d and
 * ConvTranspose2d layers that `targetModules` selects in LoRA layers with a fresh adapter, and unfreeze
 * the chosen BatchNorms' affine parameters. Returns the placement (what extractAdapter / AdapterConfig record, and what the registry
 * replays on a fresh copy of the model) and the LoRA config. E_INVALID_ARG when nothing matches.
 */
export function injectAdapters(model: Module, o: InjectOptions): { placement: Placement; lora: LoraConfig; layers: LoRAConvLayer[] } {
  const lora = loraConfig(o);
  const matcher = (pattern: RegExp | string[]) => (p: string): boolean => (pattern instanceof RegExp ? pattern.test(p) : pattern.some((s) => p === s || p.endsWith(`.${s}`)));
  const isTarget = matcher(o.targetModules);
  const mods = model.namedModules();
  const loraTargets = mods.filter(([p, m]) => p !== '' && isLoraable(m) && isTarget(p)).map(([p]) => p);
  if (loraTargets.length === 0) {
    throw new ConvLoraError('E_INVALID_ARG', `No Conv2d matches \`targetModules\` ${describe(o.targetModules instanceof RegExp ? String(o.targetModules) : o.targetModules)} (nor does any ConvTranspose2d)`);
  }
  const tb = o.trainBatchNorm ?? false;
  const isBn = typeof tb === 'boolean' ? (): boolean => tb : matcher(tb);
  const trainableBatchNorms = mods.filter(([p, m]) => m instanceof BatchNorm2d && isBn(p)).map(([p]) => p);
  if (tb !== false && tb !== true && trainableBatchNorms.length === 0) {
    throw new ConvLoraError('E_INVALID_ARG', `No BatchNorm2d matches \`trainBatchNorm\` ${describe(tb instanceof RegExp ? String(tb) : tb)}`);
  }
  const placement: Placement = { loraTargets, trainableBatchNorms, fullyTrainable: [] };
  const layers = applyPlacement(model, placement, o.name ?? 'default', lora);
  return { placement, lora, layers };
}

/**
 * Freeze the model, wrap each LoRA target (once) and add adapter `name`, and unfreeze what the
 * placement trains. Returns the LoRA layers.
 */
export function applyPlacement(model: Module, placement: Placement, name = 'default', cfg: LoraConfig = PAPER_LORA): LoRAConvLayer[] {
  model.freeze();
  const layers: LoRAConvLayer[] = [];
  for (const path of placement.loraTargets) {
    const m = model.getModule(path);
    let layer: LoRAConvLayer;
    if (m instanceof LoRAConvLayer) layer = m;
    else if (m instanceof Conv2d || m instanceof ConvTranspose2d) { layer = loraLayerFor(m); model.setModule(path, layer); }
    else throw new ConvLoraError('E_INVALID_ARG', `Module at ${path} is not a Conv2d or ConvTranspose2d`);
    if (layer.adapterNames.includes(name)) layer.setActive(name);
    else layer.addAdapter(name, cfg);
    layers.push(layer);
  }
  for (const path of placement.trainableBatchNorms) {
    for (const [, t] of model.getModule(path).ownParameters()) t.requiresGrad = true;
  }
  for (const path of placement.fullyTrainable) model.getModule(path).unfreeze();
  return layers;
}

/** LoRA layers of a model with their paths. */
export function loraLayers(model: Module): [string, LoRAConvLayer][] {
  return model.namedModules().filter((e): e is [string, LoRAConvLayer] => e[1] instanceof LoRAConvLayer);
}

export interface ParamSummary { trainableParams: number; totalParams: number; trainablePercent: number }

export function paramSummary(model: Module): ParamSummary {
  const totalParams = model.countParameters();
  const trainableParams = model.countParameters(true);
  return { trainableParams, totalParams, trainablePercent: (100 * trainableParams) / totalParams };
}

/** PEFT's line: `trainable params: 57,714 || all params: 2,489,... || trainable%: 2.3185` */
export function formatSummary(s: ParamSummary): string {
  const f = (n: number): string => n.toLocaleString('en-US');
  return `trainable params: ${f(s.trainableParams)} || all params: ${f(s.totalParams)} || trainable%: ${s.trainablePercent.toFixed(4)}`;
}

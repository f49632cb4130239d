/**
 * Where adapters go and what trains (convlora-method.md §3 table):
 * - 'udas': no LoRA; all of init_path trains (14,160).
 * - 'convlora' with blocks '1' (= 'udas-convlora'), '1-2', '1-3', 'all': LoRA on every conv with a
 *   kernel > 1 (the 3x3 convs and the stride-2 2x2 convs) of the adapted encoder blocks, plus the
 *   gamma/beta of the BatchNorms inside those blocks' ResBlocks (not the leading BN of a down block):
 *   3,954 / 11,634 / 26,994 / 57,714 at rank 2. Never ConvTranspose or the 1x1 shortcuts.
 * - a name pattern (RegExp over module paths, or a list of names/suffixes like PEFT's target_modules).
 */
import { ConvLoraError, describe } from '../errors.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d } from '../nn/layers.js';
import { ENCODER_BLOCKS } from '../models/unet.js';
import { LoRAConv2d, PAPER_LORA, type LoraConfig } from './convlora.js';

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

/** The encoder block names adapted for a blocks choice. */
export function encoderBlocks(blocks: Blocks): string[] {
  const n = { '1': 1, '1-2': 2, '1-3': 3, all: 4 }[blocks];
  return ENCODER_BLOCKS.slice(0, n);
}

const isConvTarget = (m: Module): boolean => (m instanceof Conv2d && m.kernelSize > 1) || m instanceof LoRAConv2d;
const within = (path: string, block: string): boolean => path === block || path.startsWith(`${block}.`);

/** Placement of a method; `blocks` applies to 'convlora' ('udas-convlora' is blocks '1'). */
export function planPlacement(model: Module, method: Method, blocks: Blocks = 'all'): Placement {
  if (method === 'udas') return { loraTargets: [], trainableBatchNorms: [], fullyTrainable: ['init_path'] };
  const adapted = encoderBlocks(method === 'udas-convlora' ? '1' : blocks);
  const mods = model.namedModules();
  return {
    loraTargets: mods.filter(([p, m]) => isConvTarget(m) && adapted.some((b) => within(p, b))).map(([p]) => p),
    trainableBatchNorms: mods.filter(([p, m]) => m instanceof BatchNorm2d && p.includes('.conv_path.') && adapted.some((b) => within(p, b))).map(([p]) => p),
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

/**
 * Freeze the model, wrap each LoRA target (once) and add adapter `name`, and unfreeze what the
 * placement trains. Returns the LoRA layers.
 */
export function applyPlacement(model: Module, placement: Placement, name = 'default', cfg: LoraConfig = PAPER_LORA): LoRAConv2d[] {
  model.freeze();
  const layers: LoRAConv2d[] = [];
  for (const path of placement.loraTargets) {
    const m = model.getModule(path);
    let layer: LoRAConv2d;
    if (m instanceof LoRAConv2d) layer = m;
    else if (m instanceof Conv2d) { layer = new LoRAConv2d(m); model.setModule(path, layer); }
    else throw new ConvLoraError('E_INVALID_ARG', `Module at ${path} is not a Conv2d`);
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
export function loraLayers(model: Module): [string, LoRAConv2d][] {
  return model.namedModules().filter((e): e is [string, LoRAConv2d] => e[1] instanceof LoRAConv2d);
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

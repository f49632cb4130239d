/**
 * A zoo network as an ONNX graph: one input `image` [batch, 1, height, width] (batch, height and width
 * symbolic), the logits as output `logits`, and, for a statistics graph, every BatchNorm's batch mean and
 * variance after it. The nodes come from emitters (nn/onnx-layers.ts for plain layers, the architecture's
 * own for its blocks), walking the module tree as forward() does.
 */
import { ConvLoraError } from '../errors.js';
import { OnnxExporter, type EmitterEntry } from '../nn/onnx-layers.js';
import { ADABN_LAYERS_KEY, type OnnxValueInfo } from '../nn/onnx.js';
import type { Module } from '../nn/module.js';

export interface NetworkGraph {
  /** The architecture's emitters (the network class itself included). */
  emitters: readonly EmitterEntry[];
  outChannels: number;
  filters: number;
  /** A line for the graph's doc string, e.g. 'Residual U-Net (DART20)'. */
  title: string;
  divisor: number;
}

export interface OnnxExportOptions { metadata: Record<string, string>; extra?: readonly EmitterEntry[]; version: string; statistics?: boolean }

/**
 * Encode `model` (in eval mode) as an ONNX model with `metadata` as its metadata_props. `extra` maps
 * further module classes (a LoRA wrapper) to nodes. Throws E_INVALID_ARG for a module without a mapping
 * or a BatchNorm layer in training mode.
 */
export function networkToOnnx(model: Module, net: NetworkGraph, o: OnnxExportOptions): Uint8Array {
  const cls = model.constructor.name;
  if (model.training) throw new ConvLoraError('E_INVALID_ARG', `Expected a ${cls} in eval mode for ONNX export but received one in training mode; call model.eval() first`);
  const ex = new OnnxExporter([...net.emitters, ...(o.extra ?? [])], { batchStats: o.statistics === true });
  const input: OnnxValueInfo = { name: ex.graph.name('image'), dims: ['batch', 1, 'height', 'width'] };
  const logits = ex.emit(model, input.name, '');
  // Name the graph output `logits`: an Identity keeps every internal name as the exporter chose it.
  const output = ex.graph.node('Identity', [logits], {}, 'logits');
  const stats = ex.batchStats ?? [];
  const metadata = stats.length === 0 ? o.metadata : { ...o.metadata, [ADABN_LAYERS_KEY]: JSON.stringify(stats.map((s) => ({ ...s, runningMean: `${s.path}.running_mean`, runningVar: `${s.path}.running_var` }))) };
  return ex.graph.encode({
    input, output: { name: output, dims: ['batch', net.outChannels, 'height', 'width'] },
    extraOutputs: stats.flatMap((s) => [{ name: s.mean, dims: [1, s.channels, 1, 1] }, { name: s.var, dims: [1, s.channels, 1, 1] }]),
    graphName: `convlora ${cls} (${net.filters} filters)${stats.length === 0 ? '' : ', batch statistics'}`, producer: 'convlora', version: o.version, metadata,
    doc: `${net.title} logits; height and width must be multiples of ${net.divisor}; mask = logits > 0.`,
  });
}

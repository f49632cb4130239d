/**
 * ONNX models from TypeScript: a small graph builder (float32 initializers, nodes with int/float
 * attributes), the ModelProto encoding (onnx-proto's protobuf classes) and a checked decoding. Knows
 * no network: models/*-onnx.ts say which nodes a forward is.
 * Why IR 8 with opset 17: opset 17 is the first with LayerNormalization and is read by every
 * onnxruntime from 1.13 on; IR 8 is the newest IR that onnx-proto 8 (ONNX 1.10's schema) can write,
 * and the IR that ONNX itself pairs with opset 17.
 */
import onnxProto from 'onnx-proto';
import { ConvLoraError } from '../errors.js';

const { onnx } = onnxProto;
type ModelProto = InstanceType<typeof onnx.ModelProto>;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/** An attribute value: an integer (INT), integers (INTS), or `{ float }` (FLOAT, even when the value is whole). */
export type OnnxAttr = number | readonly number[] | { float: number };

/** A dimension of a graph input/output: a size or a symbolic name ('batch'). */
export type OnnxDim = number | string;

export interface OnnxValueInfo { name: string; dims: readonly OnnxDim[] }

/**
 * Metadata key of a statistics graph (`statistics: true`): JSON list of its BatchNorm layers, each with
 * the output names of its batch mean and unbiased variance and the initializer names of the inference
 * graph's running statistics they re-estimate (test-time AdaBN outside libtorch, pipeline/onnx/adabn.ts).
 */
export const ADABN_LAYERS_KEY = 'convlora.adabn_layers';

/** Nodes and initializers of one graph, each value named uniquely. */
export class OnnxGraph {
  readonly #nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly #inits: InstanceType<typeof onnx.TensorProto>[] = [];
  readonly #names = new Set<string>();
  #counter = 0;

  /** A fresh value name derived from `hint` (module paths make readable graphs). */
  name(hint: string): string {
    let n = hint === '' ? `v${this.#counter++}` : hint;
    while (this.#names.has(n)) n = `${hint}_${this.#counter++}`;
    this.#names.add(n);
    return n;
  }

  /** A float32 constant of shape `dims` (row-major data, copied), returned by name. */
  initializer(hint: string, dims: readonly number[], data: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new ConvLoraError('E_SHAPE', `Initializer ${hint}: shape [${dims.join(', ')}] holds ${size} values but received ${data.length}`);
    const name = this.name(hint);
    // raw_data is little-endian; Float32Array is in host order, little-endian on every platform Node runs on.
    const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.#inits.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }));
    return name;
  }

  /** Add a node with one output; returns the output's name. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, OnnxAttr> = {}, hint = opType.toLowerCase()): string {
    const out = this.name(hint);
    const attribute = Object.entries(attrs).map(([name, v]) => attribute_(name, v));
    this.#nodes.push(onnx.NodeProto.create({ opType, input: [...inputs], output: [out], name: out, attribute }));
    return out;
  }

  /** Encode as a model with one float32 input and output (and, for a statistics graph, further outputs after it). */
  encode(o: { input: OnnxValueInfo; output: OnnxValueInfo; extraOutputs?: readonly OnnxValueInfo[]; graphName: string; producer: string; version: string; metadata: Record<string, string>; doc?: string }): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: o.graphName, node: this.#nodes, initializer: this.#inits,
      input: [valueInfo(o.input)], output: [valueInfo(o.output), ...(o.extraOutputs ?? []).map(valueInfo)],
    });
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION, opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: o.producer, producerVersion: o.version, docString: o.doc ?? '', graph,
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  get nodeCount(): number { return this.#nodes.length; }
}

function attribute_(name: string, v: OnnxAttr): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ConvLoraError('E_INVALID_ARG', `Expected an integer for ONNX attribute \`${name}\` (or { float }) but received ${v}`);
    return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  }
  if ('float' in v) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
  if (!v.every((x) => Number.isInteger(x))) throw new ConvLoraError('E_INVALID_ARG', `Expected integers for ONNX attribute \`${name}\` but received [${v.join(', ')}]`);
  return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...v] });
}

function valueInfo(v: OnnxValueInfo): InstanceType<typeof onnx.ValueInfoProto> {
  const dim = v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ValueInfoProto.create({ name: v.name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } });
}

/** What convlora reads back from an ONNX file: its metadata, I/O names, and its size in nodes and weights. */
export interface OnnxSummary {
  metadata: Record<string, string>;
  opset: number;
  input: string;
  /** The first output (the logits). */
  output: string;
  /** Every output, the first included (a statistics graph has more). */
  outputs: string[];
  nodes: number;
  initializers: number;
}

/**
 * Decode and check an ONNX model (one graph input and output, default-domain opset). Throws E_ONNX
 * naming `what` for bytes that are not a protobuf ModelProto or a graph convlora cannot use.
 */
export function readOnnxSummary(bytes: Uint8Array, what = 'ONNX model', o: { statistics?: boolean } = {}): OnnxSummary {
  let m: ModelProto;
  try { m = onnx.ModelProto.decode(bytes); } catch (err) {
    throw new ConvLoraError('E_ONNX', `${what} is not an ONNX model (protobuf decoding failed: ${(err as Error).message})`, { cause: err });
  }
  const g = m.graph;
  const nodes = g?.node ?? [], inits = g?.initializer ?? [], outputs = g?.output ?? [];
  const opset = m.opsetImport.find((o) => (o.domain ?? '') === '')?.version;
  if (nodes.length === 0) throw new ConvLoraError('E_ONNX', `${what} is not an ONNX model: it has no graph nodes`);
  if (opset === undefined || opset === null) throw new ConvLoraError('E_ONNX', `${what} has no default-domain opset import`);
  // Initializers may also be listed as graph inputs (older exporters); only the others are real inputs.
  const initNames = new Set(inits.map((t) => t.name ?? ''));
  const inputs = (g?.input ?? []).filter((i) => !initNames.has(i.name ?? ''));
  if (inputs.length !== 1 || (o.statistics === true ? outputs.length < 2 : outputs.length !== 1)) {
    const want = o.statistics === true ? 'statistics outputs after the logits' : 'one output';
    throw new ConvLoraError('E_ONNX', `Expected one input and ${want} in ${what} but received ${inputs.length} inputs and ${outputs.length} outputs`);
  }
  return {
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key ?? '', p.value ?? ''])),
    opset: Number(opset), input: inputs[0]!.name ?? '', output: outputs[0]!.name ?? '', outputs: outputs.map((x) => x.name ?? ''), nodes: nodes.length, initializers: inits.length,
  };
}

import { ConvLoraError } from '../../errors.js';
import { exportOnnx, mergeCheckpoint } from '../../pipeline/onnx/export.js';
import { stringOpt, type Command } from '../command.js';
import { COMMON_OPTIONS, setupDevice, applyConfig } from '../pipeline-opts.js';

/** Both commands read a model, an adapter and an output path. */
const MODEL_ADAPTER_OUT = { ...COMMON_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } } as const;

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a U-Net (with its domain adapter merged in) as an ONNX graph for onnxruntime (Node, web)',
  usage: 'convlora export --model unet.safetensors [--adapter A.safetensors] --out model.onnx [--json]',
  options: MODEL_ADAPTER_OUT,
  async run(v0, _p, io) {
    const v = applyConfig('export', v0, this.options);
    const device = setupDevice(v);
    const model = stringOpt(v, 'model', true), adapter = stringOpt(v, 'adapter'), out = stringOpt(v, 'out', true);
    if (!out.endsWith('.onnx')) throw new ConvLoraError('E_USAGE', `--out must name an .onnx file but received ${JSON.stringify(out)}`);
    const r = await exportOnnx({ model, ...(adapter === undefined ? {} : { adapter }), out, device });
    if (v.json === true) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(`${r.out}\n`);
      if (r.statistics !== null) io.stdout.write(`${r.statistics}\n`);
      if (v.quiet !== true) {
        const m = r.metadata;
        io.stderr.write(`exported ${adapter === undefined ? 'the base model' : `base + adapter (${m['convlora.domain']})`}: ${(r.bytes / 1024).toFixed(0)} KiB, ${r.seconds.toFixed(2)} s; `
          + `opset 17, input image [batch, 1, H, W] (H, W multiples of ${m['convlora.input_divisor']}), slices ${m['convlora.slice_size']} px, voxel size ${m['convlora.voxel_size_mm']} mm, orientation ${m['convlora.orientation']}\n`);
      }
    }
    return 0;
  },
};

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Write base model + domain adapter as one plain U-Net checkpoint (segment --model takes it)',
  usage: 'convlora merge --model unet.safetensors --adapter A.safetensors --out merged.safetensors [--json]',
  options: MODEL_ADAPTER_OUT,
  async run(v0, _p, io) {
    const v = applyConfig('merge', v0, this.options);
    const device = setupDevice(v);
    const model = stringOpt(v, 'model', true), adapter = stringOpt(v, 'adapter', true), out = stringOpt(v, 'out', true);
    const r = await mergeCheckpoint({ model, adapter, out, device });
    if (v.json === true) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(`${r.out}\n`);
      if (v.quiet !== true) io.stderr.write(`merged the ${r.domain} adapter into ${r.tensors} tensors; adapters of the base model do not apply to it\n`);
    }
    return 0;
  },
};

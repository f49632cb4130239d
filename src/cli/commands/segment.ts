import { segmentFile } from '../../pipeline/segment.js';
import { stringOpt, type Command } from '../command.js';
import { COMMON_OPTIONS, setupDevice, applyConfig } from '../pipeline-opts.js';

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'Brain mask of any T1 NIfTI on its own grid and affine (optionally with a domain adapter)',
  usage: 'convlora segment --model unet.safetensors [--adapter A.safetensors] --in scan.nii.gz --out mask.nii.gz [--prob] [--no-reorient] [--device cpu|cuda] [--json]',
  options: { ...COMMON_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, prob: { type: 'boolean' }, 'no-reorient': { type: 'boolean' } },
  async run(v0, _p, io) {
    const v = applyConfig('segment', v0, this.options);
    const device = setupDevice(v);
    const adapter = stringOpt(v, 'adapter');
    const r = await segmentFile({
      model: stringOpt(v, 'model', true), ...(adapter === undefined ? {} : { adapter }), input: stringOpt(v, 'in', true),
      output: stringOpt(v, 'out', true), prob: v.prob === true, device, reorient: v['no-reorient'] !== true,
    });
    if (v.json === true) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(`${r.output}\n`);
      const o = r.orientation;
      if (o.reoriented) io.stderr.write(`orientation: input ${o.input}, turned to the model's ${o.model} and back (axes permuted/flipped, no resampling)\n`);
      else if (o.model === null) io.stderr.write(`orientation: the model does not record its training orientation; the input (${o.input ?? 'unknown'}) is used as stored\n`);
      io.stderr.write(`brain: ${r.brainVoxels} voxels, ${r.brainMl.toFixed(1)} ml; ${r.seconds.toFixed(1)} s\n`);
    }
    return 0;
  },
};

import { segmentFile } from '../../pipeline/segment.js';
import { stringOpt, type Command } from '../command.js';
import { COMMON_OPTIONS, setupDevice, applyConfig } from '../pipeline-opts.js';

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'Brain mask of any T1 NIfTI on its own grid and affine (optionally with a domain adapter)',
  usage: 'convlora segment --model unet.safetensors [--adapter A.safetensors] --in scan.nii.gz --out mask.nii.gz [--prob] [--device cpu|cuda] [--json]',
  options: { ...COMMON_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, prob: { type: 'boolean' } },
  async run(v0, _p, io) {
    const v = applyConfig('segment', v0, this.options);
    const device = setupDevice(v);
    const adapter = stringOpt(v, 'adapter');
    const r = await segmentFile({
      model: stringOpt(v, 'model', true), ...(adapter === undefined ? {} : { adapter }), input: stringOpt(v, 'in', true),
      output: stringOpt(v, 'out', true), prob: v.prob === true, device,
    });
    if (v.json === true) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(`${r.output}\n`);
      io.stderr.write(`brain: ${r.brainVoxels} voxels, ${r.brainMl.toFixed(1)} ml; ${r.seconds.toFixed(1)} s\n`);
    }
    return 0;
  },
};

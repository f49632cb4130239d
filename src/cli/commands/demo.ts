import type { Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Phantom data -> source U-Net -> ESH -> adapt to five scanners -> Table 1 (not yet available)',
  usage: 'convlora demo [--full]',
  options: { full: { type: 'boolean' } },
  async run(_values, _pos, io) {
    io.stderr.write(
      'convlora demo will: generate a six-scanner phantom dataset, train the source U-Net on GE_3, train the\n' +
      'early segmentation head, adapt to the five other scanners with ConvLoRA + AdaBN, and print Table 1.\n' +
      'The end-to-end pipeline has not landed yet; this command currently only describes the plan.\n',
    );
    return 1;
  },
};

import { renderColumns } from '../../metrics/format.js';
import { bidsScanners } from '../../pipeline/scans.js';
import type { Command } from '../command.js';
import { ConvLoraError } from '../../errors.js';

export const scannersCommand: Command = {
  name: 'scanners',
  summary: 'List the scanner groups of a BIDS dataset (from its T1w sidecars): key, scans, voxel sizes, orientations',
  usage: [
    'convlora scanners DIR [--by-sequence] [--json]',
    '',
    'DIR is a BIDS dataset: sub-*/[ses-*/]anat/*_T1w.nii[.gz] with JSON sidecars (inherited from a top-level',
    'T1w.json down). Scans are grouped by Manufacturer, ManufacturersModelName and MagneticFieldStrength',
    '(key e.g. Siemens_Prisma_3T; --by-sequence adds SequenceName, else PulseSequenceType). A key is what',
    '`adapt --bids DIR --scanner KEY` and `evaluate --bids DIR --scanner KEY` take.',
  ].join('\n'),
  options: { 'by-sequence': { type: 'boolean' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals, io) {
    if (positionals.length !== 1) throw new ConvLoraError('E_USAGE', `Expected one BIDS dataset folder but received ${positionals.length} arguments\nUsage: ${this.usage.split('\n')[0]}`);
    const root = positionals[0]!;
    const groups = await bidsScanners(root, values['by-sequence'] === true ? { sequence: true } : {});
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify({ root, scanners: groups }, null, 2)}\n`);
    } else {
      io.stdout.write(`${renderColumns(['scanner', 'scans', 'voxel sizes (mm)', 'orientations'],
        groups.map((g) => [g.key, String(g.scans), g.voxelSizes.join(', '), g.orientations.join(', ')]))}\n`);
    }
    return 0;
  },
};

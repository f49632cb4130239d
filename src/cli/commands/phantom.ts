import { ConvLoraError } from '../../errors.js';
import { CC359_DOMAINS, isDomain } from '../../data/scans/cc359.js';
import { DEFAULT_PHANTOM_SIZE, PHANTOM_ANATOMIES, generatePhantomDataset, type PhantomAnatomy } from '../../data/simulation/phantom.js';
import { SCANNER_MODELS, type ScannerModel } from '../../data/simulation/physics-scanners.js';
import { Progress } from '../progress.js';
import { numberOpt, stringOpt, type Command } from '../command.js';

export const phantomCommand: Command = {
  name: 'phantom',
  summary: 'Write a seeded six-scanner phantom dataset (heads + brain masks) in the CC359 layout',
  usage: `convlora phantom --out DIR [--size N=${DEFAULT_PHANTOM_SIZE}] [--volumes K=10] [--seed S=0] [--domains ${CC359_DOMAINS.join(',')}] [--scanners physics|levels] [--anatomy procedural|colin27] [--workers N=cores, at most 8] [--json]`,
  options: {
    out: { type: 'string' }, size: { type: 'string' }, volumes: { type: 'string' }, seed: { type: 'string' },
    domains: { type: 'string' }, workers: { type: 'string' }, scanners: { type: 'string' }, anatomy: { type: 'string' }, json: { type: 'boolean' },
  },
  async run(values, _pos, io) {
    const out = stringOpt(values, 'out', true);
    const size = numberOpt(values, 'size', DEFAULT_PHANTOM_SIZE, { integer: true, min: 16 });
    const volumes = numberOpt(values, 'volumes', 10, { integer: true, min: 1 });
    const seed = numberOpt(values, 'seed', 0, { integer: true, min: 0 });
    const domains = (stringOpt(values, 'domains') ?? CC359_DOMAINS.join(',')).split(',').map((d) => d.trim()).filter((d) => d !== '');
    const bad = domains.find((d) => !isDomain(d));
    if (bad !== undefined || domains.length === 0) {
      throw new ConvLoraError('E_USAGE', `Expected --domains from ${CC359_DOMAINS.join(',')} but received ${JSON.stringify(bad ?? '')}`);
    }
    // physics: intensities from tissue relaxation and each scanner's sequence; levels: the calibrated presets (the demo's).
    const scanners = stringOpt(values, 'scanners') ?? 'physics';
    if (!(SCANNER_MODELS as readonly string[]).includes(scanners)) {
      throw new ConvLoraError('E_USAGE', `Expected --scanners ${SCANNER_MODELS.join('|')} but received ${JSON.stringify(scanners)}`);
    }
    // procedural: the shapes of phantom-anatomy.ts; colin27: the real Colin27 head, rotated, scaled and deformed.
    const anatomy = stringOpt(values, 'anatomy') ?? 'procedural';
    if (!(PHANTOM_ANATOMIES as readonly string[]).includes(anatomy)) {
      throw new ConvLoraError('E_USAGE', `Expected --anatomy ${PHANTOM_ANATOMIES.join('|')} but received ${JSON.stringify(anatomy)}`);
    }
    const workers = values.workers === undefined ? undefined : numberOpt(values, 'workers', 1, { integer: true, min: 1 });
    const progress = new Progress(io.stderr, 'phantom', domains.length * volumes);
    const started = Date.now();
    const manifest = await generatePhantomDataset(out, { size, volumes, seed, domains, scanners: scanners as ScannerModel, anatomy: anatomy as PhantomAnatomy, ...(workers === undefined ? {} : { workers }), onProgress: (done, total, stem) => { if (done < total) progress.update(done, stem); } });
    progress.done(`${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (values.json === true) io.stdout.write(`${JSON.stringify({ out, ...manifest }, null, 2)}\n`);
    else io.stdout.write(`${out}\n`);
    return 0;
  },
};

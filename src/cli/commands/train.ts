import { ConvLoraError } from '../../errors.js';
import { SOURCE_DEFAULTS, SOURCE_OPTIONS, trainSource } from '../../pipeline/train/source.js';
import { HEAD_DEFAULTS, HEAD_OPTIONS, trainHead } from '../../pipeline/train/early-head.js';
import { HEADS_OPTIONS, trainOnHeads } from '../../pipeline/train/source-heads.js';
import { defaultsOf, type NumberOption } from '../../options.js';
import { simulatedSet, type RandomizedBatching } from '../../pipeline/train/randomized.js';
import { ANATOMY_KINDS, type AnatomyKind } from '../../data/simulation/simulated-subjects.js';
import { Progress } from '../progress.js';
import { architectures, DEFAULT_ARCH, modelSpec } from '../../models/zoo.js';

import { numberOpt, stringOpt, tableOpt, type Command } from '../command.js';
import { applyConfig, COMMON_OPTIONS, progressReporter, setupDevice, cliDomain, withDataParallel } from '../pipeline-opts.js';

const TRAIN_OPTIONS = {
  ...COMMON_OPTIONS, data: { type: 'string' }, out: { type: 'string' }, source: { type: 'string' }, epochs: { type: 'string' },
  'batch-size': { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' }, resume: { type: 'boolean' }, tolerance: { type: 'string' },
} as const;

const S = SOURCE_DEFAULTS, H = HEAD_DEFAULTS, HD = defaultsOf(HEADS_OPTIONS);

export const trainSourceCommand: Command = {
  name: 'train-source',
  summary: `Train the U-Net on the labelled source domain (${S.source}): Adam ${S.lr.toExponential()}, batch ${S.batchSize}, BCE, ${S.epochs} epochs`,
  usage: `convlora train-source --data DIR --out DIR [--arch ${architectures().join('|')}] [--source ${S.source}] [--epochs ${S.epochs}] [--batch-size ${S.batchSize}] [--lr ${S.lr.toExponential()}] [--seed ${S.seed}] [--filters 16] [--tolerance ${S.tolerance}] [--device cpu|cuda] [--resume] [--config FILE] [--json]\n`
    + '       convlora train-source --randomize --out DIR [--anatomy colin27,procedural] [--subjects 40] [--val-subjects 8] [--voxel 2] [--slices N per subject and epoch] [--batches per-image|mixed] [--epochs E] ...   (domain randomization on simulated subjects, no data needed)\n'
    + `       convlora train-source --heads DIR --out DIR [--views 1|3] [--slices N per view, head and epoch] [--synth-share ${HD.synthShare}] [--voxel ${HD.voxel}] [--adabn-slices ${HD.adabnSlices}] [--epochs ${HD.epochs}] [--batch-size ${HD.batchSize}] [--lr ${HD.lr.toExponential()}] ...   (real labelled heads: DIR/t1, DIR/mask, DIR/labels; split and selection in docs/real-heads-split.md)\n`
    + '       any form: [--ema DECAY] (validate and keep an exponential moving average of the weights, e.g. 0.995) [--init unet.safetensors] (fine-tune from these weights)',
  options: { ...TRAIN_OPTIONS, arch: { type: 'string' }, filters: { type: 'string' }, randomize: { type: 'boolean' }, anatomy: { type: 'string' }, subjects: { type: 'string' }, 'val-subjects': { type: 'string' }, voxel: { type: 'string' }, slices: { type: 'string' }, batches: { type: 'string' }, ema: { type: 'string' }, init: { type: 'string' }, heads: { type: 'string' }, views: { type: 'string' }, 'synth-share': { type: 'string' }, 'adabn-slices': { type: 'string' } },
  async run(v0, _p, io) {
    // One rank of a data-parallel job when launched as one (torchrun, srun, `convlora launch`).
    return withDataParallel(io, async (dp) => {
      const v = applyConfig('train-source', v0, this.options);
      const main = dp === null || dp.main;
      const device = setupDevice(v);
      const seed = tableOpt(v, 'seed', SOURCE_OPTIONS.seed);
      // The CLI parses; the library's zoo lookup validates, and its error names the flag here.
      const arch = stringOpt(v, 'arch') ?? DEFAULT_ARCH;
      let spec;
      try { spec = modelSpec(arch); } catch (e) { throw new ConvLoraError('E_USAGE', (e as Error).message.replace('`arch`', '--arch')); }
      const heads = stringOpt(v, 'heads');
      if (heads !== undefined) {
        if (dp !== null) throw new ConvLoraError('E_USAGE', '--heads trains in one process; run it without a launcher');
        if (v.randomize === true || stringOpt(v, 'data') !== undefined) throw new ConvLoraError('E_USAGE', '--heads trains on the labelled heads of DIR: leave out --randomize and --data');
        // Flags given are parsed against the library's table (HEADS_OPTIONS); the others take its defaults there.
        const opt = (name: string, entry: NumberOption): number | undefined => (stringOpt(v, name) === undefined ? undefined : tableOpt(v, name, entry));
        const T = HEADS_OPTIONS;
        const r = await trainOnHeads({
          heads, out: stringOpt(v, 'out', true), seed, device, resume: v.resume === true, report: progressReporter(io, v.quiet === true),
          ...defined({ epochs: opt('epochs', T.epochs), batchSize: opt('batch-size', T.batchSize), lr: opt('lr', T.lr), filters: opt('filters', { default: 16, min: 1, integer: true }),
            voxel: opt('voxel', T.voxel), slicesPerView: opt('slices', T.slicesPerView), synthShare: opt('synth-share', T.synthShare), adabnSlices: opt('adabn-slices', T.adabnSlices),
            ema: opt('ema', { default: 0, min: 0 }), views: opt('views', T.views) as 1 | 3 | undefined, init: stringOpt(v, 'init') }),
        });
        io.stdout.write(v.json === true ? `${JSON.stringify(r, null, 2)}\n` : `${r.checkpoint}\n`);
        return 0;
      }
      let randomized;
      if (v.randomize === true) {
        if (stringOpt(v, 'data') !== undefined) throw new ConvLoraError('E_USAGE', '--randomize trains on simulated subjects: leave out --data');
        const anatomy = (stringOpt(v, 'anatomy') ?? ANATOMY_KINDS.join(',')).split(',').map((a) => a.trim());
        for (const a of anatomy) if (!(ANATOMY_KINDS as readonly string[]).includes(a)) throw new ConvLoraError('E_USAGE', `Expected ${ANATOMY_KINDS.join(' and/or ')} for --anatomy but received ${JSON.stringify(a)}`);
        const subjects = numberOpt(v, 'subjects', 40, { integer: true, min: 1 }), valSubjects = numberOpt(v, 'val-subjects', 8, { integer: true, min: 1 });
        const bar = new Progress(io.stderr, 'simulating subjects', subjects + valSubjects, { enabled: v.quiet !== true && main });
        randomized = await simulatedSet({
          anatomy: anatomy as AnatomyKind[], subjects, valSubjects, voxel: numberOpt(v, 'voxel', 2, { min: 0.5 }), seed,
          ...(stringOpt(v, 'batches') === undefined ? {} : { batches: stringOpt(v, 'batches') as RandomizedBatching }),
          ...(stringOpt(v, 'slices') === undefined ? {} : { slicesPerSubject: numberOpt(v, 'slices', 0, { integer: true, min: 1 }) }), onSubject: (done) => bar.update(done),
        });
        if (main) bar.done(`${randomized.train.length} + ${randomized.val.length} subjects`);
      }
      const r = await trainSource({
        ...(randomized === undefined ? { data: stringOpt(v, 'data', true) } : { randomized }), out: stringOpt(v, 'out', true), source: cliDomain(stringOpt(v, 'source') ?? S.source, 'source'),
        epochs: tableOpt(v, 'epochs', SOURCE_OPTIONS.epochs), batchSize: tableOpt(v, 'batch-size', SOURCE_OPTIONS.batchSize), lr: tableOpt(v, 'lr', SOURCE_OPTIONS.lr), seed,
        arch, filters: numberOpt(v, 'filters', spec.defaultFilters, { integer: true, min: 1 }), device, resume: v.resume === true, tolerance: tableOpt(v, 'tolerance', SOURCE_OPTIONS.tolerance), report: progressReporter(io, v.quiet === true),
        // The decay's range (0 < decay < 1) is checked by the library, which names the value.
        ...(stringOpt(v, 'ema') === undefined ? {} : { ema: numberOpt(v, 'ema', 0) }),
        ...(stringOpt(v, 'init') === undefined ? {} : { init: stringOpt(v, 'init', true) }), parallel: dp,
      });
      if (main) io.stdout.write(v.json === true ? `${JSON.stringify(r, null, 2)}\n` : `${r.checkpoint}\n`);
      return 0;
    });
  },
};

/** The entries of `o` that are not undefined (exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export const trainEshCommand: Command = {
  name: 'train-esh',
  summary: 'Train the early segmentation head on the frozen source U-Net; keep the best source-val SDS',
  usage: `convlora train-esh --data DIR --unet unet.safetensors --out DIR [--head esh|udas] [--epochs ${H.epochs}] [--batch-size ${H.batchSize}] [--lr ${H.lr.toExponential()}] [--seed ${H.seed}] [--tolerance ${H.tolerance}] [--device cpu|cuda] [--resume] [--config FILE] [--json]`,
  options: { ...TRAIN_OPTIONS, unet: { type: 'string' }, head: { type: 'string' } },
  async run(v0, _p, io) {
    // One rank of a data-parallel job when launched as one (torchrun, srun, `convlora launch`).
    return withDataParallel(io, async (dp) => {
      const v = applyConfig('train-esh', v0, this.options);
      const device = setupDevice(v);
      const kind = stringOpt(v, 'head') ?? H.kind;
      if (kind !== 'esh' && kind !== 'udas') throw new ConvLoraError('E_USAGE', `Expected esh or udas for --head but received ${JSON.stringify(kind)}`);
      const source = stringOpt(v, 'source');
      const r = await trainHead({
        data: stringOpt(v, 'data', true), unet: stringOpt(v, 'unet', true), out: stringOpt(v, 'out', true), kind,
        ...(source === undefined ? {} : { source: cliDomain(source, 'source') }),
        epochs: tableOpt(v, 'epochs', HEAD_OPTIONS.epochs), batchSize: tableOpt(v, 'batch-size', HEAD_OPTIONS.batchSize),
        lr: tableOpt(v, 'lr', HEAD_OPTIONS.lr), seed: tableOpt(v, 'seed', HEAD_OPTIONS.seed),
        device, resume: v.resume === true, tolerance: tableOpt(v, 'tolerance', HEAD_OPTIONS.tolerance), report: progressReporter(io, v.quiet === true), parallel: dp,
      });
      if (dp === null || dp.main) io.stdout.write(v.json === true ? `${JSON.stringify(r, null, 2)}\n` : `${r.checkpoint}\n`);
      return 0;
    });
  },
};

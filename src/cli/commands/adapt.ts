import { dirname, join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { adaptDomain, ADAPT_DEFAULTS, ADAPT_OPTIONS, checkAdaptSettings, headFor, type AdaptMethod, type AdaptOptions, type AdaptSelection } from '../../pipeline/train/adapt.js';
import type { DataParallel } from '../../pipeline/dist/parallel.js';
import type { Domain } from '../../data/scans/cc359.js';
import { LORA_OPTIONS, PAPER_LORA, type LoraConfig } from '../../lora/convlora.js';
import { checkData, loadScans, openDomain } from '../../pipeline/train/dataset.js';
import { loadHead, loadUnet } from '../../pipeline/models.js';
import { orientationWarning } from '../../pipeline/train/source.js';
import { AdapterRegistry, disposeAdapter, saveAdapter, type AdaBNMode } from '../../lora/adapter.js';
import type { Blocks } from '../../lora/placement.js';
import { numberOpt, stringOpt, tableOpt, type CliIO, type Command } from '../command.js';
import { applyConfig, COMMON_OPTIONS, progressReporter, setupDevice, cliDomain, withDataParallel } from '../pipeline-opts.js';
import { adaptScans, HOLD_OUT } from '../../pipeline/train/adapt-scans.js';
import { SCAN_OPTIONS, scanNameOpt, scanSourceOpts } from '../scan-opts.js';

function slicesOpt(v: Record<string, unknown>): 'head' | 'all' {
  const s = stringOpt(v, 'slices') ?? 'head';
  if (s !== 'head' && s !== 'all') throw new ConvLoraError('E_USAGE', `Expected head or all for --slices but received ${JSON.stringify(s)}`);
  return s;
}

type Values = Parameters<Command['run']>[0];
type ScanAdaptOptions = Parameters<typeof adaptScans>[0];

/** `--scans` / `--bids`: a user's scanner, its scans checked and prepared as `segment` prepares them, a seeded share held out. */
async function adaptOnScans(v: Values, io: CliIO, o: Omit<ScanAdaptOptions, 'holdOut' | 'slices' | 'slicesPerScan'>, dp: DataParallel | null): Promise<number> {
  const main = dp === null || dp.main;
  const r = await adaptScans({ ...o, holdOut: numberOpt(v, 'held-out', HOLD_OUT, { min: 0 }), slices: slicesOpt(v),
    ...(stringOpt(v, 'slices-per-scan') === undefined ? {} : { slicesPerScan: numberOpt(v, 'slices-per-scan', 1, { integer: true, min: 1 }) }) });
  const res = { adapter: r.adapter, name: r.name, scanner: r.scanner, method: o.method, train: r.train, selection: r.selection, select: r.select, kept: r.kept, bestEpoch: r.bestEpoch, history: r.history };
  if (main && r.kept === 'start' && v.quiet !== true) io.stderr.write(`guard: no epoch beat the starting model by ${r.select}; the adapter reproduces the starting model (the base model${o.adabn === 'none' ? '' : ' with the scanner\'s AdaBN statistics'})\n`);
  if (main) io.stdout.write(v.json === true ? `${JSON.stringify(res, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n` : `${r.adapter}\n`);
  return 0;
}

/** `--data --target`: a CC359-layout domain's training and validation split; the adapter written by rank 0. */
async function adaptOnDomain(v: Values, io: CliIO, settings: Omit<AdaptOptions, 'target'>, target: Domain, f: { data: string; unet: string; head: string | undefined; out: string }, dp: DataParallel | null): Promise<number> {
  const main = dp === null || dp.main;
  const { method } = settings;
  const device = settings.device ?? 'cpu';
  await checkData(f.data, [target]);
  const d = await openDomain(f.data, target, 'target');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
  const { model, info } = await loadUnet(f.unet, device);
  const warning = orientationWarning(info.orientation, [...train, ...val], target);
  if (warning !== null && v.quiet !== true) io.stderr.write(`${warning}\n`);
  const registry = new AdapterRegistry(model);
  const head = f.head === undefined ? null : (await loadHead(f.head, device, info)).head;
  try {
    const r = await adaptDomain(registry, head, train, val, d.info, { ...settings, target });
    try {
      if (main) await saveAdapter(f.out, r.adapter);
    } finally { disposeAdapter(r.adapter); }
    const res = { adapter: f.out, target, method, select: r.select, kept: r.kept, bestEpoch: r.bestEpoch, history: r.history };
    if (main && r.kept === 'start' && v.quiet !== true) io.stderr.write(`guard: no epoch beat the starting model by ${r.select}; the adapter reproduces the starting model\n`);
    if (main) io.stdout.write(v.json === true ? `${JSON.stringify(res, null, 2)}\n` : `${f.out}\n`);
    return 0;
  } finally {
    head?.dispose();
    registry.dispose();
    model.dispose();
  }
}

export const adaptCommand: Command = {
  name: 'adapt',
  summary: 'Adapt the source U-Net to one unlabelled target scanner; writes a domain adapter file',
  usage: [
    'convlora adapt --data DIR --target DOMAIN --unet unet.safetensors [options]          (CC359 layout)',
    '       convlora adapt --scans DIR|FILE|PATTERN [--scans ...] --name NAME --unet unet.safetensors [options]',
    '       convlora adapt --bids DIR [--scanner KEY] [--by-sequence] [--name NAME] --unet unet.safetensors [options]',
    'options: [--method convlora|udas-convlora|udas|self-training|adabn|teacher] [--blocks 1|1-2|1-3|all] [--adabn] [--adabn-mode implicit|explicit]',
    '  [--select agreement|last|consistency|confidence] (epoch choice; with a label-free criterion the starting model is kept unless an epoch beats it)',
    `  [--head head.safetensors] [--out adapter.safetensors] [--epochs ${ADAPT_DEFAULTS.epochs}] [--lr ${ADAPT_DEFAULTS.lr.toExponential()}] [--batch-size ${ADAPT_DEFAULTS.batchSize}] [--seed ${ADAPT_DEFAULTS.seed}] [--rank ${PAPER_LORA.rank}] [--alpha ${PAPER_LORA.alpha}]`,
    `  [--layout loralib|peft] [--detach-target] [--tolerance ${ADAPT_DEFAULTS.tolerance}] [--held-out 0.1] [--slices head|all] [--slices-per-scan N] [--device cpu|cuda] [--config FILE] [--json]`,
    '',
    'With --scans or --bids the scans need no masks (none is read). Each is prepared as `segment` prepares it',
    '(the model\'s orientation, resampled when its voxel size is over 25 % from the model\'s, every slice); adaptation',
    'learns from the slices that show the head (--slices all: from every slice). A seeded --held-out share',
    '(default 10 %, at least 1 scan) is kept for the label-free model selection; the rest train.',
    'A plain folder must hold one scanner: by <name>.json sidecars when present, else the same orientation and',
    'voxel sizes within 25 %. --name defaults to the scanner key of the sidecars (BIDS: --scanner).',
  ].join('\n'),
  options: {
    ...COMMON_OPTIONS, data: { type: 'string' }, unet: { type: 'string' }, head: { type: 'string' }, target: { type: 'string' }, method: { type: 'string' },
    blocks: { type: 'string' }, adabn: { type: 'boolean' }, 'adabn-mode': { type: 'string' }, out: { type: 'string' }, epochs: { type: 'string' },
    lr: { type: 'string' }, 'batch-size': { type: 'string' }, seed: { type: 'string' }, rank: { type: 'string' }, alpha: { type: 'string' },
    layout: { type: 'string' }, 'detach-target': { type: 'boolean' }, tolerance: { type: 'string' },
    ...SCAN_OPTIONS, name: { type: 'string' }, 'held-out': { type: 'string' }, slices: { type: 'string' }, select: { type: 'string' }, 'slices-per-scan': { type: 'string' },
  },
  async run(v0, _p, io) {
    // One rank of a data-parallel job when launched as one (torchrun, srun, `convlora launch`).
    return withDataParallel(io, async (dp) => {
      const v = applyConfig('adapt', v0, this.options);
      const device = setupDevice(v);
      // The CLI parses; the library validates (checkAdaptSettings), and its error names the flag here.
      const D = ADAPT_DEFAULTS;
      const method = (stringOpt(v, 'method') ?? D.method) as AdaptMethod;
      const blocks = (stringOpt(v, 'blocks') ?? D.blocks) as Blocks;
      const mode = (stringOpt(v, 'adabn-mode') ?? 'implicit') as AdaBNMode;
      if (mode === 'none') throw new ConvLoraError('E_USAGE', 'Expected implicit or explicit for --adabn-mode but received "none" (leave --adabn out instead)');
      const layout = (stringOpt(v, 'layout') ?? PAPER_LORA.layout) as LoraConfig['layout'];
      const checks: [string, string, () => void][] = [
        ['--method', 'method', () => checkAdaptSettings({ method })], ['--blocks', 'blocks', () => checkAdaptSettings({ blocks })],
        ['--adabn-mode', 'adabn', () => checkAdaptSettings({ adabn: mode })], ['--layout', 'lora.layout', () => checkAdaptSettings({ lora: { ...PAPER_LORA, layout } })],
      ];
      for (const [flag, key, check] of checks) {
        try { check(); } catch (e) { throw new ConvLoraError('E_USAGE', (e as Error).message.replace(`\`${key}\``, flag)); }
      }
      const unetPath = stringOpt(v, 'unet', true);
      const kind = headFor(method);
      const headPath = stringOpt(v, 'head') ?? (kind === null ? undefined : join(dirname(unetPath), `${kind}.safetensors`));
      const outFor = (name: string): string => stringOpt(v, 'out') ?? join(dirname(unetPath), 'adapters', `${name}-${method}${v.adabn === true ? '-adabn' : ''}.safetensors`);
      const rank = tableOpt(v, 'rank', LORA_OPTIONS.rank);
      const T = ADAPT_OPTIONS;
      const settings = {
        method, blocks, adabn: v.adabn === true ? mode : 'none', device,
        epochs: tableOpt(v, 'epochs', T.epochs), lr: tableOpt(v, 'lr', T.lr), batchSize: tableOpt(v, 'batch-size', T.batchSize), seed: tableOpt(v, 'seed', T.seed),
        lora: { rank, alpha: tableOpt(v, 'alpha', LORA_OPTIONS.alpha, rank), layout }, detachTarget: v['detach-target'] === true,
        tolerance: tableOpt(v, 'tolerance', T.tolerance),
        ...(stringOpt(v, 'select') === undefined ? {} : { select: stringOpt(v, 'select') as AdaptSelection }),
        report: progressReporter(io, v.quiet === true), parallel: dp,
      } as const;
      if (v.scans !== undefined || v.bids !== undefined) {
        return adaptOnScans(v, io, { ...settings, ...scanSourceOpts(v), unet: unetPath, ...(headPath === undefined ? {} : { head: headPath }), out: outFor, ...scanNameOpt(v) }, dp);
      }
      for (const flag of ['scanner', 'name', 'by-sequence', 'held-out', 'slices', 'slices-per-scan']) {
        if (v[flag] !== undefined) throw new ConvLoraError('E_USAGE', `--${flag} goes with --scans or --bids, not --data`);
      }
      const target = cliDomain(stringOpt(v, 'target', true), 'target');
      return adaptOnDomain(v, io, settings, target, { data: stringOpt(v, 'data', true), unet: unetPath, head: headPath, out: outFor(target) }, dp);
    });
  },
};

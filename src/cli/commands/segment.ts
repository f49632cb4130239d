import { ConvLoraError } from '../../errors.js';
import { isDirectory } from '../../fsutil.js';
import { segmentDirectory, segmentFile, type SegmentResult } from '../../pipeline/infer/segment.js';
import { parseShard, shardFromEnv } from '../../pipeline/dist/shard.js';
import { bundledModel, resolveModel } from '../../pipeline/infer/bundled.js';
import { Progress } from '../progress.js';
import { stringOpt, type CliIO, type Command } from '../command.js';
import { COMMON_OPTIONS, setupDevice, applyConfig } from '../pipeline-opts.js';
import { ENGINES, type Engine } from '../../pipeline/onnx/session.js';
import { numberOpt } from '../command.js';

function orientationLine(r: SegmentResult): string | null {
  const o = r.orientation;
  if (o.reoriented) return `orientation: input ${o.input}, turned to the model's ${o.model} and back (axes permuted/flipped, no resampling)`;
  if (o.model === null) return `orientation: the model does not record its training orientation; the input (${o.input ?? 'unknown'}) is used as stored`;
  return null;
}

/** What was done to fit the model to the scan, and every warning: one line each, for stderr. */
function detailLines(r: SegmentResult): string[] {
  const lines: string[] = [];
  const c = r.choice;
  if (c !== null) {
    const d = c.distances.map((x) => `${x.name} ${x.distance.toFixed(3)}`).join(', ');
    const limit = c.threshold === null ? 'no fallback threshold: no candidate has a fingerprint' : `fallback beyond ${c.threshold.toFixed(3)}`;
    lines.push(`adapter choice (${c.method}): ${c.chosen ?? 'none close, test-time AdaBN'}; distances: ${d} (${limit})`);
  }
  if (r.adabn !== null) lines.push(`test-time AdaBN: BatchNorm statistics re-estimated on ${r.adabn.slices} slices of ${r.adabn.scans} scan${r.adabn.scans === 1 ? '' : 's'} (seed ${r.adabn.seed})`);
  return [...lines, ...r.warnings.map((w) => `warning: ${w}`)];
}

type Values = Parameters<Command['run']>[0];
type SegmentCommon = Omit<Parameters<typeof segmentFile>[0], 'input' | 'output' | 'brain'>;

/** The flags that apply to a file and a folder alike, checked against each other; the model resolved (the bundled one by default). */
function segmentOptions(v: Values, io: CliIO): { common: SegmentCommon; input: string; output: string; brain: string | undefined } {
  const engine = (stringOpt(v, 'engine') ?? 'torch') as Engine;
  if (!ENGINES.includes(engine)) throw new ConvLoraError('E_USAGE', `Expected ${ENGINES.join(' or ')} for --engine but received ${JSON.stringify(engine)}`);
  // The ONNX engine must not load libtorch: its threads go to onnxruntime, and it runs on the CPU only.
  const device = engine === 'torch' ? setupDevice(v) : 'cpu';
  if (engine === 'onnx' && (stringOpt(v, 'device') ?? 'cpu') !== 'cpu') throw new ConvLoraError('E_USAGE', `--engine onnx runs on the CPU only but received --device ${stringOpt(v, 'device')}`);
  const threads = engine === 'onnx' && v.threads !== undefined ? numberOpt(v, 'threads', 1, { integer: true, min: 1 }) : undefined;
  if (engine === 'onnx') {
    for (const flag of ['adapters', 'adabn'] as const) {
      if (v[flag] !== undefined) throw new ConvLoraError('E_USAGE', `--${flag} needs --engine torch (it measures BatchNorm inputs, which an ONNX graph does not expose)`);
    }
  }
  const adapter = stringOpt(v, 'adapter'), adapters = stringOpt(v, 'adapters');
  const input = stringOpt(v, 'in', true), output = stringOpt(v, 'out', true), brain = stringOpt(v, 'brain');
  if (v.conform === true && v['no-conform'] === true) throw new ConvLoraError('E_USAGE', '--conform and --no-conform contradict each other');
  if (adapter !== undefined && adapters !== undefined) throw new ConvLoraError('E_USAGE', '--adapter applies one adapter and --adapters chooses among several: give one of them');
  if (adapters !== undefined && v.adabn === true) throw new ConvLoraError('E_USAGE', '--adapters falls back to test-time AdaBN by itself: leave --adabn out');
  if (v.adabn === true && v['no-adabn'] === true) throw new ConvLoraError('E_USAGE', '--adabn and --no-adabn contradict each other');
  const conform = v.conform === true ? true : v['no-conform'] === true ? false : undefined;
  const adabn = v.adabn === true ? true : v['no-adabn'] === true ? false : undefined;
  const given = stringOpt(v, 'model');
  const model = given === undefined ? bundledModel() : resolveModel(given);
  if ((given === undefined || model !== given) && v.quiet !== true && v.json !== true) io.stderr.write(`model: the bundled ${model} (models/README.md says how it was made)\n`);
  const common = {
    model, ...(adapter === undefined ? {} : { adapter }), ...(adapters === undefined ? {} : { adapters }), ...(adabn === undefined ? {} : { adabn }),
    prob: v.prob === true, device, engine, ...(threads === undefined ? {} : { threads }), reorient: v['no-reorient'] !== true, ...(conform === undefined ? {} : { conform }),
    ...(v['no-cleanup'] === true ? { cleanup: false } : {}),
    ...(stringOpt(v, 'views') === undefined ? {} : { views: numberOpt(v, 'views', 1, { integer: true, min: 1 }) }),
  };
  return { common, input, output, brain };
}

/** A folder of scans (this task's shard of it): one output line per scan, a progress bar, a summary; exit 1 when a scan failed. */
async function segmentFolder(v: Values, io: CliIO, common: SegmentCommon, f: { input: string; output: string; brain: string | undefined; shardSpec: string | undefined }): Promise<number> {
  const { input, output, brain, shardSpec } = f;
  for (const [flag, value] of [['out', output], ['brain', brain]] as const) {
    if (value !== undefined && /\.nii(\.gz)?$/.test(value)) throw new ConvLoraError('E_USAGE', `--in ${input} is a folder, so --${flag} must be a folder too, not ${value}`);
  }
  const env = shardSpec === undefined ? shardFromEnv(io.env) : null;
  const shard = shardSpec !== undefined ? parseShard(shardSpec) : env?.shard;
  if (shard !== undefined && v.quiet !== true) io.stderr.write(`shard ${shard.index}/${shard.count}${env === null ? '' : ` (from ${env.from})`}: scans ${shard.index}, ${shard.index + shard.count}, ... of the folder's sorted names\n`);
  let bar: Progress | null = null;
  const started = Date.now();
  const { results, failures, skipped, scans } = await segmentDirectory({
    ...common, inputDir: input, outputDir: output, ...(brain === undefined ? {} : { brainDir: brain }), ...(shard === undefined ? {} : { shard }),
    ...(v['skip-existing'] === true ? { skipExisting: true } : {}),
    onScan: (done, total, r) => {
      bar ??= new Progress(io.stderr, 'segment', total, { enabled: v.quiet !== true });
      if ('code' in r) io.stderr.write(`\n${r.input}: error ${r.code}: ${r.message}\n`);
      else if (v.json !== true) {
        io.stdout.write(`${r.output}\n`);
        if (v.quiet !== true) for (const line of detailLines(r)) io.stderr.write(`${r.input}: ${line}\n`);
      }
      if (done < total) bar.update(done);
    },
  });
  (bar as Progress | null)?.done(`${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (v.json === true) io.stdout.write(`${JSON.stringify({ results, failures, skipped }, null, 2)}\n`);
  const turned = results.filter((r) => r.orientation.reoriented).length;
  if (v.quiet !== true) {
    if (skipped.length > 0) io.stderr.write(`skipped ${skipped.length} scan${skipped.length === 1 ? '' : 's'} whose outputs exist (--skip-existing)\n`);
    if (scans === 0) io.stderr.write(`shard ${shard!.index}/${shard!.count}: no scans for this task (the folder has fewer than ${shard!.count})\n`);
    io.stderr.write(`segmented ${results.length} of ${results.length + failures.length}${skipped.length > 0 ? ' remaining' : ''} scans into ${output}${turned > 0 ? ` (${turned} turned into the model's orientation ${results[0]!.orientation.model} and back)` : ''}\n`);
    if (failures.length > 0) io.stderr.write(`failed: ${failures.map((x) => `${x.input} (${x.code})`).join(', ')}\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'Brain mask of any T1 NIfTI (or a folder of them) on its own grid and affine, optionally with a domain adapter',
  usage: 'convlora segment [--model unet.safetensors|v1 (default: the bundled model, models/; v1: the previous one)] [--adapter A.safetensors | --adapters DIR] [--adabn | --no-adabn] --in scan.nii.gz|DIR --out mask.nii.gz|DIR [--brain brain.nii.gz|DIR] [--shard i/N (a folder: task i of N; default from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + CONVLORA_SHARDS)] [--prob] [--no-reorient] [--conform | --no-conform] [--no-cleanup (the mask as the network gives it: no largest component, no hole filling)] [--views 1|3 (views fused; default the model\'s record)] [--skip-existing (a folder: leave scans whose outputs exist, as after an interrupted run)] [--engine torch|onnx] [--threads N] [--device cpu|cuda] [--json]   (--engine onnx: --model may be an .onnx file from `convlora export`)',
  options: {
    ...COMMON_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, adapters: { type: 'string' }, adabn: { type: 'boolean' }, 'no-adabn': { type: 'boolean' }, in: { type: 'string' }, out: { type: 'string' },
    engine: { type: 'string' }, shard: { type: 'string' }, prob: { type: 'boolean' }, 'no-reorient': { type: 'boolean' }, conform: { type: 'boolean' }, 'no-conform': { type: 'boolean' }, 'no-cleanup': { type: 'boolean' }, brain: { type: 'string' }, views: { type: 'string' }, 'skip-existing': { type: 'boolean' },
  },
  async run(v0, _p, io) {
    const v = applyConfig('segment', v0, this.options);
    const { common, input, output, brain } = segmentOptions(v, io);
    const shardSpec = stringOpt(v, 'shard');
    if (await isDirectory(input)) return segmentFolder(v, io, common, { input, output, brain, shardSpec });
    if (shardSpec !== undefined) throw new ConvLoraError('E_USAGE', `--shard splits a folder of scans over tasks, but --in ${input} is one file`);
    const r = await segmentFile({ ...common, input, output, ...(brain === undefined ? {} : { brain }) });
    if (v.json === true) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(`${r.output}\n${r.brain === null ? '' : `${r.brain}\n`}`);
      const line = orientationLine(r);
      if (line !== null) io.stderr.write(`${line}\n`);
      if (r.resampled !== null) io.stderr.write(`resampled from ${r.resampled.from.map((x) => x.toFixed(2)).join(' x ')} mm to the model's ${r.resampled.to.map((x) => x.toFixed(2)).join(' x ')} mm and back\n`);
      for (const line of detailLines(r)) io.stderr.write(`${line}\n`);
      io.stderr.write(`brain: ${r.brainVoxels} voxels, ${r.brainMl.toFixed(1)} ml; ${r.seconds.toFixed(1)} s\n`);
    }
    return 0;
  },

};

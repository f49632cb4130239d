import { ConvLoraError } from '../../errors.js';
import { renderColumns } from '../../metrics/format.js';
import { listAdapters } from '../../pipeline/infer/adapter-list.js';
import { stringOpt, type Command } from '../command.js';
import { setupDevice } from '../pipeline-opts.js';

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

export const adaptersCommand: Command = {
  name: 'adapters',
  summary: 'List the adapter files in a folder: domain, scanner, method, trainable parameters, size, selected epoch',
  usage: [
    'convlora adapters DIR [--model unet.safetensors] [--device cpu|cuda] [--json]',
    '',
    'Reads each file\'s header only. With --model, "base" says whether the adapter was trained on that model',
    '(its base hash matches) and so can be used with it. Files that are not adapters are listed with the reason.',
    'Subfolders are searched two levels deep (experiment writes adapters/<target>/*.safetensors).',
  ].join('\n'),
  options: { model: { type: 'string' }, device: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals, io) {
    if (positionals.length !== 1) throw new ConvLoraError('E_USAGE', `Expected one folder but received ${positionals.length} arguments\nUsage: ${this.usage.split('\n')[0]}`);
    const model = stringOpt(values, 'model');
    const rows = await listAdapters(positionals[0]!, model === undefined ? {} : { model, device: setupDevice(values) });
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify({ folder: positionals[0], model: model ?? null, files: rows }, null, 2)}\n`);
      return 0;
    }
    const base = (m: boolean | null): string => (m === null ? '-' : m ? 'match' : 'OTHER');
    const dash = (x: string | number | null): string => (x === null ? '-' : String(x));
    const method = (a: NonNullable<(typeof rows)[number]['adapter']>): string =>
      `${a.method}${a.method === 'convlora' && a.blocks !== null ? ` ${a.blocks}` : ''}${a.adabn === 'none' || a.method === 'adabn' ? '' : ' +adabn'}`;
    io.stdout.write(`${renderColumns(['file', 'domain', 'scanner', 'method', 'trainable', 'size', 'base', 'epoch', 'agreement', 'note'],
      rows.map((r) => {
        const a = r.adapter;
        if (a === null) return [r.file, '-', '-', '-', '-', kib(r.bytes), '-', '-', '-', `not an adapter (${r.problem!.code}): ${r.problem!.reason}`];
        return [r.file, a.domain, dash(a.scanner), method(a), a.trainableParams.toLocaleString('en-US'), kib(r.bytes), base(a.baseMatch),
          dash(a.bestEpoch), a.agreement === null ? '-' : a.agreement.toFixed(4), a.trainedOn === null ? '' : `trained on ${a.trainedOn.count} ${a.trainedOn.kind === 'bids' ? 'BIDS ' : ''}scans`];
      }))}\n`);
    return 0;
  },
};

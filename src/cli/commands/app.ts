import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvLoraError } from '../../errors.js';
import { bundledModel } from '../../pipeline/infer/bundled.js';
import { isOnnxPath } from '../../pipeline/onnx/session.js';
import { adapterFiles } from '../../pipeline/infer/adapter-list.js';
import { modelId, startAppServer, type AppModel } from '../../app/server.js';
import { numberOpt, stringOpt, type Command } from '../command.js';
import { COMMON_OPTIONS, applyConfig } from '../pipeline-opts.js';

/** dist/app, next to dist/src (this file is dist/src/cli/commands/app.js). */
export function appAssets(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'app');
}

async function readModelFile(path: string): Promise<Uint8Array> {
  try { return await readFile(path); } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The app's models: .onnx files as they are; a checkpoint exported now (needs libtorch), once plain and once per adapter. */
export async function appModels(models: readonly string[], adapters: string | undefined, report: (line: string) => void): Promise<AppModel[]> {
  const out: AppModel[] = [];
  const checkpoints = models.filter((m) => !isOnnxPath(m));
  if (adapters !== undefined && checkpoints.length !== 1) {
    throw new ConvLoraError('E_USAGE', `--adapters merges its adapters into one checkpoint: give exactly one .safetensors --model (received ${checkpoints.length})`);
  }
  const files = adapters === undefined ? [] : await adapterFiles(adapters);
  for (const m of models) {
    const { onnxBytes, statisticsPath } = await import('../../pipeline/onnx/export.js');
    if (isOnnxPath(m)) {
      const sp = statisticsPath(m);
      out.push({ id: modelId(m), label: basename(m), bytes: await readModelFile(m), statistics: existsSync(sp) ? await readModelFile(sp) : null });
      continue;
    }
    const t0 = Date.now();
    const base = await onnxBytes({ model: m });
    out.push({ id: modelId(m), label: `${basename(m)} (no adapter)`, bytes: base.bytes, statistics: base.statistics });
    for (const a of files) {
      const merged = await onnxBytes({ model: m, adapter: a });
      out.push({ id: `${modelId(m)}+${modelId(a)}`, label: `${basename(a)} (${merged.metadata['convlora.domain'] ?? 'adapter'})`, bytes: merged.bytes });
    }
    report(`exported ${basename(m)}${files.length > 0 ? ` with ${files.length} adapter(s)` : ''} to ONNX in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return out;
}

export const appCommand: Command = {
  name: 'app',
  summary: 'Serve the browser app: drop a scan, segment it in the page (onnxruntime-web), view it (NiiVue), download the mask',
  usage: 'convlora app [--model unet.safetensors|model.onnx ...] [--adapters DIR|A.safetensors] [--port 8080] [--host 127.0.0.1]   '
    + '(default model: the bundled one; a .safetensors model is exported to ONNX at start, which needs libtorch; .onnx files do not)',
  options: { ...COMMON_OPTIONS, model: { type: 'string', multiple: true }, adapters: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
  async run(v0, _p, io) {
    const v = applyConfig('app', v0, this.options);
    const given = (v.model as string[] | undefined) ?? [];
    const models = given.length > 0 ? given : [bundledModel()];
    const port = numberOpt(v, 'port', 8080, { integer: true, min: 0 });
    if (port > 65535) throw new ConvLoraError('E_USAGE', `Expected a port in 0-65535 for --port but received ${port}`);
    const say = (line: string): void => { if (v.quiet !== true) io.stderr.write(`${line}\n`); };
    const list = await appModels(models, stringOpt(v, 'adapters'), say);
    const host = stringOpt(v, 'host') ?? '127.0.0.1';
    const app = await startAppServer({ assets: appAssets(), models: list, host, port });
    io.stdout.write(`${app.url}\n`);
    say(`serving the convlora app with ${list.length} model(s) on ${app.url} (scans are segmented in the browser and never sent here); Ctrl-C stops it`);
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') say(`warning: --host ${host} lets other machines reach the app`);
    await new Promise<void>((resolve) => {
      const stop = (): void => { app.close().then(resolve, resolve); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};

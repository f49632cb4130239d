/**
 * The browser app (served by `convlora app`): a scan dropped on the page is decoded, segmented with the
 * chosen model in onnxruntime-web (the same steps as `convlora segment --engine onnx`, src/app/segment-web.ts),
 * shown with its mask in NiiVue, and offered as a .nii.gz download. Nothing is uploaded: the only requests
 * are for this app's files and the models.
 */
import * as ort from 'onnxruntime-web/wasm';
import { Niivue } from '@niivue/niivue';
import { OnnxModel } from '../pipeline/onnx/model.js';
import { segmentBytes, type WebSegmentResult } from './segment-web.js';

interface ModelEntry { id: string; label: string; url: string; statsUrl: string | null; adabn: boolean; bytes: number; domain: string | null; voxelSize: number[] | null; orientation: string | null; sliceSize: number; inference: string }

/** What the page is doing, for people (the status line) and for tests (window.convlora). */
interface AppState { state: 'loading' | 'ready' | 'segmenting' | 'done' | 'error'; error: { code: string; message: string } | null; result: WebSegmentResult | null; threads: number }

const state: AppState = { state: 'loading', error: null, result: null, threads: 1 };
(window as unknown as { convlora: AppState }).convlora = state;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const fileInput = $<HTMLInputElement>('file'), select = $<HTMLSelectElement>('model'), button = $<HTMLButtonElement>('segment');
const status = $<HTMLParagraphElement>('status'), progress = $<HTMLProgressElement>('progress'), download = $<HTMLAnchorElement>('download');
const warnings = $<HTMLUListElement>('warnings'), info = $<HTMLParagraphElement>('model-info'), viewer = $<HTMLDivElement>('viewer');

// Threads need SharedArrayBuffer, which the server's COOP/COEP headers make available.
state.threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
ort.env.wasm.numThreads = state.threads;
ort.env.wasm.wasmPaths = '/ort/';

let models: ModelEntry[] = [];
interface Loaded { model: OnnxModel; bytes: Uint8Array; stats: OnnxModel | null }
const sessions = new Map<string, Promise<Loaded>>();
let scan: { name: string; bytes: Uint8Array; url: string } | null = null;
let maskUrl: string | null = null;
const nv = new Niivue({ backColor: [0, 0, 0, 1], crosshairColor: [0.3, 0.8, 1, 0.7], crosshairWidth: 1, isResizeCanvas: true });

function say(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function fail(err: unknown): void {
  const e = err as { code?: string; message?: string };
  state.state = 'error';
  state.error = { code: e.code ?? 'E_APP', message: e.message ?? String(err) };
  say(`${state.error.code}: ${state.error.message}`, true);
  progress.hidden = true;
  button.disabled = scan === null || models.length === 0;
}

function showModel(): void {
  const m = models.find((x) => x.id === select.value);
  if (m === undefined) return;
  const mm = m.voxelSize === null ? 'unknown voxel size' : `${m.voxelSize.map((v) => v.toFixed(2)).join(' x ')} mm`;
  info.textContent = `${m.label}: domain ${m.domain ?? 'unknown'}, trained at ${mm}, ${m.orientation ?? 'unknown orientation'}, ${(m.bytes / 1048576).toFixed(1)} MiB; `
    + `${m.adabn ? 'test-time AdaBN on each scan, ' : ''}onnxruntime-web, ${state.threads} thread(s)`;
}

async function fetchBytes(url: string, label: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw Object.assign(new Error(`Could not fetch ${label}: HTTP ${res.status}`), { code: 'E_IO' });
  return new Uint8Array(await res.arrayBuffer());
}

function session(id: string): Promise<Loaded> {
  let s = sessions.get(id);
  if (s === undefined) {
    const m = models.find((x) => x.id === id)!;
    s = (async () => {
      const bytes = await fetchBytes(m.url, `the model ${m.label}`);
      const model = await OnnxModel.create(ort, bytes, { what: m.label, providers: ['wasm'] });
      // A model selected with test-time AdaBN per scan comes with its statistics graph (pipeline/onnx/adabn.ts).
      const stats = m.adabn && m.statsUrl !== null
        ? await OnnxModel.create(ort, await fetchBytes(m.statsUrl, `the statistics graph of ${m.label}`), { what: `${m.label} (statistics graph)`, providers: ['wasm'], statistics: true })
        : null;
      return { model, bytes, stats };
    })();
    s.catch(() => sessions.delete(id));
    sessions.set(id, s);
  }
  return s;
}

async function show(volumes: { url: string; name: string; colormap?: string; opacity?: number }[]): Promise<void> {
  await nv.loadVolumes(volumes);
  nv.setSliceType(nv.sliceTypeMultiplanar);
}

async function openScan(file: File): Promise<void> {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (scan !== null) URL.revokeObjectURL(scan.url);
    if (maskUrl !== null) { URL.revokeObjectURL(maskUrl); maskUrl = null; }
    download.hidden = true;
    warnings.replaceChildren();
    scan = { name: file.name, bytes, url: URL.createObjectURL(new Blob([bytes])) };
    state.result = null;
    $('drop-hint').hidden = true;
    // NiiVue reads the format from the name; a file that is not NIfTI is reported by segment.
    await show([{ url: scan.url, name: /\.nii(\.gz)?$/i.test(file.name) ? file.name : `${file.name}.nii.gz` }]).catch(() => undefined);
    state.state = 'ready';
    state.error = null;
    button.disabled = models.length === 0;
    say(`${file.name} loaded (${(bytes.length / 1048576).toFixed(1)} MiB). Choose the scanner adapter and press Segment.`);
  } catch (err) { fail(err); }
}

async function segment(): Promise<void> {
  if (scan === null) return;
  const current = scan;
  button.disabled = true;
  state.state = 'segmenting';
  state.error = null;
  progress.hidden = false;
  progress.value = 0;
  try {
    say('Loading the model...');
    const loaded = await session(select.value);
    say(`Segmenting ${current.name}...`);
    const result = await segmentBytes(current.bytes, loaded.model, {
      what: current.name,
      ...(loaded.stats === null ? {} : { adabn: { stats: loaded.stats, bytes: loaded.bytes, open: (b: Uint8Array) => OnnxModel.create(ort, b, { what: 'the model with this scan\'s statistics', providers: ['wasm'] }) } }),
      onProgress: (done, total) => { progress.value = done / total; say(`Segmenting ${current.name}: ${done} of ${total} slices`); },
    });
    if (maskUrl !== null) URL.revokeObjectURL(maskUrl);
    maskUrl = URL.createObjectURL(new Blob([result.maskFile as Uint8Array<ArrayBuffer>], { type: 'application/gzip' }));
    download.href = maskUrl;
    download.download = `${current.name.replace(/\.nii(\.gz)?$/i, '')}_mask.nii.gz`;
    download.hidden = false;
    warnings.replaceChildren(...result.warnings.map((w) => Object.assign(document.createElement('li'), { textContent: w })));
    await show([{ url: current.url, name: /\.nii(\.gz)?$/i.test(current.name) ? current.name : 'scan.nii.gz' }, { url: maskUrl, name: 'mask.nii.gz', colormap: 'red', opacity: 0.45 }]);
    state.result = result;
    state.state = 'done';
    progress.hidden = true;
    button.disabled = false;
    say(`Brain: ${result.brainMl.toFixed(0)} ml (${result.brainVoxels} voxels), ${result.seconds.toFixed(1)} s. The mask is red over the scan.`);
  } catch (err) { fail(err); }
}

async function start(): Promise<void> {
  try {
    await nv.attachToCanvas($<HTMLCanvasElement>('gl'));
    const res = await fetch('/models.json');
    models = ((await res.json()) as { models: ModelEntry[] }).models;
    select.replaceChildren(...models.map((m) => Object.assign(document.createElement('option'), { value: m.id, textContent: m.label })));
    showModel();
    state.state = 'ready';
    say('Drop a NIfTI scan on the viewer or choose a file.');
  } catch (err) { fail(err); }
}

// Cleared after each pick, so that choosing the same file again (e.g. after it changed on disk) reloads it.
fileInput.addEventListener('change', () => { const f = fileInput.files?.[0]; fileInput.value = ''; if (f !== undefined) void openScan(f); });
select.addEventListener('change', showModel);
button.addEventListener('click', () => { void segment(); });
viewer.addEventListener('dragover', (e) => { e.preventDefault(); viewer.classList.add('drag'); });
viewer.addEventListener('dragleave', () => viewer.classList.remove('drag'));
viewer.addEventListener('drop', (e) => {
  e.preventDefault();
  e.stopPropagation();
  viewer.classList.remove('drag');
  const f = e.dataTransfer?.files[0];
  if (f !== undefined) void openScan(f);
}, true);
void start();

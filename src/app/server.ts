/**
 * `convlora app`'s web server: the browser app's own files and the ONNX models named on the command
 * line, nothing else. Every response comes from a table filled at start-up (file bytes read then), so
 * no request path ever reaches the file system: `../`, its percent-encodings, absolute paths and
 * symlinks are simply names the table does not hold (404). The scans stay in the browser; the server
 * has no route that accepts one (only GET and HEAD are answered).
 *
 * Responses carry COOP/COEP (cross-origin isolation, so onnxruntime-web may use threads through
 * SharedArrayBuffer) and a content security policy that allows only this origin.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConvLoraError } from '../errors.js';
import { describeOnnx } from '../pipeline/onnx/model.js';

/** A model the page may choose: ONNX bytes from `convlora export` and what the page shows about it. */
export interface AppModel {
  /** File name the page fetches (`/models/<id>.onnx`): letters, digits, '.', '_' and '-' only. */
  id: string;
  /** Label in the page's list. */
  label: string;
  bytes: Uint8Array;
  /** Its statistics graph (`<model>.stats.onnx`), for test-time AdaBN in the page; null or absent without one. */
  statistics?: Uint8Array | null;
}

/** The app's own files, relative to the assets folder (dist/app, written by scripts/build-app.mjs). */
export const APP_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
  '/ort/ort-wasm-simd-threaded.mjs': 'ort/ort-wasm-simd-threaded.mjs',
  '/ort/ort-wasm-simd-threaded.wasm': 'ort/ort-wasm-simd-threaded.wasm',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json; charset=utf-8', '.onnx': 'application/octet-stream',
};

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' blob: data:; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'",
};

const ID = /^[A-Za-z0-9._-]{1,100}$/;

interface Entry { body: Uint8Array; type: string }

export interface AppServerOptions {
  /** Folder of the built app (dist/app). */
  assets: string;
  models: readonly AppModel[];
  /** Default 127.0.0.1: only this machine can reach the app unless a host is given. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

export interface AppServer { url: string; server: Server; close(): Promise<void> }

/** The route table: app files (read now) and models, each under one exact path. */
export async function appRoutes(assets: string, models: readonly AppModel[]): Promise<Map<string, Entry>> {
  const routes = new Map<string, Entry>();
  for (const [path, file] of Object.entries(APP_FILES)) {
    let body: Uint8Array;
    try { body = await readFile(join(assets, file)); } catch (err) {
      throw new ConvLoraError('E_IO', `The browser app is not built (${join(assets, file)}: ${(err as Error).message}); run \`npm run build\``, { cause: err });
    }
    routes.set(path, { body, type: TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
  }
  if (models.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one model for the app but received none');
  const list = models.map((m) => {
    if (!ID.test(m.id)) throw new ConvLoraError('E_INVALID_ARG', `Expected a model id of letters, digits, '.', '_' or '-' but received ${JSON.stringify(m.id)}`);
    if (routes.has(`/models/${m.id}.onnx`)) throw new ConvLoraError('E_INVALID_ARG', `Two models share the id ${JSON.stringify(m.id)}`);
    const d = describeOnnx(m.bytes, m.label);
    routes.set(`/models/${m.id}.onnx`, { body: m.bytes, type: TYPES['.onnx']! });
    const stats = m.statistics ?? null;
    if (stats !== null) {
      describeOnnx(stats, `${m.label} (statistics graph)`, { statistics: true });
      routes.set(`/models/${m.id}.stats.onnx`, { body: stats, type: TYPES['.onnx']! });
    }
    return { id: m.id, label: m.label, url: `/models/${m.id}.onnx`, statsUrl: stats === null ? null : `/models/${m.id}.stats.onnx`, bytes: m.bytes.length,
      domain: d.summary.metadata['convlora.domain'] ?? null, voxelSize: d.grid.spacing, orientation: d.grid.orientation, sliceSize: d.grid.size,
      inference: d.info.inference ?? 'eval', adabn: stats !== null && d.info.inference === 'adabn' && d.info.merged === undefined };
  });
  routes.set('/models.json', { body: new TextEncoder().encode(JSON.stringify({ models: list })), type: TYPES['.json']! });
  return routes;
}

function respond(req: IncomingMessage, res: ServerResponse, routes: Map<string, Entry>): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  // The raw request target, without its query: matched exactly, never decoded into a path.
  const target = (req.url ?? '').split('?')[0]!;
  const hit = routes.get(target);
  if (hit === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': hit.type, 'Content-Length': String(hit.body.length), 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : hit.body);
}

/** Start the app's server; resolves once it listens. */
export async function startAppServer(o: AppServerOptions): Promise<AppServer> {
  const routes = await appRoutes(o.assets, o.models);
  const server = createServer((req, res) => {
    try { respond(req, res, routes); } catch { if (!res.headersSent) res.writeHead(500).end(); }
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConvLoraError(err.code === 'EADDRINUSE' ? 'E_USAGE' : 'E_IO',
      err.code === 'EADDRINUSE' ? `Port ${o.port ?? 8080} on ${host} is in use: choose another with --port` : `Could not listen on ${host}:${o.port ?? 8080}: ${err.message}`, { cause: err })));
    server.listen(o.port ?? 8080, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port ?? 8080;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`, server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A model id from a file name: its stem with anything outside [A-Za-z0-9._-] replaced. */
export function modelId(file: string): string {
  return basename(file).replace(/\.(onnx|safetensors)$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'model';
}

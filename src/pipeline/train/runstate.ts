/**
 * Resumable training state. After each epoch a stage writes, in order and each atomically:
 * `epoch-NNNN.safetensors` (model), `epoch-NNNN-optim.safetensors` (Adam moments), with a weight EMA
 * `epoch-NNNN-ema.safetensors` (the shadow model), then `state.json` naming them. A kill at any point
 * leaves the previous consistent state; `--resume` continues from it.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil.js';
import type { Adam } from '../../engine/optim.js';
import type { Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';

export interface RunState<H> {
  stage: string;
  /** What must not change between an interrupted run and its resumption. */
  fingerprint: Record<string, unknown>;
  epochsDone: number;
  history: H[];
  extra?: Record<string, unknown>;
}

const pad = (n: number): string => String(n).padStart(4, '0');

export async function readRunState<H>(dir: string): Promise<RunState<H> | null> {
  let text: string;
  try { text = await fsp.readFile(join(dir, 'state.json'), 'utf8'); } catch { return null; }
  try { return JSON.parse(text) as RunState<H>; } catch {
    throw new ConvLoraError('E_CHECKPOINT', `${join(dir, 'state.json')} is not valid JSON; delete the run directory or start without --resume`);
  }
}

/** Save the model/optimizer of a finished epoch, then the state that points at them; prune older epochs. */
export async function writeRunState<H>(dir: string, st: RunState<H>, model: Module, opt: Adam | null, ema: Module | null = null): Promise<void> {
  const e = st.epochsDone;
  await saveSafetensors(join(dir, `epoch-${pad(e)}.safetensors`), model.stateDict());
  if (ema !== null) await saveSafetensors(join(dir, `epoch-${pad(e)}-ema.safetensors`), ema.stateDict());
  if (opt !== null) {
    const s = opt.state();
    const m = new Map<string, Tensor>();
    s.expAvg.forEach((t, i) => m.set(`exp_avg.${i}`, t));
    s.expAvgSq.forEach((t, i) => m.set(`exp_avg_sq.${i}`, t));
    await saveSafetensors(join(dir, `epoch-${pad(e)}-optim.safetensors`), m, { step: String(s.step), steps: JSON.stringify(s.steps) });
  }
  await writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify(st, null, 2)}\n`);
  for (const f of await fsp.readdir(dir)) {
    const m = /^epoch-(\d{4})(-optim|-ema)?\.safetensors$/.exec(f);
    if (m !== null && Number(m[1]) < e) await fsp.unlink(join(dir, f)).catch(() => undefined);
  }
}

/** Load the model (optimizer, EMA shadow) of the last finished epoch into the given objects. */
export async function restoreRunState<H>(dir: string, st: RunState<H>, model: Module, opt: Adam | null, ema: Module | null = null): Promise<void> {
  const e = st.epochsDone;
  const w = await loadSafetensors(join(dir, `epoch-${pad(e)}.safetensors`), model.parameters()[0]?.device ?? 'cpu');
  try { model.loadStateDict(w.tensors, { strict: true }); } finally { for (const t of w.tensors.values()) t.dispose(); }
  if (ema !== null) {
    const path = join(dir, `epoch-${pad(e)}-ema.safetensors`);
    let s: Awaited<ReturnType<typeof loadSafetensors>>;
    try { s = await loadSafetensors(path, model.parameters()[0]?.device ?? 'cpu'); } catch (err) {
      throw new ConvLoraError('E_CHECKPOINT', `Cannot resume ${dir}: the weight EMA of epoch ${e} (${path}) is unreadable: ${(err as Error).message}`);
    }
    try { ema.loadStateDict(s.tensors, { strict: true }); } finally { for (const t of s.tensors.values()) t.dispose(); }
  }
  if (opt === null) return;
  const o = await loadSafetensors(join(dir, `epoch-${pad(e)}-optim.safetensors`), model.parameters()[0]?.device ?? 'cpu');
  try {
    const n = opt.params.length;
    const get = (k: string): Tensor => {
      const t = o.tensors.get(k);
      if (t === undefined) throw new ConvLoraError('E_CHECKPOINT', `Optimizer state in ${dir} lacks ${k}`);
      return t;
    };
    let steps: number[] | undefined;
    try { steps = o.metadata.steps === undefined ? undefined : JSON.parse(o.metadata.steps) as number[]; } catch {
      throw new ConvLoraError('E_CHECKPOINT', `Optimizer state in ${dir} has unreadable per-parameter step counts`);
    }
    opt.loadState({ step: Number(o.metadata.step ?? 0), steps, expAvg: Array.from({ length: n }, (_, i) => get(`exp_avg.${i}`)), expAvgSq: Array.from({ length: n }, (_, i) => get(`exp_avg_sq.${i}`)) });
  } finally { for (const t of o.tensors.values()) t.dispose(); }
}

/**
 * Compare the stored fingerprint with this run's; a resumed run must use the same settings. Keys of
 * either side count, so an option that is only there when used (a weight EMA, an initial model) can be
 * neither added nor dropped on resume.
 */
export function checkFingerprint(dir: string, stored: Record<string, unknown>, current: Record<string, unknown>): void {
  const show = (v: unknown): string => (v === undefined ? 'not set' : JSON.stringify(v));
  for (const k of new Set([...Object.keys(current), ...Object.keys(stored)])) {
    if (JSON.stringify(stored[k]) !== JSON.stringify(current[k])) {
      throw new ConvLoraError('E_USAGE', `Cannot resume ${dir}: ${k} was ${show(stored[k])}, now ${show(current[k])}. Use the original settings, or a new --out without --resume.`);
    }
  }
}

/**
 * With `resume`, restore the last finished epoch of the run in `dir` (same settings required) into the
 * model, optimizer and EMA shadow; returns its history and the epoch to start from (0 when there is nothing to resume).
 */
export async function resumeRun<H>(dir: string, resume: boolean, fingerprint: Record<string, unknown>, model: Module, opt: Adam | null,
  say: (message: string) => void, ema: Module | null = null): Promise<{ history: H[]; start: number }> {
  if (!resume) return { history: [], start: 0 };
  const prev = await readRunState<H>(dir);
  if (prev === null) {
    say('nothing to resume; starting fresh');
    return { history: [], start: 0 };
  }
  checkFingerprint(dir, prev.fingerprint, fingerprint);
  await restoreRunState(dir, prev, model, opt, ema);
  say(`resuming after epoch ${prev.epochsDone}`);
  return { history: prev.history, start: prev.epochsDone };
}

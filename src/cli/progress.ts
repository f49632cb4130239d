/**
 * A progress bar with ETA on stderr. On a TTY it redraws one line; elsewhere it prints a line at
 * most every `minIntervalMs` (and at the end), so logs stay readable.
 */
export class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private current = 0;
  private extra = '';

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly label: string,
    private readonly total: number,
    private readonly opts: { minIntervalMs?: number; enabled?: boolean } = {},
  ) {}

  /** Advance to `current` (absolute), with an optional live note such as "loss 0.231". */
  update(current: number, extra = ''): void {
    this.current = current;
    this.extra = extra;
    const now = Date.now();
    const tty = this.stream.isTTY === true;
    const interval = this.opts.minIntervalMs ?? (tty ? 100 : 5000);
    if (current < this.total && now - this.lastPrint < interval) return;
    this.lastPrint = now;
    this.render(tty);
  }

  done(extra = this.extra): void {
    this.current = this.total;
    this.extra = extra;
    this.render(this.stream.isTTY === true);
    if (this.stream.isTTY === true && this.opts.enabled !== false) this.stream.write('\n');
  }

  private render(tty: boolean): void {
    if (this.opts.enabled === false) return;
    const frac = this.total > 0 ? Math.min(1, this.current / this.total) : 1;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 - frac) / frac : NaN;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line = `${this.label} [${bar}] ${this.current}/${this.total} ${formatSeconds(elapsed)} elapsed, ETA ${formatSeconds(eta)}${this.extra ? `  ${this.extra}` : ''}`;
    this.stream.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - 60 * m);
  return m < 60 ? `${m}m${String(rest).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

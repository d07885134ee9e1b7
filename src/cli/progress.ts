/** A one-line terminal progress bar (stderr) and human-readable units. */

export function formatBytes(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The first `max` lines of a long list, then how many more there are and where all of them are
 * (a few hundred unreadable images among 120k must not flood the terminal).
 */
export function firstLines(lines: string[], fullList: string, max = 20): string {
  const more = lines.length - max;
  return (
    lines
      .slice(0, max)
      .map((l) => `${l}\n`)
      .join('') + (more > 0 ? `... and ${more} more (all ${lines.length} in ${fullList})\n` : '')
  );
}

/** "path: why" for a skipped image (decode errors already start with the path). */
export function skipReason(s: { path: string; error: string }): string {
  return s.error.startsWith(s.path) ? s.error : `${s.path}: ${s.error}`;
}

export class ProgressBar {
  private start = performance.now();
  private lastLen = 0;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'img',
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  private lastPrinted = -1;

  update(done: number, extra = ''): void {
    // Not a terminal (a log file, CI): a plain line at every 10% instead of redrawing in place.
    const tty = Boolean(this.out.isTTY);
    const decile = this.total ? Math.floor((10 * done) / this.total) : 0;
    if (!tty && decile === this.lastPrinted && done !== this.total) return;
    this.lastPrinted = decile;
    const el = (performance.now() - this.start) / 1000;
    const rate = done / Math.max(el, 1e-9);
    const frac = this.total ? done / this.total : 0;
    const w = 24;
    const bar = '#'.repeat(Math.round(frac * w)).padEnd(w, '.');
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const line =
      `${this.label} ${done}/${this.total} [${bar}] ${(frac * 100).toFixed(0)}% ` +
      `${rate.toFixed(2)} ${this.unit}/s ETA ${formatDuration(eta)}${extra ? ` ${extra}` : ''}`;
    if (tty) this.out.write(`\r${line.padEnd(this.lastLen)}`);
    else this.out.write(`${line}\n`);
    this.lastLen = line.length;
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}

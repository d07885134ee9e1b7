/**
 * Canvas charts for the page, small and dependency-free:
 *   LineChart  a series y(x) (loss or learning rate by step), nice ticks, redrawn on resize
 *   BarChart   grouped bars (Recall@K zero-shot vs fine-tuned) with value labels
 * Drawing cost is proportional to the points on screen: series longer than the canvas is wide
 * are reduced to one min/max pair per pixel column.
 */

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Sizes the canvas backing store to its CSS size times the device pixel ratio. */
function prepare(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; w: number; h: number } | null {
  const rect = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.round(rect.width));
  const h = Math.max(1, Math.round(rect.height));
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  // A software-backed canvas: drawing never waits on the GPU process, which may be busy with the
  // training run's compute work (a GPU-backed 2D canvas can stall the main thread then).
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return null;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, w, h };
}

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick label with as many digits as the tick spacing `step` needs to tell ticks apart. */
function tickText(v: number, step: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  const digits = Math.max(0, Math.floor(Math.log10(a)) - Math.floor(Math.log10(step)));
  if (a < 1e-3 || a >= 1e5) return v.toExponential(Math.min(6, Math.max(1, digits))).replace('e-', 'e−');
  return v.toFixed(Math.min(8, Math.max(0, -Math.floor(Math.log10(step)))));
}

export class LineChart {
  private xs: number[] = [];
  private ys: number[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly color = '--accent',
  ) {
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  clear(): void {
    this.xs = [];
    this.ys = [];
    this.draw();
  }

  /** Adds a point (x ascending); points with x <= the last one replace the tail (a resumed run). */
  add(x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    while (this.xs.length && this.xs[this.xs.length - 1] >= x) {
      this.xs.pop();
      this.ys.pop();
    }
    this.xs.push(x);
    this.ys.push(y);
  }

  get length(): number {
    return this.xs.length;
  }

  draw(): void {
    this.canvas.dataset.points = String(this.xs.length);
    const p = prepare(this.canvas);
    if (!p) return;
    const { ctx, w, h } = p;
    const muted = cssVar('--muted', '#888');
    const line = cssVar('--line', '#ddd');
    const L = 54,
      R = 8,
      T = 6,
      B = 20;
    const pw = w - L - R,
      ph = h - T - B;
    ctx.fillStyle = muted;
    if (this.xs.length === 0) {
      ctx.textAlign = 'center';
      ctx.fillText('no data yet', L + pw / 2, T + ph / 2);
      return;
    }
    const x0 = Math.min(this.xs[0], 0),
      x1 = Math.max(this.xs[this.xs.length - 1], x0 + 1);
    let y0 = Infinity,
      y1 = -Infinity;
    for (const y of this.ys) {
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
    if (y1 - y0 < 1e-12 * Math.max(1, Math.abs(y1))) {
      const pad = Math.abs(y1) * 0.1 || 1;
      y0 -= pad;
      y1 += pad;
    }
    const span = y1 - y0;
    y0 = y0 >= 0 && y0 - span * 0.05 < 0 ? 0 : y0 - span * 0.05;
    y1 += span * 0.05;
    const X = (x: number) => L + ((x - x0) / (x1 - x0)) * pw;
    const Y = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * ph;
    // grid and ticks
    ctx.strokeStyle = line;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const yt = niceTicks(y0, y1);
    const ystep = yt.length > 1 ? yt[1] - yt[0] : Math.abs(yt[0]) || 1;
    for (const t of yt) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(L, y);
      ctx.lineTo(L + pw, y);
      ctx.stroke();
      ctx.fillText(tickText(t, ystep), L - 5, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of niceTicks(x0, x1, Math.max(2, Math.floor(pw / 70)))) {
      if (!Number.isInteger(t)) continue;
      ctx.fillText(String(t), X(t), T + ph + 5);
    }
    // the series, one min/max pair per pixel column when dense
    ctx.strokeStyle = cssVar(this.color, '#1d4ed8');
    ctx.lineWidth = 1.8;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let col = -1,
      lo = 0,
      hi = 0,
      first = true;
    const flush = () => {
      if (col < 0) return;
      if (first) ctx.moveTo(col, Y(lo));
      ctx.lineTo(col, Y(lo));
      if (hi !== lo) ctx.lineTo(col, Y(hi));
      first = false;
    };
    const dense = this.xs.length > pw;
    for (let i = 0; i < this.xs.length; i++) {
      const cx = X(this.xs[i]);
      if (!dense) {
        if (i === 0) ctx.moveTo(cx, Y(this.ys[i]));
        else ctx.lineTo(cx, Y(this.ys[i]));
        continue;
      }
      const c = Math.round(cx);
      if (c !== col) {
        flush();
        col = c;
        lo = hi = this.ys[i];
      } else {
        lo = Math.min(lo, this.ys[i]);
        hi = Math.max(hi, this.ys[i]);
      }
    }
    if (dense) flush();
    ctx.stroke();
    if (this.xs.length === 1) {
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath();
      ctx.arc(X(this.xs[0]), Y(this.ys[0]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

export interface BarGroup {
  label: string;
  values: (number | null)[];
}

export class BarChart {
  private groups: BarGroup[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly colors: string[],
  ) {
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  set(groups: BarGroup[]): void {
    this.groups = groups;
    this.draw();
  }

  draw(): void {
    const p = prepare(this.canvas);
    if (!p) return;
    const { ctx, w, h } = p;
    const muted = cssVar('--muted', '#888');
    const text = cssVar('--text', '#111');
    const L = 34,
      R = 6,
      T = 16,
      B = 20;
    const pw = w - L - R,
      ph = h - T - B;
    ctx.strokeStyle = cssVar('--line', '#ddd');
    ctx.fillStyle = muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const y = Math.round(T + (1 - t) * ph) + 0.5;
      ctx.beginPath();
      ctx.moveTo(L, y);
      ctx.lineTo(L + pw, y);
      ctx.stroke();
      ctx.fillText(`${t * 100}%`, L - 4, y);
    }
    if (!this.groups.length) return;
    const gw = pw / this.groups.length;
    const n = Math.max(...this.groups.map((g) => g.values.length));
    const bw = Math.min(48, (gw * 0.7) / n);
    this.groups.forEach((g, gi) => {
      const cx = L + gw * (gi + 0.5);
      ctx.fillStyle = muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      ctx.fillText(g.label, cx, T + ph + 5);
      g.values.forEach((v, i) => {
        if (v === null) return;
        const x = cx - (n * bw) / 2 + i * bw + 2;
        const bh = Math.max(1, v * ph);
        ctx.fillStyle = cssVar(this.colors[i], '#888');
        ctx.fillRect(x, T + ph - bh, bw - 4, bh);
        ctx.fillStyle = text;
        ctx.textBaseline = 'bottom';
        ctx.fillText(`${(v * 100).toFixed(1)}`, x + (bw - 4) / 2, T + ph - bh - 1);
      });
    });
  }
}

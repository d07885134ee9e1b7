/**
 * LoRA adapters of a Vit, stored for the fused kernels: every adapter's A and B live in ONE GPU
 * buffer (the arena), grouped by the linear they feed, so that
 *   - the adapters reading the same input run together: q|k|v share norm1's output, so their A
 *     matrices are stacked into A_g [R, C] (R = r_q + r_k + r_v) and their B matrices sit in the
 *     block-diagonal B_g [3C, R] of the fused q|k|v linear (block of q: rows [0, C), columns
 *     [0, r_q); k: rows [C, 2C); v: rows [2C, 3C)); the other groups (o, fc1, fc2) hold one
 *     adapter, A_g = A, B_g = B;
 *   - the whole set is one tensor for AdamW and clipping (one dispatch, not two per adapter);
 *     the zero blocks of B_g get zero gradients (the gradient kernel masks them) and stay zero.
 * Forward of group g on input x (PEFT semantics, per adapter s: y_s += scale_s B_s A_s drop_s(x)):
 *   u = [scale_s drop_s(x) A_s^T]_s  [N, R];   y += u B_g^T
 * Module views (`LoraModule`) give each adapter's place: rows [r0, r0 + r) of A_g, block rows
 * [col0, col0 + outF) x columns [r0, r0 + r) of B_g. Layout, reading and writing one adapter
 * (checkpoints, resume) are here; the kernels that use it are recorded by src/model/vit-forward.ts
 * and vit-backward.ts.
 */
import type { Gpu } from '../gpu/device';
import type { VitSpec } from './config';

export const LINEAR_ROLES = ['q', 'k', 'v', 'o', 'fc1', 'fc2'] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];
export type LoraGroupKind = 'qkv' | 'o' | 'fc1' | 'fc2';

/** One adapter (PEFT module) on one linear layer. */
export interface LoraModule {
  layer: number;
  role: LinearRole;
  r: number;
  scale: number;
  dropout: number;
  inF: number;
  outF: number;
  trainable: boolean;
  group: LoraGroup;
  /** First row of its A in A_g (= first column of its block in B_g). */
  r0: number;
  /** First row of its block in B_g (its first output column in the fused linear). */
  col0: number;
}

/** The adapters feeding one (fused) linear of one layer. */
export interface LoraGroup {
  layer: number;
  kind: LoraGroupKind;
  inF: number;
  /** Rows of B_g: the fused linear's output width (3C for q|k|v). */
  outRows: number;
  R: number;
  dropout: number;
  modules: LoraModule[];
  /** Element offsets of A_g [R, inF] and B_g [outRows, R] in the arena. */
  offA: number;
  offB: number;
}

export function groupOf(role: LinearRole): LoraGroupKind {
  return role === 'q' || role === 'k' || role === 'v' ? 'qkv' : role;
}

/** In and out widths of a linear (the fused q|k|v counts as one of width 3C). */
export function linearShape(spec: VitSpec, role: LinearRole): { inF: number; outF: number } {
  const C = spec.hidden,
    I = spec.intermediate;
  if (role === 'fc1') return { inF: C, outF: I };
  if (role === 'fc2') return { inF: I, outF: C };
  return { inF: C, outF: C };
}

/**
 * The arena and its layout. Adding an adapter only lays the groups out again; the GPU buffers
 * are made on first use (`P`), so adding the 24 adapters of a model costs one allocation. An
 * adapter added after that moves the values already on the GPU into the new layout.
 */
export class LoraParams {
  /** Adapters by `layer.<l>.<role>`. */
  readonly modules = new Map<string, LoraModule>();
  groups: LoraGroup[] = [];
  size = 0;
  private bufP: GPUBuffer | null = null;
  private bufDP: GPUBuffer | null = null;
  /** Values not yet on the GPU, by `layer.<l>.<role>`. */
  private pending = new Map<string, { A: Float32Array; B: Float32Array }>();

  constructor(
    readonly gpu: Gpu,
    readonly spec: VitSpec,
  ) {}

  /** Parameters (every A and B), made on first use. */
  get P(): GPUBuffer | null {
    this.build();
    return this.bufP;
  }

  /** Their gradients, laid out alike (null when the adapters are frozen). */
  get dP(): GPUBuffer | null {
    this.build();
    return this.bufDP;
  }

  get trainable(): boolean {
    return [...this.modules.values()].some((m) => m.trainable);
  }

  /** The group of a layer's linear, if it has adapters. */
  group(layer: number, kind: LoraGroupKind): LoraGroup | undefined {
    return this.groups.find((g) => g.layer === layer && g.kind === kind);
  }

  /**
   * Adds (or replaces) an adapter: A [r, in], B [out, r]. Every adapter is trainable or none is;
   * adapters feeding one fused linear share their dropout probability (PEFT's lora_dropout).
   */
  add(
    layer: number,
    role: LinearRole,
    r: number,
    scale: number,
    dropout: number,
    A: Float32Array,
    B: Float32Array,
    trainable: boolean,
  ): LoraModule {
    const { inF, outF } = linearShape(this.spec, role);
    const key = `layer.${layer}.${role}`;
    if (!Number.isInteger(r) || r < 1) throw new Error(`LoRA ${key}: rank ${r} is not a positive integer`);
    if (A.length !== r * inF || B.length !== outF * r) {
      throw new Error(
        `LoRA ${key}: A has ${A.length} values (want ${r}x${inF}), B has ${B.length} (want ${outF}x${r})`,
      );
    }
    const others = [...this.modules.values()].filter((m) => `layer.${m.layer}.${m.role}` !== key);
    if (others.some((m) => m.trainable !== trainable))
      throw new Error(`LoRA ${key}: adapters must all be trainable or all frozen`);
    const peer = others.find((m) => m.layer === layer && groupOf(m.role) === groupOf(role));
    if (peer && peer.dropout !== dropout) {
      throw new Error(
        `LoRA ${key}: dropout ${dropout} differs from ${peer.dropout} of layer.${layer}.${peer.role}, which reads the same input`,
      );
    }
    const old = new Map(this.modules);
    const specs = [...others.map((m) => ({ ...m })), { layer, role, r, scale, dropout, trainable }];
    this.layout(specs);
    this.pending.set(key, { A, B });
    if (this.bufP) this.migrate(old, key);
    return this.modules.get(key)!;
  }

  /** Groups and offsets for a set of adapters (ordered by layer, then q k v o fc1 fc2). */
  private layout(
    specs: { layer: number; role: LinearRole; r: number; scale: number; dropout: number; trainable: boolean }[],
  ): void {
    const spec = this.spec;
    const order = (x: { layer: number; role: LinearRole }) =>
      x.layer * LINEAR_ROLES.length + LINEAR_ROLES.indexOf(x.role);
    specs.sort((a, b) => order(a) - order(b));
    const groups: LoraGroup[] = [];
    this.modules.clear();
    for (const x of specs) {
      const kind = groupOf(x.role);
      let g = groups.find((y) => y.layer === x.layer && y.kind === kind);
      const { inF, outF } = linearShape(spec, x.role);
      if (!g) {
        const outRows = kind === 'qkv' ? 3 * spec.hidden : outF;
        g = { layer: x.layer, kind, inF, outRows, R: 0, dropout: x.dropout, modules: [], offA: 0, offB: 0 };
        groups.push(g);
      }
      const col0 = kind === 'qkv' ? ['q', 'k', 'v'].indexOf(x.role) * spec.hidden : 0;
      const m: LoraModule = {
        layer: x.layer,
        role: x.role,
        r: x.r,
        scale: x.scale,
        dropout: x.dropout,
        inF,
        outF,
        trainable: x.trainable,
        group: g,
        r0: g.R,
        col0,
      };
      g.R += x.r;
      g.modules.push(m);
      this.modules.set(`layer.${x.layer}.${x.role}`, m);
    }
    let off = 0;
    for (const g of groups) {
      g.offA = off;
      off += g.R * g.inF;
      g.offB = off;
      off += g.outRows * g.R;
    }
    this.groups = groups;
    this.size = off;
  }

  /** Makes the arena and writes the pending values (whole groups at once where possible). */
  private build(): void {
    if (this.bufP || this.size === 0) return;
    this.bufP = this.gpu.zeros(this.size, 'lora params');
    this.bufDP = this.trainable ? this.gpu.zeros(this.size, 'lora grads') : null;
    this.flushPending();
  }

  private flushPending(): void {
    for (const g of this.groups) {
      const mine = g.modules.map((m) => this.pending.get(`layer.${m.layer}.${m.role}`));
      if (mine.every((x) => x)) this.writeGroup(g, new Map(g.modules.map((m, i) => [m.role, mine[i]!])));
      else g.modules.forEach((m, i) => mine[i] && this.write(m, mine[i].A, mine[i].B));
    }
    this.pending.clear();
  }

  /** After a layout change with the arena on the GPU: copies every other adapter's values over. */
  private migrate(old: Map<string, LoraModule>, added: string): void {
    const gpu = this.gpu,
      oldP = this.bufP!;
    const P = gpu.zeros(this.size, 'lora params');
    for (const [key, o] of old) {
      if (key === added) continue;
      const m = this.modules.get(key)!;
      gpu.copy(oldP, P, o.r * o.inF * 4, (o.group.offA + o.r0 * o.inF) * 4, (m.group.offA + m.r0 * m.inF) * 4);
      for (let i = 0; i < m.outF; i++) {
        gpu.copy(
          oldP,
          P,
          m.r * 4,
          (o.group.offB + (o.col0 + i) * o.group.R + o.r0) * 4,
          (m.group.offB + (m.col0 + i) * m.group.R + m.r0) * 4,
        );
      }
    }
    gpu.write(P, new Float32Array(0)); // submits the copies before the old arena goes
    oldP.destroy();
    this.bufDP?.destroy();
    this.bufP = P;
    this.bufDP = this.trainable ? gpu.zeros(this.size, 'lora grads') : null;
    this.flushPending();
  }

  /** Writes every adapter of a group (A [r, in], B [out, r] by role) in two writes. */
  writeGroup(g: LoraGroup, values: Map<LinearRole, { A: Float32Array; B: Float32Array }>): void {
    const A = new Float32Array(g.R * g.inF);
    const B = new Float32Array(g.outRows * g.R);
    for (const m of g.modules) {
      const v = values.get(m.role);
      if (!v) throw new Error(`LoRA layer.${m.layer}.${m.role}: no values given`);
      checkSizes(m, v.A, v.B);
      A.set(v.A, m.r0 * m.inF);
      for (let o = 0; o < m.outF; o++) B.set(v.B.subarray(o * m.r, (o + 1) * m.r), (m.col0 + o) * g.R + m.r0);
    }
    this.gpu.write(this.P!, A, g.offA * 4);
    this.gpu.write(this.bufP!, B, g.offB * 4);
  }

  /**
   * Writes one adapter's A [r, in] and B [out, r] into the arena; in a group of several, B goes
   * row by row so the other adapters' columns survive (use `writeGroup` to write them all).
   */
  write(m: LoraModule, A: Float32Array, B: Float32Array): void {
    checkSizes(m, A, B);
    const g = m.group;
    this.gpu.write(this.P!, A, (g.offA + m.r0 * m.inF) * 4);
    if (g.modules.length === 1) {
      this.gpu.write(this.bufP!, B, g.offB * 4);
      return;
    }
    for (let o = 0; o < m.outF; o++) {
      this.gpu.write(this.bufP!, B.subarray(o * m.r, (o + 1) * m.r), (g.offB + (m.col0 + o) * g.R + m.r0) * 4);
    }
  }

  /** Reads an adapter's A [r, in] and B [out, r] back (from the parameters or the gradients). */
  async read(m: LoraModule, which: 'P' | 'dP' = 'P'): Promise<{ A: Float32Array; B: Float32Array }> {
    const buf = which === 'P' ? this.P! : this.dP!;
    const g = m.group;
    const A = await this.gpu.read(buf, m.r * m.inF, g.offA + m.r0 * m.inF);
    const rows = await this.gpu.read(buf, m.outF * g.R, g.offB + m.col0 * g.R);
    const B = new Float32Array(m.outF * m.r);
    for (let o = 0; o < m.outF; o++) B.set(rows.subarray(o * g.R + m.r0, o * g.R + m.r0 + m.r), o * m.r);
    return { A, B };
  }

  /** The row ranges of B_g's blocks for the gradient mask: [r0, r1) per block of outF rows. */
  blockRanges(g: LoraGroup): { rows: number; ranges: [number, number][] } {
    if (g.kind !== 'qkv') return { rows: g.outRows, ranges: [[0, g.R]] };
    const C = this.spec.hidden;
    const ranges = (['q', 'k', 'v'] as const).map((role): [number, number] => {
      const m = g.modules.find((x) => x.role === role);
      return m ? [m.r0, m.r0 + m.r] : [0, 0];
    });
    return { rows: C, ranges };
  }

  zeroGrads(): void {
    if (this.dP) this.gpu.clear(this.dP);
  }

  destroy(): void {
    this.bufP?.destroy();
    this.bufDP?.destroy();
    this.bufP = this.bufDP = null;
  }
}

function checkSizes(m: LoraModule, A: Float32Array, B: Float32Array): void {
  if (A.length !== m.r * m.inF || B.length !== m.outF * m.r) {
    throw new Error(
      `LoRA layer.${m.layer}.${m.role}: A has ${A.length} values (want ${m.r}x${m.inF}), B has ${B.length} (want ${m.outF}x${m.r})`,
    );
  }
}

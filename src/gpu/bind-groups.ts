/**
 * The bind group cache of the dispatch path (src/gpu/device.ts). Pipelines use explicit layouts
 * shared by every shader with the same binding types (src/gpu/pipelines.ts), so a bind group is
 * found by (layout, buffers, ranges, params size). It is kept on its first buffer (the owner:
 * a short list searched on lookup, oldest dropped first) and dropped when any buffer it binds is
 * destroyed. Only buffers made by `gpu.buffer()` carry the state this needs (`track`); a
 * dispatch that binds another buffer gets a fresh group each time.
 */
import { bufferOf } from './records';

/** Cached bind groups kept per owning buffer (oldest dropped first). */
const GROUPS_PER_BUFFER = 32;

/** What `gpu.buffer()` attaches to its buffers: destroyed or not, and the groups using them. */
export interface BufferState {
  dead: boolean;
  /** Cached groups whose first binding is this buffer (searched on lookup). */
  owned: GroupEntry[];
  /** Every cached group that binds this buffer (dropped when it is destroyed). */
  part: GroupEntry[];
  pruneAt: number;
}

/** A bind group and its bindings, flat: (buffer, offset, size) per binding, size -1 for the
 * whole buffer. (The key array is never changed once made: a log may keep it.) */
export interface Bound {
  group: GPUBindGroup | null;
  key: (GPUBuffer | number)[] | null;
}

interface GroupEntry extends Bound {
  layout: GPUBindGroupLayout | null;
  usize: number;
  owner: BufferState;
  dead: boolean;
}

const STATE = Symbol('gpu.buffer state');

export const stateOf = (b: GPUBuffer): BufferState | undefined => (b as { [STATE]?: BufferState })[STATE];

export class BindGroupCache {
  /** Live cached groups (tests check that destroyed buffers leave the cache). */
  count = 0;

  constructor(
    private readonly device: GPUDevice,
    /** The uniform buffer the params are bound from (at each dispatch's dynamic offset). */
    private readonly uniforms: () => GPUBuffer,
  ) {}

  /** Attaches the cache's state to a buffer made by `gpu.buffer()`; call `destroyed` when it goes. */
  track(buf: GPUBuffer): BufferState {
    const state: BufferState = { dead: false, owned: [], part: [], pruneAt: 8 };
    (buf as { [STATE]?: BufferState })[STATE] = state;
    return state;
  }

  /**
   * A fresh (uncached) bind group for a dispatch: `buffers` at bindings 0..n-1, then (when
   * `uoff` >= 0) `usize` bytes of the params uniform, bound at a dynamic offset.
   */
  make(
    buffers: (GPUBuffer | GPUBufferBinding)[],
    layout: GPUBindGroupLayout,
    uoff: number,
    usize: number,
    label: string,
  ): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? b : { buffer: b },
    }));
    if (uoff >= 0) {
      entries.push({ binding: entries.length, resource: { buffer: this.uniforms(), offset: 0, size: usize } });
    }
    return this.device.createBindGroup({ label, layout, entries });
  }

  /**
   * The bind group for a dispatch (see `make`) with its bindings as a flat key: (buffer, offset,
   * size) per binding, size -1 for the whole buffer (the dispatch path's log keeps that key, not
   * the op's array). Cached on its first buffer when every buffer was made by `gpu.buffer()` and
   * is alive; else made afresh.
   */
  get(
    bufs: (GPUBuffer | GPUBufferBinding)[],
    layout: GPUBindGroupLayout,
    uoff: number,
    usize: number,
    label: string,
  ): Bound {
    const b0 = bufs[0];
    // (A GPUBuffer made here carries its state; `'buffer' in` a native object costs more.)
    const owner = b0 && (stateOf(b0 as GPUBuffer) ?? ('buffer' in b0 ? stateOf(b0.buffer) : undefined));
    if (owner && !owner.dead) {
      const owned = owner.owned,
        nb = bufs.length;
      search: for (let j = 0; j < owned.length; j++) {
        const e = owned[j];
        if (e.layout !== layout || e.usize !== usize) continue;
        const key = e.key!;
        for (let i = 0, k = 0; i < nb; i++, k += 3) {
          const b = bufs[i];
          if (key[k] === b) {
            if (key[k + 1] !== 0 || key[k + 2] !== -1) continue search; // b is the whole buffer
          } else {
            const bb = b as GPUBufferBinding; // a range (bb.buffer is undefined for a GPUBuffer)
            if (key[k] !== bb.buffer || key[k + 1] !== (bb.offset ?? 0) || key[k + 2] !== (bb.size ?? -1))
              continue search;
          }
        }
        return e;
      }
    }
    const states: BufferState[] = [];
    const key: (GPUBuffer | number)[] = [];
    let cacheable = !!owner && !owner.dead;
    for (const b of bufs) {
      const buf = bufferOf(b);
      const st = stateOf(buf);
      if (!st || st.dead) cacheable = false;
      else if (!states.includes(st)) states.push(st);
      const range = buf !== b ? (b as GPUBufferBinding) : null;
      key.push(buf, range ? (range.offset ?? 0) : 0, range ? (range.size ?? -1) : -1);
    }
    const group = this.make(bufs, layout, uoff, usize, label);
    if (!cacheable) return { group, key };
    const entry: GroupEntry = { layout, usize, key, group, owner: owner!, dead: false };
    owner!.owned.push(entry);
    if (owner!.owned.length > GROUPS_PER_BUFFER) this.kill(owner!.owned.shift()!);
    for (const st of states) {
      st.part.push(entry);
      if (st.part.length >= st.pruneAt) {
        st.part = st.part.filter((e) => !e.dead);
        st.pruneAt = Math.max(8, 2 * st.part.length);
      }
    }
    this.count++;
    return entry;
  }

  /** A buffer was destroyed: drop every cached group that binds it. */
  destroyed(st: BufferState): void {
    st.dead = true;
    for (const e of st.part) {
      if (e.dead) continue;
      this.kill(e);
      const i = e.owner.owned.indexOf(e);
      if (i >= 0) e.owner.owned.splice(i, 1);
    }
    st.part = [];
    st.owned = [];
  }

  private kill(e: GroupEntry): void {
    if (e.dead) return;
    e.dead = true;
    e.group = null;
    e.key = null;
    e.layout = null;
    this.count--;
  }
}

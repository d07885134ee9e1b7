/**
 * safetensors reader and writer (our own; the format is small):
 *   [u64 little-endian header length N][N bytes of UTF-8 JSON header][data]
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
 * the start of the data), plus an optional "__metadata__" map of strings. Data is C-contiguous,
 * little-endian. Supported dtypes: F32, F16, BF16 (upcast to f32 on read), I64, I32, U8.
 *
 * The reader refuses, naming the file and the tensor: a header that runs past the end, invalid
 * JSON, an unknown dtype, a byte size that disagrees with the shape, offsets out of range,
 * overlapping offsets, and holes between tensors. Tensors are looked up by name, never by position.
 */
import { VembedError } from '../util/errors';

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export class SafetensorsError extends VembedError {
  override name = 'SafetensorsError';
}

/** Maximum header size we accept (the reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

export class SafetensorsFile {
  readonly file: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private readonly bytes: Uint8Array;

  private constructor(
    file: string,
    bytes: Uint8Array,
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
  ) {
    this.file = file;
    this.bytes = bytes;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Parses and validates a whole file held in memory. `file` is used in error messages. */
  static parse(data: ArrayBuffer | Uint8Array, file = '<memory>'): SafetensorsFile {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${file}: ${msg}`);
    };
    if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n64 = dv.getBigUint64(0, true);
    if (n64 > BigInt(bytes.length - 8)) {
      fail(`header length ${n64} runs past the end of the file (${bytes.length} bytes)`);
    }
    const n = Number(n64);
    if (n > MAX_HEADER) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))) as Record<
        string,
        unknown
      >;
    } catch (e) {
      return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      fail('header is not a JSON object');
    }
    const dataStart = 8 + n;
    const dataLen = bytes.length - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (
          typeof v !== 'object' ||
          v === null ||
          Array.isArray(v) ||
          !Object.values(v).every((s) => typeof s === 'string')
        ) {
          fail('"__metadata__" must be an object of strings');
        }
        metadata = v as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const where = `tensor "${name}"`;
      if (typeof t !== 'object' || t === null) fail(`${where}: entry is not an object`);
      if (typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) {
        fail(`${where}: unknown dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
      }
      const dtype = t.dtype as Dtype;
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        fail(`${where}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
      }
      const shape = t.shape as number[];
      const off = t.data_offsets;
      if (
        !Array.isArray(off) ||
        off.length !== 2 ||
        !off.every((o) => Number.isInteger(o) && o >= 0) ||
        off[1] < off[0]
      ) {
        fail(`${where}: data_offsets ${JSON.stringify(off)} is not [begin, end] with begin <= end`);
      }
      const [b, e] = off as [number, number];
      if (e > dataLen) fail(`${where}: data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes)`);
      const want = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
      if (e - b !== want) {
        fail(`${where}: ${e - b} bytes for ${dtype} shape [${shape.join(', ')}], which needs ${want}`);
      }
      tensors.set(name, { name, dtype, shape, begin: dataStart + b, end: dataStart + e });
    }
    // Offsets must tile the data exactly: no overlaps, no holes.
    const sorted = [...tensors.values()].sort((x, y) => x.begin - y.begin || x.end - y.end);
    let pos = dataStart;
    for (const t of sorted) {
      if (t.begin < pos) fail(`tensor "${t.name}": data overlaps the previous tensor`);
      if (t.begin > pos) fail(`tensor "${t.name}": hole of ${t.begin - pos} bytes before its data`);
      pos = t.end;
    }
    if (pos !== bytes.length) fail(`${bytes.length - pos} trailing bytes after the last tensor`);
    return new SafetensorsFile(file, bytes, tensors, metadata);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.file}: no tensor named "${name}"`);
    return t;
  }

  /** Raw little-endian bytes of a tensor (a view, not a copy). */
  raw(name: string): Uint8Array {
    const t = this.info(name);
    return this.bytes.subarray(t.begin, t.end);
  }

  /** A float tensor as f32 (F16 and BF16 are upcast; integer dtypes are refused). */
  f32(name: string): Float32Array {
    const t = this.info(name);
    const raw = this.raw(name);
    const n = t.shape.reduce((a, d) => a * d, 1);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(n);
    switch (t.dtype) {
      case 'F32':
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
        return out;
      case 'BF16': {
        const u = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
        return out;
      }
      case 'F16':
        for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
        return out;
      default:
        throw new SafetensorsError(`${this.file}: tensor "${name}" has dtype ${t.dtype}, not a float type`);
    }
  }

  /** An I64 tensor as BigInt64Array. */
  i64(name: string): BigInt64Array {
    const t = this.info(name);
    if (t.dtype !== 'I64') throw new SafetensorsError(`${this.file}: tensor "${name}" has dtype ${t.dtype}, not I64`);
    const raw = this.raw(name);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new BigInt64Array(raw.length / 8);
    for (let i = 0; i < out.length; i++) out[i] = dv.getBigInt64(8 * i, true);
    return out;
  }
}

/** IEEE half -> float (handles subnormals, inf, NaN). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float -> IEEE half, round to nearest even. */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** float -> bfloat16 bits, round to nearest even (as torch does). */
export function f32ToBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface TensorToWrite {
  name: string;
  dtype?: Dtype; // default F32
  shape: number[];
  data: Float32Array | Float64Array | number[] | BigInt64Array | Int32Array | Uint8Array;
}

/**
 * Writes a safetensors file. Tensors are stored in name order; the header is padded with spaces
 * to a multiple of 8 bytes, as the reference implementation does.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  const sizes: number[] = [];
  for (const t of sorted) {
    const dtype = t.dtype ?? 'F32';
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== n) {
      throw new SafetensorsError(
        `tensor "${t.name}": ${t.data.length} values for shape [${t.shape.join(', ')}] (${n})`,
      );
    }
    if (header[t.name] !== undefined) throw new SafetensorsError(`tensor "${t.name}" given twice`);
    const size = n * DTYPE_BYTES[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + size] };
    sizes.push(size);
    off += size;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  json += ' '.repeat(pad);
  hb = enc.encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  sorted.forEach((t, k) => {
    const dtype = t.dtype ?? 'F32';
    const d = t.data as ArrayLike<number | bigint>;
    const n = d.length;
    for (let i = 0; i < n; i++) {
      const v = d[i];
      switch (dtype) {
        case 'F32':
          dv.setFloat32(pos + 4 * i, Number(v), true);
          break;
        case 'F16':
          dv.setUint16(pos + 2 * i, f32ToF16(Number(v)), true);
          break;
        case 'BF16':
          dv.setUint16(pos + 2 * i, f32ToBf16(Number(v)), true);
          break;
        case 'I64':
          dv.setBigInt64(pos + 8 * i, BigInt(v), true);
          break;
        case 'I32':
          dv.setInt32(pos + 4 * i, Number(v), true);
          break;
        case 'U8':
          dv.setUint8(pos + i, Number(v));
          break;
      }
    }
    pos += sizes[k];
  });
  return out;
}

/**
 * A reader for the ZIP archives that PyTorch's torch.save writes (our own; browser and Node):
 * entries stored without compression (method 0), found through the central directory, ZIP64
 * included (files over 4 GiB). Each entry's CRC-32 is checked the first time it is read, so a
 * damaged download is an error naming the file and the entry, never silently wrong weights.
 *
 *   const zip = ZipArchive.parse(bytes, 'pytorch_model.bin');
 *   zip.names()              entry names, in directory order
 *   zip.read('archive/data.pkl')   the entry's bytes (a view into `bytes`, not a copy)
 *
 * Refused, with the file and the entry named: a missing end-of-central-directory record,
 * compressed or encrypted entries, entries or headers that run past the end of the file, and a
 * CRC-32 mismatch.
 */
import { VembedError } from '../util/errors';

export class ZipError extends VembedError {
  override name = 'ZipError';
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  size: number;
  /** Start of the entry's data (after its local header). */
  start: number;
  checked: boolean;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOC64 = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

let crcTable: Uint32Array | null = null;
/** CRC-32 (the ZIP / IEEE polynomial), table-driven. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when the bytes start like a ZIP archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export class ZipArchive {
  private constructor(
    readonly file: string,
    private readonly bytes: Uint8Array,
    private readonly entries: Map<string, Entry>,
  ) {}

  static parse(bytes: Uint8Array, file = '<memory>'): ZipArchive {
    const fail = (msg: string): never => {
      throw new ZipError(`${file}: ${msg}`);
    };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const u16 = (o: number) => dv.getUint16(o, true);
    const u32 = (o: number) => dv.getUint32(o, true);
    const u64 = (o: number) => {
      const v = dv.getBigUint64(o, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a ZIP64 field at byte ${o} is too large`);
      return Number(v);
    };
    // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end.
    let eocd = -1;
    for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 0xffff); o--) {
      if (u32(o) === SIG_EOCD && o + 22 + u16(o + 20) === bytes.length) {
        eocd = o;
        break;
      }
    }
    if (eocd < 0)
      fail(
        `not a ZIP archive, or cut short (no end-of-central-directory record in its last ${Math.min(bytes.length, 22 + 0xffff)} bytes)`,
      );
    let count = u16(eocd + 10);
    let dirSize = u32(eocd + 12);
    let dirStart = u32(eocd + 16);
    if (count === 0xffff || dirSize === 0xffffffff || dirStart === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || u32(loc) !== SIG_LOC64) fail('ZIP64 fields without a ZIP64 end-of-central-directory locator');
      const e64 = u64(loc + 8);
      if (e64 + 56 > bytes.length || u32(e64) !== SIG_EOCD64)
        fail(`no ZIP64 end-of-central-directory record at byte ${e64}`);
      count = u64(e64 + 32);
      dirSize = u64(e64 + 40);
      dirStart = u64(e64 + 48);
    }
    if (dirStart + dirSize > bytes.length)
      fail(
        `the central directory (bytes ${dirStart}..${dirStart + dirSize}) runs past the end of the file (${bytes.length} bytes)`,
      );
    const entries = new Map<string, Entry>();
    const dec = new TextDecoder('utf-8');
    let p = dirStart;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dirStart + dirSize || u32(p) !== SIG_CENTRAL)
        fail(`central directory entry ${i} at byte ${p} is damaged`);
      const flags = u16(p + 8);
      const method = u16(p + 10);
      const crc = u32(p + 16);
      let csize = u32(p + 20);
      let size = u32(p + 24);
      const nameLen = u16(p + 28);
      const extraLen = u16(p + 30);
      const commentLen = u16(p + 32);
      let local = u32(p + 42);
      const name = dec.decode(bytes.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: the 0xffffffff fields, in order size, csize, offset.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = u16(x);
        const len = u16(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          if (size === 0xffffffff) {
            size = u64(q);
            q += 8;
          }
          if (csize === 0xffffffff) {
            csize = u64(q);
            q += 8;
          }
          if (local === 0xffffffff) local = u64(q);
        }
        x += 4 + len;
      }
      if (flags & 1) fail(`entry "${name}" is encrypted`);
      if (method !== 0)
        fail(`entry "${name}" is compressed (method ${method}); PyTorch writes stored entries (method 0)`);
      if (csize !== size) fail(`entry "${name}": stored size ${csize} differs from its size ${size}`);
      if (local + 30 > bytes.length || u32(local) !== SIG_LOCAL)
        fail(`entry "${name}": no local header at byte ${local}`);
      const start = local + 30 + u16(local + 26) + u16(local + 28);
      if (start + size > bytes.length)
        fail(
          `entry "${name}" (${size} bytes at byte ${start}) runs past the end of the file (${bytes.length} bytes): cut short?`,
        );
      entries.set(name, { name, method, flags, crc, size, start, checked: false });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipArchive(file, bytes, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  size(name: string): number {
    return this.entry(name).size;
  }

  /** The entry's bytes (a view), its CRC-32 checked on the first read. */
  read(name: string): Uint8Array {
    const e = this.entry(name);
    const data = this.bytes.subarray(e.start, e.start + e.size);
    if (!e.checked) {
      const c = crc32(data);
      if (c !== e.crc) {
        throw new ZipError(
          `${this.file}: entry "${name}" is damaged (CRC-32 ${c.toString(16)}, the archive says ${e.crc.toString(16)}): download the file again`,
        );
      }
      e.checked = true;
    }
    return data;
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`${this.file}: no entry "${name}" in the archive`);
    return e;
  }
}

/**
 * PyTorch checkpoint files (`pytorch_model.bin`, `adapter_model.bin`, `*.pt`, `*.pth`) as written
 * by torch.save, read without Python and without running anything from the file (browser and
 * Node). Both of torch.save's formats:
 *   zip (PyTorch >= 1.6):  <prefix>/data.pkl (the pickle), <prefix>/data/<key> (one entry per
 *                          storage, raw little-endian), <prefix>/byteorder, <prefix>/version
 *   legacy (older):        pickles of the magic number, the protocol version and the system info,
 *                          the main pickle, the list of storage keys, then per key an int64
 *                          element count and the raw data
 * The pickle is read by src/io/pickle.ts with the fixed allow-list of globals of
 * src/io/torch-pickle.ts (torch's tensor rebuild functions, its storage types and
 * collections.OrderedDict); anything else is refused (src/io/pickle.ts names the import and the byte).
 *
 * The result looks like a SafetensorsFile to its readers (TensorFile in src/io/tensor-file.ts):
 * `tensors` by name with dtype and shape, `f32(name)` (F32, F64, F16, BF16 converted; strided and
 * offset views, stride-0 expansions and tensors sharing one storage all read element by element
 * from their storage). The state dict is the top-level dict, or the dict under "state_dict" or
 * "model" when the top level holds no tensor. Every view is checked against its storage's size
 * when the file is opened, so errors name the file and the tensor.
 */
import { PickleError, isTuple, unpickle, type PyValue } from './pickle';
import { f16ToF32 } from './safetensors';
import {
  TorchBinError,
  build,
  describe,
  isView,
  resolveGlobal,
  storageType,
  type Storage,
  type TensorView,
  type TorchDtype,
} from './torch-pickle';
import { looksLikeZip, ZipArchive } from './zip';

export { TorchBinError, type TorchDtype } from './torch-pickle';

/** A tensor: a strided view into a storage (as torch keeps it). */
export interface TorchTensorInfo {
  name: string;
  dtype: TorchDtype;
  shape: number[];
  stride: number[];
  /** In elements of the storage. */
  offset: number;
  storage: string;
}

export class TorchBinFile {
  /** Use TorchBinFile.parse. */
  constructor(
    readonly file: string,
    readonly tensors: Map<string, TorchTensorInfo>,
    /** @internal */ private readonly views: Map<string, TensorView>,
    /** "zip" or "legacy". */
    readonly format: 'zip' | 'legacy',
  ) {}

  /** Parses a torch.save file held in memory. `file` names it in error messages. */
  static parse(data: ArrayBuffer | Uint8Array, file = '<memory>'): TorchBinFile {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    try {
      return looksLikeZip(bytes) ? parseZip(bytes, file) : parseLegacy(bytes, file);
    } catch (e) {
      if (e instanceof TorchBinError || e instanceof PickleError) throw e;
      throw new TorchBinError(
        (e as Error).message.startsWith(file) ? (e as Error).message : `${file}: ${(e as Error).message}`,
      );
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TorchTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new TorchBinError(`${this.file}: no tensor named "${name}"`);
    return t;
  }

  /** A float tensor as f32, C-contiguous (F64 rounded, F16 and BF16 upcast; integers refused). */
  f32(name: string): Float32Array {
    const t = this.info(name);
    const v = this.views.get(name)!;
    const raw = v.storage.bytes();
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const read: (i: number) => number =
      t.dtype === 'F32'
        ? (i) => dv.getFloat32(4 * i, true)
        : t.dtype === 'F64'
          ? (i) => dv.getFloat64(8 * i, true)
          : t.dtype === 'F16'
            ? (i) => f16ToF32(dv.getUint16(2 * i, true))
            : t.dtype === 'BF16'
              ? (i) => {
                  bf[0] = dv.getUint16(2 * i, true) << 16;
                  return bff[0];
                }
              : () => {
                  throw new TorchBinError(`${this.file}: tensor "${name}" has dtype ${t.dtype}, not a float type`);
                };
    const bf = new Uint32Array(1);
    const bff = new Float32Array(bf.buffer);
    const n = t.shape.reduce((a, d) => a * d, 1);
    const out = new Float32Array(n);
    if (n === 0) return out;
    const nd = t.shape.length;
    // Walk the view in C order with an index counter; the innermost dimension is a plain loop.
    const idx = new Array<number>(nd).fill(0);
    const inner = nd ? t.shape[nd - 1] : 1;
    const innerStride = nd ? t.stride[nd - 1] : 0;
    let base = t.offset;
    for (let o = 0; o < n; o += inner) {
      for (let j = 0; j < inner; j++) out[o + j] = read(base + j * innerStride);
      for (let d = nd - 2; d >= 0; d--) {
        idx[d]++;
        base += t.stride[d];
        if (idx[d] < t.shape[d]) break;
        base -= t.stride[d] * t.shape[d];
        idx[d] = 0;
      }
    }
    return out;
  }
}

/** Collects the tensors of the unpickled state dict and checks each view against its storage. */
function collect(file: string, root: PyValue, format: 'zip' | 'legacy'): TorchBinFile {
  if (!(root instanceof Map))
    throw new TorchBinError(`${file}: the file holds ${describe(root)}, not a dict of tensors (a state_dict)`);
  let dict = root;
  const hasTensor = (m: Map<PyValue, PyValue>) => [...m.values()].some(isView);
  if (!hasTensor(dict)) {
    for (const k of ['state_dict', 'model']) {
      const inner = dict.get(k);
      if (inner instanceof Map && hasTensor(inner)) {
        dict = inner;
        break;
      }
    }
  }
  const tensors = new Map<string, TorchTensorInfo>();
  const views = new Map<string, TensorView>();
  for (const [k, v] of dict) {
    if (!isView(v)) continue; // e.g. numbers saved next to the weights
    if (typeof k !== 'string')
      throw new TorchBinError(`${file}: a tensor is stored under the key ${describe(k)}, not a name`);
    const n = v.shape.reduce((a, d) => a * d, 1);
    if (n > 0) {
      const last = v.offset + v.shape.reduce((a, d, i) => a + (d - 1) * v.stride[i], 0);
      if (last >= v.storage.numel) {
        throw new TorchBinError(
          `${file}: tensor "${k}" (shape [${v.shape.join(', ')}], stride [${v.stride.join(', ')}], offset ${v.offset}) reaches ` +
            `element ${last} of storage "${v.storage.key}", which has ${v.storage.numel}`,
        );
      }
    }
    tensors.set(k, {
      name: k,
      dtype: v.storage.dtype,
      shape: v.shape,
      stride: v.stride,
      offset: v.offset,
      storage: v.storage.key,
    });
    views.set(k, v);
  }
  if (tensors.size === 0)
    throw new TorchBinError(
      `${file}: no tensors in the file's dict (keys: ${[...dict.keys()].slice(0, 5).map(describe).join(', ')})`,
    );
  return new TorchBinFile(file, tensors, views, format);
}

function parseZip(bytes: Uint8Array, file: string): TorchBinFile {
  const zip = ZipArchive.parse(bytes, file);
  const pkls = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length !== 1) {
    throw new TorchBinError(
      `${file}: a ZIP archive but not a PyTorch file (${pkls.length === 0 ? 'no' : `${pkls.length}`} <name>/data.pkl entries; found ${zip.names().slice(0, 5).join(', ')})`,
    );
  }
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  if (zip.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little')
      throw new TorchBinError(`${file}: byteorder "${order}"; only little-endian files are supported`);
  }
  const storages = new Map<string, Storage>();
  const { value } = unpickle(zip.read(pkls[0]), {
    file: `${file}:${pkls[0]}`,
    resolveGlobal,
    build,
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel)
      if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage')
        throw new Error(`persistent id ${describe(pid)} is not ('storage', type, key, location, numel)`);
      const [, type, key, , numel] = pid;
      if (typeof key !== 'string') throw new Error(`storage key ${describe(key)} is not a string`);
      const t = storageType(type, file);
      let s = storages.get(key);
      if (!s) {
        const entry = `${prefix}data/${key}`;
        if (!zip.has(entry)) throw new Error(`storage "${key}" has no entry ${entry} in the archive`);
        const size = zip.size(entry);
        if (size % t.bytes)
          throw new Error(`storage "${key}": ${size} bytes is not a whole number of ${t.dtype} elements`);
        s = { key, dtype: t.dtype, itemBytes: t.bytes, numel: size / t.bytes, bytes: () => zip.read(entry) };
        storages.set(key, s);
      } else if (s.dtype !== t.dtype) {
        throw new Error(`storage "${key}" is used as ${s.dtype} and as ${t.dtype}`);
      }
      if (typeof numel === 'number' && numel > s.numel)
        throw new Error(`storage "${key}" should hold ${numel} elements but its entry has ${s.numel}`);
      return s;
    },
  });
  return collect(file, value, 'zip');
}

/** torch.save's magic number, first pickle of the legacy format. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function parseLegacy(bytes: Uint8Array, file: string): TorchBinFile {
  if (bytes.length < 2 || bytes[0] !== 0x80) {
    throw new TorchBinError(
      `${file}: neither a PyTorch ZIP archive nor a legacy torch.save file (it starts with bytes ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`,
    );
  }
  const dataOnly = { file, resolveGlobal: () => null };
  let p = 0;
  const magic = unpickle(bytes, dataOnly, p);
  if (magic.value !== LEGACY_MAGIC)
    throw new TorchBinError(
      `${file}: starts with a pickle but not with torch.save's magic number (a pickle of ${describe(magic.value)}); not a PyTorch file`,
    );
  const version = unpickle(bytes, dataOnly, magic.end);
  if (version.value !== 1001)
    throw new TorchBinError(
      `${file}: legacy torch.save protocol version ${describe(version.value)}; only 1001 is known`,
    );
  const sysInfo = unpickle(bytes, dataOnly, version.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false)
    throw new TorchBinError(`${file}: written on a big-endian machine; only little-endian files are supported`);
  p = sysInfo.end;
  const pending = new Map<string, Storage & { start: number }>();
  const main = unpickle(
    bytes,
    {
      file,
      resolveGlobal,
      build,
      persistentLoad(pid) {
        // ('storage', storage_type, root_key, location, numel, view_metadata)
        if (!isTuple(pid) || pid.length !== 6 || pid[0] !== 'storage')
          throw new Error(`persistent id ${describe(pid)} is not ('storage', type, key, location, numel, view)`);
        const [, type, key, , numel, view] = pid;
        if (typeof key !== 'string' || typeof numel !== 'number')
          throw new Error(`persistent id ${describe(pid)}: key or size of the wrong type`);
        if (view !== null)
          throw new Error(`storage "${key}" is a view of another storage (torch < 1.0 files); not supported`);
        const t = storageType(type, file);
        let s = pending.get(key);
        if (!s) {
          const entry: Storage & { start: number } = {
            key,
            dtype: t.dtype,
            itemBytes: t.bytes,
            numel,
            start: -1,
            bytes: () => bytes.subarray(entry.start, entry.start + entry.numel * entry.itemBytes),
          };
          pending.set(key, (s = entry));
        }
        return s;
      },
    },
    p,
  );
  const keys = unpickle(bytes, dataOnly, main.end);
  if (!Array.isArray(keys.value)) throw new TorchBinError(`${file}: the storage key list is ${describe(keys.value)}`);
  p = keys.end;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys.value) {
    const s = pending.get(String(k));
    if (!s) throw new TorchBinError(`${file}: storage "${String(k)}" is listed but no tensor uses it`);
    if (p + 8 > bytes.length) throw new TorchBinError(`${file}: cut short before storage "${s.key}"`);
    const n = Number(dv.getBigInt64(p, true));
    if (n !== s.numel)
      throw new TorchBinError(`${file}: storage "${s.key}" has ${n} elements, the pickle says ${s.numel}`);
    s.start = p + 8;
    p = s.start + n * s.itemBytes;
    if (p > bytes.length)
      throw new TorchBinError(
        `${file}: storage "${s.key}" (${n} x ${s.dtype}) runs past the end of the file: cut short?`,
      );
  }
  for (const s of pending.values())
    if (s.start < 0) throw new TorchBinError(`${file}: storage "${s.key}" is used but its data is not in the file`);
  if (p !== bytes.length) throw new TorchBinError(`${file}: ${bytes.length - p} bytes after the last storage`);
  return collect(file, main.value, 'legacy');
}

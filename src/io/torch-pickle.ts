/**
 * What a torch.save pickle may contain, for src/io/torch-bin.ts: the storage types, the tensor
 * views REDUCE rebuilds, and the fixed allow-list of globals handed to src/io/pickle.ts:
 *   torch._utils._rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter,
 *   _rebuild_parameter_with_state   -> a tensor view (storage, offset, shape, strides)
 *   torch.<Dtype>Storage, torch.UntypedStorage  -> the storage's element type
 *   collections.OrderedDict          -> a dict (BUILD may set its attributes, e.g. _metadata)
 * Anything else resolves to null, and src/io/pickle.ts refuses it (naming the import and the byte).
 * A view is checked against its storage's size by src/io/torch-bin.ts when the file is opened.
 */
import { isTuple, pyCallable, type PyCallable, type PyValue } from './pickle';
import { VembedError } from '../util/errors';

export class TorchBinError extends VembedError {
  override name = 'TorchBinError';
}

export type TorchDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
  UntypedStorage: { dtype: 'U8', bytes: 1 },
};

interface StorageType extends PyCallable {
  readonly storage: { dtype: TorchDtype; bytes: number };
}

/** One storage: raw bytes and its element type. */
export interface Storage {
  key: string;
  dtype: TorchDtype;
  itemBytes: number;
  numel: number;
  bytes(): Uint8Array;
}

/** What the rebuild functions return: a strided view into a storage (offset in elements). */
export interface TensorView {
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}
export const isView = (v: unknown): v is TensorView =>
  typeof v === 'object' && v !== null && 'storage' in v && 'stride' in v;

/** Python-ish description of a value, for error messages. */
export function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (isTuple(v)) return `a tuple of ${v.length}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (isView(v)) return 'a tensor';
  return 'an object';
}

const intList = (v: PyValue, what: string): number[] => {
  if (!isTuple(v) && !Array.isArray(v)) throw new Error(`${what} is ${describe(v)}, expected a tuple of integers`);
  return (v as PyValue[]).map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
      throw new Error(`${what} holds ${describe(x)}, expected non-negative integers`);
    return x;
  });
};

function rebuildTensor(args: readonly PyValue[]): TensorView {
  const [storage, offset, size, stride] = args;
  if (!storage || typeof storage !== 'object' || !('numel' in (storage as object)))
    throw new Error(`the storage argument is ${describe(storage)}`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw new Error(`storage offset ${describe(offset)} is not a non-negative integer`);
  const shape = intList(size, 'the size');
  const strides = intList(stride, 'the stride');
  if (shape.length !== strides.length)
    throw new Error(`size (${shape.length} dims) and stride (${strides.length} dims) disagree`);
  return { storage: storage as Storage, offset, shape, stride: strides };
}

/** The fixed allow-list of globals. */
export function resolveGlobal(module: string, name: string): PyCallable | null {
  const full = `${module}.${name}`;
  if (module === 'collections' && name === 'OrderedDict') {
    return pyCallable(full, (args) => {
      if (args.length === 0) return new Map();
      const [items] = args;
      const m = new Map<PyValue, PyValue>();
      if (Array.isArray(items))
        for (const kv of items) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0] as PyValue, kv[1] as PyValue);
      return m;
    });
  }
  if (module === 'torch._utils') {
    switch (name) {
      case '_rebuild_tensor_v2': // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
      case '_rebuild_tensor': //    (storage, offset, size, stride)
        return pyCallable(full, (args) => rebuildTensor(args));
      case '_rebuild_parameter': // (data, requires_grad, backward_hooks)
      case '_rebuild_parameter_with_state': // (data, requires_grad, backward_hooks, state)
        return pyCallable(full, (args) => {
          if (!isView(args[0])) throw new Error(`the data is ${describe(args[0])}, expected a tensor`);
          return args[0];
        });
    }
    return null;
  }
  if (module === 'torch' && STORAGE_TYPES[name]) {
    const t: StorageType = {
      pyName: full,
      storage: STORAGE_TYPES[name],
      call: () => {
        throw new Error('a storage type cannot be called');
      },
    };
    return t;
  }
  return null;
}

/** BUILD on an OrderedDict: its attributes (state_dict's `_metadata`), kept aside. */
export function build(obj: PyValue, state: PyValue): boolean {
  return obj instanceof Map && (state instanceof Map || state === null);
}

/** The element type a persistent id names (a torch.<Dtype>Storage the allow-list resolved). */
export function storageType(t: PyValue, file: string): { dtype: TorchDtype; bytes: number } {
  const s = (t as StorageType | null)?.storage;
  if (!s)
    throw new TorchBinError(
      `${file}: a storage of type ${describe(t)}; expected one of torch.${Object.keys(STORAGE_TYPES).join(', torch.')}`,
    );
  return s;
}

/**
 * A restricted reader of Python pickles (our own; browser and Node). It rebuilds plain data
 * (None, bools, ints, floats, str, bytes, tuples, lists, dicts) and nothing else by itself:
 * every GLOBAL / STACK_GLOBAL is looked up in the caller's fixed allow-list (src/io/torch-bin.ts
 * allows torch's tensor rebuild functions, storage types and collections.OrderedDict), and
 * REDUCE / BUILD apply only what that list returned. No code from the file ever runs: an import
 * that is not on the list (os.system, builtins.eval, ...) is refused before anything is called,
 * with the file, the byte offset and the name.
 *
 * Opcodes read (a fixed list): what torch.save emits with pickle protocols 2 to 5 (PROTO, FRAME,
 * MARK, STOP, the BININT / LONG1 / BINFLOAT numbers, NONE / NEWTRUE / NEWFALSE, BINUNICODE and
 * SHORT_BINUNICODE strings, tuples, lists, dicts, the memo, GLOBAL, STACK_GLOBAL, REDUCE, BUILD,
 * BINPERSID) and their plain-data siblings (LONG4, BINUNICODE8, BINBYTES, SHORT_BINBYTES,
 * BINBYTES8, BINSTRING, SHORT_BINSTRING, POP, POP_MARK, DUP, LONG_BINGET, LONG_BINPUT,
 * EMPTY_LIST, APPEND(S)). Everything else (object construction: INST, OBJ, NEWOBJ, NEWOBJ_EX;
 * the extension registry EXT1/2/4; out-of-band buffers; protocol 0's text opcodes) is refused.
 * The opcode tables are in ./pickle-opcodes.ts.
 *
 * Values (./pickle-values.ts, re-exported here): None -> null, int -> number (bigint beyond 2^53),
 * float -> number, str -> string, bytes -> Uint8Array, tuple -> PyTuple (a frozen array),
 * list -> array, dict -> Map.
 */
import { OPCODES, REFUSED } from './pickle-opcodes';
import { PickleError, isTuple, tuple, type PyCallable, type PyTuple, type PyValue } from './pickle-values';

export { PickleError, isTuple, pyCallable, type PyCallable, type PyTuple, type PyValue } from './pickle-values';

export interface UnpickleOptions {
  /** For error messages. */
  file: string;
  /** The allow-list: returns what `module.name` means, or null to refuse it. */
  resolveGlobal(module: string, name: string): PyCallable | null;
  /** BINPERSID: turns a persistent id into a value (torch: a storage). Refused when absent. */
  persistentLoad?(pid: PyValue): PyValue;
  /** BUILD: sets the state of an object an allowed callable made; refused unless this accepts. */
  build?(obj: PyValue, state: PyValue): boolean;
}

const MARK = Symbol('mark');

/** Reads one pickle from `bytes` at `offset`; returns the value and the offset after STOP. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, offset = 0): { value: PyValue; end: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let stack: (PyValue | typeof MARK)[] = [];
  const marks: (PyValue | typeof MARK)[][] = [];
  const memo = new Map<number, PyValue>();
  let p = offset;
  let at = offset;
  const fail = (msg: string): never => {
    throw new PickleError(`${opts.file}: pickle byte ${at}: ${msg}`);
  };
  const need = (n: number) => {
    if (n < 0 || p + n > bytes.length)
      fail(`${OPCODES[bytes[at]] ?? 'opcode'} needs ${n} bytes but the data ends at byte ${bytes.length}`);
  };
  const u8 = () => (need(1), bytes[p++]);
  const u16 = () => (need(2), (p += 2), dv.getUint16(p - 2, true));
  const i32 = () => (need(4), (p += 4), dv.getInt32(p - 4, true));
  const u32 = () => (need(4), (p += 4), dv.getUint32(p - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} is larger than the data`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (p += n), bytes.subarray(p - n, p));
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail('GLOBAL without an end of line');
    const s = latin1.decode(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail(`${OPCODES[bytes[at]]} on an empty stack`);
    const v = stack.pop()!;
    if (v === MARK) fail(`${OPCODES[bytes[at]]} found a MARK where a value was expected`);
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail(`${OPCODES[bytes[at]]} needs a value on the stack`);
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    if (marks.length === 0) fail(`${OPCODES[bytes[at]]} without a MARK`);
    stack = marks.pop()!;
    return items as PyValue[];
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const str = (b: Uint8Array) => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const dict = (d: PyValue, items: PyValue[]) => {
    if (!(d instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (d as Map<PyValue, PyValue>).set(items[i], items[i + 1]);
  };
  const global = (module: string, name: string): PyCallable => {
    const g = opts.resolveGlobal(module, name);
    if (!g) {
      fail(
        `the file imports "${module}.${name}", which is not allowed: only tensors, their storages and ` +
          'OrderedDict are read from PyTorch files, and no code from the file is ever run',
      );
    }
    return g!;
  };

  for (;;) {
    at = p;
    if (p >= bytes.length) fail('the data ends before STOP: cut short?');
    const op = bytes[p++];
    const name = OPCODES[op];
    if (!name) {
      fail(
        REFUSED[op]
          ? `opcode ${REFUSED[op]} is not allowed (it is never needed for tensors)`
          : `unknown opcode 0x${op.toString(16).padStart(2, '0')}`,
      );
    }
    switch (name) {
      case 'PROTO': {
        const v = u8();
        if (v > 5) fail(`pickle protocol ${v} is newer than 5`);
        break;
      }
      case 'FRAME':
        u64();
        break;
      case 'STOP': {
        if (marks.length) fail('STOP inside an open MARK');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack (expected 1)`);
        return { value: pop(), end: p };
      }
      case 'MARK':
        marks.push(stack);
        stack = [];
        break;
      case 'POP':
        if (stack.length && stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case 'POP_MARK':
        popMark();
        break;
      case 'DUP':
        stack.push(top());
        break;
      case 'NONE':
        stack.push(null);
        break;
      case 'NEWTRUE':
        stack.push(true);
        break;
      case 'NEWFALSE':
        stack.push(false);
        break;
      case 'BININT':
        stack.push(i32());
        break;
      case 'BININT1':
        stack.push(u8());
        break;
      case 'BININT2':
        stack.push(u16());
        break;
      case 'LONG1':
        stack.push(long(take(u8())));
        break;
      case 'LONG4':
        stack.push(long(take(u32())));
        break;
      case 'BINFLOAT':
        need(8);
        stack.push(dv.getFloat64(p, false));
        p += 8;
        break;
      case 'BINUNICODE':
        stack.push(str(take(u32())));
        break;
      case 'SHORT_BINUNICODE':
        stack.push(str(take(u8())));
        break;
      case 'BINUNICODE8':
        stack.push(str(take(u64())));
        break;
      case 'BINSTRING':
        stack.push(latin1.decode(take(u32())));
        break;
      case 'SHORT_BINSTRING':
        stack.push(latin1.decode(take(u8())));
        break;
      case 'BINBYTES':
        stack.push(take(u32()).slice());
        break;
      case 'SHORT_BINBYTES':
        stack.push(take(u8()).slice());
        break;
      case 'BINBYTES8':
        stack.push(take(u64()).slice());
        break;
      case 'EMPTY_TUPLE':
        stack.push(tuple([]));
        break;
      case 'TUPLE': {
        const t = tuple(popMark());
        stack.push(t);
        break;
      } // popMark() replaces `stack` first
      case 'TUPLE1': {
        const a = pop();
        stack.push(tuple([a]));
        break;
      }
      case 'TUPLE2': {
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 'TUPLE3': {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 'EMPTY_LIST':
        stack.push([]);
        break;
      case 'APPEND': {
        const v = pop();
        const l = top();
        if (!Array.isArray(l) || isTuple(l)) fail('APPEND to something that is not a list');
        (l as PyValue[]).push(v);
        break;
      }
      case 'APPENDS': {
        const items = popMark();
        const l = top();
        if (!Array.isArray(l) || isTuple(l)) fail('APPENDS to something that is not a list');
        for (const v of items) (l as PyValue[]).push(v);
        break;
      }
      case 'EMPTY_DICT':
        stack.push(new Map());
        break;
      case 'SETITEM': {
        const v = pop();
        const k = pop();
        dict(top(), [k, v]);
        break;
      }
      case 'SETITEMS': {
        const items = popMark();
        dict(top(), items);
        break;
      }
      case 'BINGET':
      case 'LONG_BINGET': {
        const i = name === 'BINGET' ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }
      case 'BINPUT':
        memo.set(u8(), top());
        break;
      case 'LONG_BINPUT':
        memo.set(u32(), top());
        break;
      case 'MEMOIZE':
        memo.set(memo.size, top());
        break;
      case 'GLOBAL': {
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 'STACK_GLOBAL': {
        const n = pop();
        const m = pop();
        if (typeof m !== 'string' || typeof n !== 'string') fail('STACK_GLOBAL needs two strings (module, name)');
        stack.push(global(m as string, n as string));
        break;
      }
      case 'REDUCE': {
        const args = pop();
        const f = pop() as PyCallable;
        if (!f || typeof f.call !== 'function') fail('REDUCE on something that is not an allowed callable');
        if (!isTuple(args)) fail(`REDUCE of ${f.pyName} with arguments that are not a tuple`);
        try {
          stack.push(f.call(args as PyTuple));
        } catch (e) {
          if (e instanceof PickleError) throw e;
          fail(`${f.pyName}: ${(e as Error).message}`);
        }
        break;
      }
      case 'BUILD': {
        const state = pop();
        const obj = top();
        if (!opts.build?.(obj, state))
          fail('BUILD (setting the state of an object) on an object that is not allowed to take one');
        break;
      }
      case 'BINPERSID': {
        const pid = pop();
        if (!opts.persistentLoad) fail('BINPERSID (a reference to outside data) is not expected here');
        try {
          stack.push(opts.persistentLoad!(pid));
        } catch (e) {
          if (e instanceof PickleError) throw e;
          fail((e as Error).message);
        }
        break;
      }
    }
  }
}

/**
 * PyTorch .bin reader (src/io/torch-bin.ts with its allow-list src/io/torch-pickle.ts, over
 * src/io/pickle.ts and src/io/zip.ts) against files torch.save wrote (tests/fixtures/torch-bin,
 * tools/gen_torch_bin_fixtures.py): every dtype and view kind equals what PyTorch itself gives
 * (exact), in the zip format with pickle protocols 2 and 4 and in the legacy format; malicious
 * pickles are refused before anything runs; damaged and malformed files are errors that name the
 * file and what is wrong.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { PickleError, unpickle } from '../../src/io/pickle';
import { SafetensorsFile } from '../../src/io/safetensors';
import { parseTensorFile } from '../../src/io/tensor-file';
import { TorchBinFile } from '../../src/io/torch-bin';
import { crc32, ZipArchive } from '../../src/io/zip';

const FIX = 'tests/fixtures/torch-bin';
const read = (p: string) => new Uint8Array(readFileSync(p));

// ── tiny builders for hand-made files ──────────────────────────────────────────────────────
const enc = new TextEncoder();
function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
/** Pickle bytes from a list of pieces: numbers are opcodes/bytes, strings are BINUNICODE. */
function pk(...parts: (number | string | { global: string } | { int: number })[]): Uint8Array {
  const out: number[] = [0x80, 2];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') {
      const b = enc.encode(p);
      out.push(0x58, ...u32le(b.length), ...b);
    } else if ('global' in p) {
      const [m, n] = p.global.split(' ');
      out.push(0x63, ...enc.encode(`${m}\n${n}\n`));
    } else out.push(0x4b, p.int);
  }
  out.push(0x2e);
  return new Uint8Array(out);
}
const OP = {
  MARK: 0x28,
  TUPLE: 0x74,
  TUPLE2: 0x86,
  EMPTY_TUPLE: 0x29,
  EMPTY_DICT: 0x7d,
  SETITEM: 0x73,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  NEWFALSE: 0x89,
  NEWOBJ: 0x81,
  EMPTY_LIST: 0x5d,
};

/** A stored ZIP (no compression), entries in order. */
function zip(entries: [string, Uint8Array][]): Uint8Array {
  const parts: number[] = [];
  const central: number[] = [];
  for (const [name, data] of entries) {
    const nb = enc.encode(name);
    const off = parts.length;
    const crc = crc32(data);
    const head = [
      0x50,
      0x4b,
      0x03,
      0x04,
      20,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...u32le(crc),
      ...u32le(data.length),
      ...u32le(data.length),
      nb.length,
      0,
      0,
      0,
    ];
    parts.push(...head, ...nb, ...data);
    central.push(
      0x50,
      0x4b,
      0x01,
      0x02,
      20,
      0,
      20,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...u32le(crc),
      ...u32le(data.length),
      ...u32le(data.length),
      nb.length,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...u32le(off),
      ...nb,
    );
  }
  const cdStart = parts.length;
  const n = entries.length;
  return new Uint8Array([
    ...parts,
    ...central,
    0x50,
    0x4b,
    0x05,
    0x06,
    0,
    0,
    0,
    0,
    n,
    0,
    n,
    0,
    ...u32le(central.length),
    ...u32le(cdStart),
    0,
    0,
  ]);
}

/** {"w": tensor of `size`/`stride` at `offset` over a FloatStorage "0" of 4 floats}. */
function oneTensorPickle(
  size: [number, number],
  stride: [number, number],
  offset: number,
  storageType = 'torch FloatStorage',
): Uint8Array {
  return pk(
    OP.EMPTY_DICT,
    'w',
    { global: 'torch._utils _rebuild_tensor_v2' },
    OP.MARK,
    OP.MARK,
    'storage',
    { global: storageType },
    '0',
    'cpu',
    { int: 4 },
    OP.TUPLE,
    OP.BINPERSID,
    { int: offset },
    { int: size[0] },
    { int: size[1] },
    OP.TUPLE2,
    { int: stride[0] },
    { int: stride[1] },
    OP.TUPLE2,
    OP.NEWFALSE,
    { global: 'collections OrderedDict' },
    OP.EMPTY_TUPLE,
    OP.REDUCE,
    OP.TUPLE,
    OP.REDUCE,
    OP.SETITEM,
  );
}
const fourFloats = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);

describe('torch.save files', () => {
  const expected = SafetensorsFile.parse(read(`${FIX}/dtypes.expected.safetensors`));
  for (const [file, format] of [
    ['dtypes.bin', 'zip'],
    ['dtypes-proto4.bin', 'zip'],
    ['dtypes-legacy.bin', 'legacy'],
  ] as const) {
    test(`${file}: every float tensor equals PyTorch's .float() exactly (F32, F16, BF16, F64; views, strides, shared storage)`, () => {
      const f = TorchBinFile.parse(read(`${FIX}/${file}`), file);
      expect(f.format).toBe(format);
      const floats = [...expected.tensors.keys()].filter((k) => k !== 'i64').sort();
      expect([...f.tensors.keys()].sort()).toEqual([...floats, 'i64'].sort()); // "step" (an int) is not a tensor
      for (const k of floats) {
        expect(f.info(k).shape, k).toEqual(expected.info(k).shape);
        expect([...f.f32(k)], k).toEqual([...expected.f32(k)]);
      }
      expect(f.info('f16_perm').dtype).toBe('F16');
      expect(f.info('bf16').dtype).toBe('BF16');
      expect(f.info('f64').dtype).toBe('F64');
      // views of one storage, as torch keeps them
      expect(f.info('f32_t')).toMatchObject({ stride: [1, 4], offset: 0, storage: f.info('f32').storage });
      expect(f.info('f32_slice')).toMatchObject({
        shape: [2, 2],
        stride: [4, 2],
        offset: 4,
        storage: f.info('f32').storage,
      });
      expect(f.info('f32_expand').stride).toEqual([0, 1]);
      expect(f.info('f16_perm').stride).toEqual([1, 12, 4]);
      expect(f.info('i64').dtype).toBe('I64');
      expect(() => f.f32('i64')).toThrow(/"i64" has dtype I64, not a float type/);
      expect(() => f.f32('nope')).toThrow(`${file}: no tensor named "nope"`);
    });
  }

  test('parseTensorFile picks the reader by file name', () => {
    expect(parseTensorFile(read(`${FIX}/dtypes.bin`), 'pytorch_model.bin')).toBeInstanceOf(TorchBinFile);
    expect(parseTensorFile(read(`${FIX}/dtypes.expected.safetensors`), 'model.safetensors')).toBeInstanceOf(
      SafetensorsFile,
    );
  });
});

describe('malicious pickles are refused and never run', () => {
  const cases: [string, RegExp][] = [
    [
      'malicious-system.bin',
      /malicious-system\.bin:archive\/data\.pkl: pickle byte \d+: the file imports "posix\.system", which is not allowed/,
    ],
    [
      'malicious-system.pkl',
      /malicious-system\.pkl: pickle byte \d+: the file imports "posix\.system", which is not allowed/,
    ],
    [
      'malicious-eval-proto4.bin',
      /the file imports "builtins\.eval", which is not allowed: only tensors, their storages and OrderedDict are read/,
    ],
  ];
  for (const [file, msg] of cases) {
    test(file, () => {
      rmSync('/tmp/vembed-pickle-pwned', { force: true });
      expect(() => TorchBinFile.parse(read(`${FIX}/${file}`), `${FIX}/${file}`)).toThrow(msg);
      expect(existsSync('/tmp/vembed-pickle-pwned')).toBe(false);
    });
  }

  test('objects built from arbitrary classes (NEWOBJ) and unknown opcodes are refused by name', () => {
    const newobj = pk({ global: 'collections OrderedDict' }, OP.EMPTY_TUPLE, OP.NEWOBJ);
    expect(() => unpickle(newobj, { file: 'x.pkl', resolveGlobal: () => null })).toThrow(
      /x\.pkl: pickle byte 2: the file imports "collections\.OrderedDict"/,
    );
    const allowAll = { file: 'x.pkl', resolveGlobal: () => ({ pyName: 'f', call: () => null }) };
    expect(() => unpickle(newobj, allowAll)).toThrow(
      /pickle byte 28: opcode NEWOBJ \(builds an object of an arbitrary class\) is not allowed/,
    );
    expect(() => unpickle(new Uint8Array([0x80, 2, 0xff]), allowAll)).toThrow(/pickle byte 2: unknown opcode 0xff/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x4e]), allowAll)).toThrow(/the data ends before STOP: cut short\?/);
  });

  test('a storage type that is not on the list is refused (no complex, no arbitrary class)', () => {
    const bytes = zip([
      ['archive/data.pkl', oneTensorPickle([2, 2], [2, 1], 0, 'torch ComplexFloatStorage')],
      ['archive/data/0', fourFloats],
    ]);
    expect(() => TorchBinFile.parse(bytes, 'c.bin')).toThrow(
      /imports "torch\.ComplexFloatStorage", which is not allowed/,
    );
  });
});

describe('damaged and malformed files name the file and the problem', () => {
  test('a hand-made file reads, and a view past the end of its storage is refused', () => {
    const ok = TorchBinFile.parse(
      zip([
        ['archive/data.pkl', oneTensorPickle([2, 2], [1, 2], 0)],
        ['archive/data/0', fourFloats],
      ]),
      'ok.bin',
    );
    expect([...ok.f32('w')]).toEqual([1, 3, 2, 4]);
    const bad = zip([
      ['archive/data.pkl', oneTensorPickle([3, 2], [2, 1], 0)],
      ['archive/data/0', fourFloats],
    ]);
    expect(() => TorchBinFile.parse(bad, 'bad.bin')).toThrow(
      'bad.bin: tensor "w" (shape [3, 2], stride [2, 1], offset 0) reaches element 5 of storage "0", which has 4',
    );
    const missing = zip([['archive/data.pkl', oneTensorPickle([2, 2], [2, 1], 0)]]);
    expect(() => TorchBinFile.parse(missing, 'm.bin')).toThrow(
      /m\.bin:archive\/data\.pkl: pickle byte \d+: storage "0" has no entry archive\/data\/0 in the archive/,
    );
  });

  test('cut short, bit flips and non-PyTorch files', () => {
    const good = read(`${FIX}/dtypes.bin`);
    expect(() => TorchBinFile.parse(good.subarray(0, good.length - 100), 'cut.bin')).toThrow(
      /cut\.bin: not a ZIP archive, or cut short/,
    );
    const flipped = good.slice();
    const z = ZipArchive.parse(good, 'x');
    const pkl = z.names().find((n) => n.endsWith('data.pkl'))!;
    const at = good.indexOf(0x80); // the pickle's PROTO byte, inside the data.pkl entry
    flipped[at + 20] ^= 0x01;
    expect(() => TorchBinFile.parse(flipped, 'flip.bin')).toThrow(
      new RegExp(
        `flip\\.bin: entry "${pkl}" is damaged \\(CRC-32 [0-9a-f]+, the archive says [0-9a-f]+\\): download the file again`,
      ),
    );
    expect(() => TorchBinFile.parse(enc.encode('{"not": "torch"}'), 'j.bin')).toThrow(
      /j\.bin: neither a PyTorch ZIP archive nor a legacy torch\.save file/,
    );
    expect(() => TorchBinFile.parse(pk(OP.EMPTY_LIST), 'l.bin')).toThrow(
      /l\.bin: starts with a pickle but not with torch\.save's magic number/,
    );
    expect(() => TorchBinFile.parse(zip([['archive/data.pkl', pk(OP.EMPTY_LIST)]]), 'list.bin')).toThrow(
      'list.bin: the file holds a list of 0, not a dict of tensors (a state_dict)',
    );
    expect(() => TorchBinFile.parse(zip([['a.txt', fourFloats]]), 'z.bin')).toThrow(
      /z\.bin: a ZIP archive but not a PyTorch file \(no <name>\/data\.pkl entries/,
    );
    const legacy = read(`${FIX}/dtypes-legacy.bin`);
    expect(() => TorchBinFile.parse(legacy.subarray(0, legacy.length - 3), 'cut-legacy.bin')).toThrow(
      /cut-legacy\.bin: storage "\d+" \(\d+ x \w+\) runs past the end of the file: cut short\?/,
    );
  });

  test('PickleError is what a refused pickle throws', () => {
    expect(() => TorchBinFile.parse(read(`${FIX}/malicious-system.bin`))).toThrow(PickleError);
  });
});

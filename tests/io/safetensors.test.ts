/** safetensors reader/writer: round trips for every dtype and every refused malformation. */
import { describe, expect, test } from 'vitest';
import { SafetensorsFile, f16ToF32, f32ToBf16, f32ToF16, writeSafetensors } from '../../src/io/safetensors';

function build(header: Record<string, unknown>, dataBytes: number, rawHeader?: string): Uint8Array {
  const hb = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + hb.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  return out;
}

describe('safetensors', () => {
  test('round trip F32, F16, BF16, I64 with metadata, looked up by name', () => {
    const bytes = writeSafetensors(
      [
        { name: 'layer.10.w', shape: [2, 3], data: [1, -2, 3.5, 0, 1e-3, -7] },
        { name: 'layer.2.w', dtype: 'F16', shape: [3], data: [0.5, -65504, 6.1e-5] },
        { name: 'b', dtype: 'BF16', shape: [2], data: [1.5, -3.140625] },
        { name: 'ids', dtype: 'I64', shape: [2], data: new BigInt64Array([5n, -1n]) },
        { name: 'empty', shape: [0, 4], data: [] },
      ],
      { format: 'pt' },
    );
    const f = SafetensorsFile.parse(bytes, 'model.safetensors');
    expect(f.metadata).toEqual({ format: 'pt' });
    expect([...f.f32('layer.10.w')]).toEqual([...new Float32Array([1, -2, 3.5, 0, 1e-3, -7])]);
    expect([...f.f32('layer.2.w')]).toEqual([0.5, -65504, f16ToF32(f32ToF16(6.1e-5))]);
    expect([...f.f32('b')]).toEqual([1.5, -3.140625]);
    expect([...f.i64('ids')]).toEqual([5n, -1n]);
    expect(f.info('layer.10.w').shape).toEqual([2, 3]);
    expect(f.f32('empty').length).toBe(0);
    // header padded to 8 bytes
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });

  test('f16/bf16 conversions round to nearest even and keep specials', () => {
    expect(f16ToF32(f32ToF16(1 + 2 ** -11))).toBe(1); // tie -> even
    expect(f16ToF32(f32ToF16(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(f16ToF32(f32ToF16(Infinity))).toBe(Infinity);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    expect(f16ToF32(f32ToF16(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(f32ToF16(1e6))).toBe(Infinity);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  const T = (dtype: string, shape: number[], a: number, b: number) => ({ dtype, shape, data_offsets: [a, b] });
  test.each([
    ['too short', new Uint8Array(4), /model\.safetensors: file is 4 bytes, too short/],
    [
      'header past the end',
      (() => {
        const b = build({}, 0);
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /header length 1000 runs past the end of the file/,
    ],
    ['bad json', build({}, 0, '{"a": '), /header is not valid UTF-8 JSON/],
    ['unknown dtype', build({ w: T('F8', [1], 0, 1) }, 1), /tensor "w": unknown dtype "F8"/],
    ['size mismatch', build({ w: T('F32', [3], 0, 8) }, 8), /tensor "w": 8 bytes for F32 shape \[3\], which needs 12/],
    [
      'offsets past data',
      build({ w: T('F32', [2], 0, 8) }, 4),
      /tensor "w": data_offsets \[0, 8\] run past the end of the data \(4 bytes\)/,
    ],
    [
      'overlap',
      build({ a: T('F32', [2], 0, 8), b: T('F32', [2], 4, 12) }, 12),
      /tensor "b": data overlaps the previous tensor/,
    ],
    [
      'hole',
      build({ a: T('F32', [1], 0, 4), b: T('F32', [1], 8, 12) }, 12),
      /tensor "b": hole of 4 bytes before its data/,
    ],
    ['trailing bytes', build({ a: T('F32', [1], 0, 4) }, 8), /4 trailing bytes after the last tensor/],
    ['bad shape', build({ a: T('F32', [-1] as number[], 0, 4) }, 4), /tensor "a": shape \[-1\] is not a list/],
    ['bad metadata', build({ __metadata__: { a: 1 } }, 0), /"__metadata__" must be an object of strings/],
  ])('refuses %s, naming the file and tensor', (_name, bytes, msg) => {
    expect(() => SafetensorsFile.parse(bytes as Uint8Array, 'model.safetensors')).toThrow(msg);
  });

  test('missing tensors and wrong dtypes are named', () => {
    const f = SafetensorsFile.parse(
      writeSafetensors([{ name: 'x', dtype: 'I64', shape: [1], data: new BigInt64Array([1n]) }]),
      'a.safetensors',
    );
    expect(() => f.f32('y')).toThrow(/a\.safetensors: no tensor named "y"/);
    expect(() => f.f32('x')).toThrow(/a\.safetensors: tensor "x" has dtype I64, not a float type/);
  });
});

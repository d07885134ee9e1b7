/**
 * One interface over the checkpoint file formats we read: safetensors (src/io/safetensors.ts)
 * and PyTorch's torch.save files (src/io/torch-bin.ts: pytorch_model.bin, adapter_model.bin).
 * Readers look tensors up by name and get f32 values; the format is chosen by the file name.
 */
import { SafetensorsFile } from './safetensors';
import { TorchBinFile } from './torch-bin';

export interface TensorFile {
  /** For error messages: the path or URL the bytes came from. */
  readonly file: string;
  readonly tensors: ReadonlyMap<string, { name: string; dtype: string; shape: number[] }>;
  has(name: string): boolean;
  info(name: string): { name: string; dtype: string; shape: number[] };
  /** A float tensor as C-contiguous f32. */
  f32(name: string): Float32Array;
}

/** True for names torch.save files carry (`.bin`, `.pt`, `.pth`). */
export const isTorchFileName = (name: string): boolean => /\.(bin|pt|pth)$/i.test(name);

/** Parses `bytes` as safetensors, or as a torch.save file when the name says so. */
export function parseTensorFile(bytes: Uint8Array, name: string, where = name): TensorFile {
  return isTorchFileName(name) ? TorchBinFile.parse(bytes, where) : SafetensorsFile.parse(bytes, where);
}

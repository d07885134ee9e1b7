/**
 * Reading a buffer back (src/gpu/device.ts `Gpu.readBytes`): a copy into a staging buffer in
 * stream order with the ops, a flush (which throws the first recorded GPU error), then the map.
 * A device lost meanwhile is reported as such, not as a failed map.
 */

/** Maps a staging buffer for reading; a failed map on a lost device says the device was lost. */
export async function mapForRead(
  device: GPUDevice,
  staging: GPUBuffer,
  lostInfo: () => GPUDeviceLostInfo | null,
): Promise<void> {
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    const lost =
      lostInfo() ?? (await Promise.race([device.lost, new Promise<null>((r) => setTimeout(() => r(null), 100))]));
    if (lost) throw new Error(`GPU device lost: ${lost.message}`, { cause: e });
    throw e;
  }
}

/** What `readBack` needs of the Gpu. */
export interface Reader {
  readonly device: GPUDevice;
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset?: number, dstOffset?: number): void;
  flush(): Promise<void>;
}

/** `bytes` bytes of `buf` from `offsetBytes`, after all work recorded before. */
export async function readBack(
  gpu: Reader,
  buf: GPUBuffer,
  bytes: number,
  offsetBytes: number,
  mapRead: (staging: GPUBuffer) => Promise<void>,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = gpu.device.createBuffer({
    label: `readback ${buf.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  gpu.copy(buf, staging, size, offsetBytes, 0);
  try {
    await gpu.flush();
    await mapRead(staging);
    return staging.getMappedRange().slice(0, bytes);
  } finally {
    staging.destroy();
  }
}

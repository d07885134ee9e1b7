/**
 * GPU error scopes around a piece of work, and the Error a caught GPUError becomes. The dispatch
 * path (src/gpu/device.ts) opens one set per segment (from its first record to its submit), and
 * one per pipeline creation and per write (nested inside, synchronously); a failed segment is
 * re-encoded record by record in scopes of its own to name the op.
 */

/**
 * Runs `f` inside out-of-memory, validation and internal error scopes; the promise gives the
 * first error caught (null when none, or when the device is gone). A JS exception from `f` is
 * rethrown after the scopes are popped.
 */
export function scoped(dev: GPUDevice, f: () => void): Promise<GPUError | null> {
  openScopes(dev);
  let errors: Promise<GPUError | null>;
  try {
    f();
  } finally {
    errors = closeScopes(dev);
  }
  return errors;
}

/** Pushes the out-of-memory, validation and internal error scopes (closed by `closeScopes`). */
export function openScopes(dev: GPUDevice): void {
  dev.pushErrorScope('out-of-memory');
  dev.pushErrorScope('validation');
  dev.pushErrorScope('internal');
}

/** Pops the scopes `openScopes` pushed: the first error caught (null: none, or no device). */
export function closeScopes(dev: GPUDevice): Promise<GPUError | null> {
  const pops = [dev.popErrorScope(), dev.popErrorScope(), dev.popErrorScope()];
  return Promise.all(pops).then(
    (errs) => errs.find((e) => e) ?? null,
    () => null,
  );
}

/** The Error thrown for a GPU error caught in `where` (an op and its shapes, a write, ...). */
export function namedGpuError(e: GPUError, where: string): Error {
  const kind = e instanceof GPUOutOfMemoryError ? 'out of memory' : 'GPU error';
  return new Error(`${kind} in ${where}: ${e.message}`);
}

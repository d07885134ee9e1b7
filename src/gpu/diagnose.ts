/**
 * Naming the command that broke a segment. The dispatch path (src/gpu/device.ts) opens error
 * scopes per submitted segment, not per dispatch; when a segment reports an error, its records
 * are encoded again one by one, each in its own encoder and scopes, finished but never submitted
 * (re-running accumulating ops would corrupt data), to find the first invalid one. A segment
 * whose records are all valid alone failed at submit (a buffer destroyed before the work ran),
 * found from the destroyed buffers; else the error names the segment's ops.
 */
import { stateOf, type BindGroupCache } from './bind-groups';
import { DISPATCH, encodeRecords, recordBuffers, recordWhere, type DispatchRec, type Rec } from './records';
import { namedGpuError, scoped } from './scopes';

export async function diagnoseSegment(
  dev: GPUDevice,
  recs: Rec[],
  first: GPUError,
  groups: BindGroupCache,
): Promise<Error> {
  const fresh = (r: DispatchRec) => groups.make(r.buffers, r.kernel.layout, r.uoff, r.usize, r.op);
  const checks = recs.map((r) =>
    scoped(dev, () => {
      encodeRecords(dev.createCommandEncoder({ label: 'diagnose' }), [r], fresh);
    }),
  );
  const found = await Promise.all(checks);
  const i = found.findIndex((e) => e);
  if (i >= 0) return namedGpuError(found[i]!, recordWhere(recs[i]));
  for (const r of recs) {
    const gone = recordBuffers(r).find((b) => stateOf(b)?.dead);
    if (gone) {
      return new Error(
        `GPU error in ${recordWhere(r)}: buffer "${gone.label}" was destroyed before the work ran (${first.message})`,
      );
    }
  }
  const ops = [...new Set(recs.map((r) => (r.kind === DISPATCH ? r.op : recordWhere(r).split(' ')[0])))];
  return namedGpuError(
    first,
    `a batch of ${recs.length} commands (${ops.slice(0, 8).join(', ')}${ops.length > 8 ? ', ...' : ''})`,
  );
}

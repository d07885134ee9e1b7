/**
 * Checkpoint folder paths as users type them (Node). This trainer (like vembed-factory) names its
 * checkpoints `checkpoint-step-<N>` and `checkpoint-epoch-<N>`; Hugging Face's Trainer, and the
 * vembed-factory guide's commands, say `checkpoint-<N>`. Wherever a checkpoint path is taken
 * (--model_path, --model, --adapter, model_name / model_name_or_path, resume_from_checkpoint):
 *   - a folder that exists is used as it is (an HF Trainer `checkpoint-1000/` included);
 *   - `.../checkpoint-<N>` that does not exist means `.../checkpoint-step-<N>` when that exists
 *     (and `checkpoint-step-<N>` means `checkpoint-<N>` the other way round);
 *   - another missing `checkpoint-*` path is an error listing the checkpoints that are there.
 * Anything else is returned unchanged (a hub id, or a path whose own error the caller gives).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory() ?? false;

/** Checkpoint folders in `dir` (sorted by step/epoch number), or [] when it cannot be read. */
export async function listCheckpoints(dir: string): Promise<string[]> {
  const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const num = (n: string) => Number(/(\d+)$/.exec(n)?.[1] ?? 0);
  return names
    .filter((e) => e.isDirectory() && /^checkpoint-/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => num(a) - num(b) || (a < b ? -1 : 1));
}

export async function resolveCheckpointPath(path: string, log: (line: string) => void = () => {}): Promise<string> {
  if (await stat(path).catch(() => null)) return path;
  const name = basename(path.replace(/[/\\]+$/, ''));
  if (!/^checkpoint-/.test(name)) return path;
  const parent = dirname(path.replace(/[/\\]+$/, ''));
  const hf = /^checkpoint-(\d+)$/.exec(name);
  const ours = /^checkpoint-step-(\d+)$/.exec(name);
  const alt = hf ? `checkpoint-step-${hf[1]}` : ours ? `checkpoint-${ours[1]}` : null;
  if (alt && (await isDir(join(parent, alt)))) {
    log(
      `${path}: using ${join(parent, alt)} (${hf ? 'this trainer names step checkpoints checkpoint-step-<N>' : 'a Hugging Face Trainer checkpoint'})`,
    );
    return join(parent, alt);
  }
  const there = await listCheckpoints(parent);
  throw new Error(
    `${path}: no such checkpoint folder` +
      (there.length
        ? `; ${parent} has ${there.join(', ')}`
        : (await isDir(parent))
          ? `; ${parent} has no checkpoint folders`
          : `; no folder ${parent}`),
  );
}

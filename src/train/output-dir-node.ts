/**
 * Node only: may a training run write into its output_dir? Checked before any work (data,
 * model, GPU), so that a run never mixes its checkpoints and results with another run's:
 *   - missing or empty (hidden temporaries of killed writers aside): yes;
 *   - holds a run: only when resuming from it (resume_from_checkpoint: latest, or a checkpoint
 *     folder inside output_dir), or with overwrite_output_dir: true, in which case that run's
 *     files (checkpoint-* folders, train_results.json, train_config.yaml) are moved into
 *     output_dir/replaced-<n>/ just before training starts: never deleted, never mixed;
 *   - a lone train_config.yaml (a run that stopped before its first step) is simply replaced;
 *   - a file instead of a folder, or an unwritable place: refused.
 *
 *   checkTrainOutput(config) -> { notes, commit }   commit() does the move (if any); call it
 *                                                   right before training
 */
import { readdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { TrainConfig } from '../config';
import { checkOutputFolder, nodeFs, OutputError, type OutputFs } from '../util/output-node';
import { nodeStore } from '../platform/checkpoint-store-node';

/** Entries of output_dir a run of this trainer writes. */
const RUN_FILE = /^(checkpoint-(step|epoch)-\d+|train_results\.json|train_config\.yaml)$/;

function describe(names: string[]): string {
  const ck = names.filter((n) => n.startsWith('checkpoint-'));
  const other = names.filter((n) => !n.startsWith('checkpoint-'));
  const parts = [
    ...(ck.length
      ? [
          `${ck.length} checkpoint${ck.length > 1 ? 's' : ''} (${ck.slice(0, 3).join(', ')}${ck.length > 3 ? ', ...' : ''})`,
        ]
      : []),
    ...other.slice(0, 5),
  ];
  if (other.length > 5) parts.push(`${other.length - 5} more`);
  return parts.join(', ');
}

export async function checkTrainOutput(
  config: Pick<TrainConfig, 'output_dir' | 'resume_from_checkpoint' | 'overwrite_output_dir'>,
  fs: OutputFs = nodeFs,
): Promise<{ notes: string[]; commit: () => Promise<void> }> {
  const dir = config.output_dir;
  await checkOutputFolder(dir, 'output_dir');
  const notes = await nodeStore(dir, fs).recovered();
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
  const none = { notes, commit: async () => {} };
  if (names.length === 0 || (names.length === 1 && names[0] === 'train_config.yaml')) return none;
  const r = config.resume_from_checkpoint;
  if (r === 'latest') return none;
  if (r !== null) {
    const rel = relative(resolve(dir), resolve(r));
    if (rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.includes(`..${sep}`)) return none;
  }
  const what = `output_dir ${dir} already holds ${describe(names)}`;
  if (!config.overwrite_output_dir) {
    throw new OutputError(
      `${what}${r !== null ? `, and resume_from_checkpoint ${r} is not in it` : ''}: resume that run with resume_from_checkpoint: latest, ` +
        'train into another output_dir, or set overwrite_output_dir: true (its files are then moved into a replaced-<n> folder inside it, not deleted)',
    );
  }
  const ours = names.filter((n) => RUN_FILE.test(n));
  let n = 1;
  while (names.includes(`replaced-${n}`)) n++;
  const dest = join(dir, `replaced-${n}`);
  notes.push(
    `overwrite_output_dir: ${what}; moving ${ours.length ? ours.join(', ') : 'nothing'} into ${dest} (delete that folder to free the space)`,
  );
  return {
    notes,
    commit: async () => {
      if (!ours.length) return;
      await fs.mkdir(dest, { recursive: true });
      for (const name of ours) await fs.rename(join(dir, name), join(dest, name));
    },
  };
}

/**
 * Resolves a `--model` argument: a local folder (config.json + weights), or a Hugging Face hub
 * id such as facebook/dinov3-vits16-pretrain-lvd1689m, downloaded once into the cache
 * ($VEMBED_CACHE or ~/.cache/vembed/models) with progress on stderr. A missing local path that is
 * shaped like a hub id (output/checkpoint-epoch-2) is reported as a missing folder at once, not
 * tried on the hub.
 */
import { readdir, stat } from 'node:fs/promises';
import { ensureModelNode } from '../hub/download-node';
import type { FileSource } from '../model/load';
import { dirSource } from '../platform/file-source-node';
import { resolveCheckpointPath } from './checkpoint-path';
import { formatBytes, formatDuration } from './progress';

/** Our checkpoint and output names: a path ending in one is a local path, not a hub id. */
const CHECKPOINT = /^checkpoint-((step|epoch)-)?\d+$/;

/**
 * Why `arg` (shaped like owner/name, but not a folder here) is a local path that is missing
 * rather than a hub id, or null: it names one of our checkpoint folders, or its first part is a
 * training output folder here (train_config.yaml or checkpoint folders in it).
 */
async function localPathHint(arg: string): Promise<string | null> {
  const [owner, name] = arg.split('/');
  const entries = await readdir(owner).catch(() => null);
  const checkpoints = (entries ?? [])
    .filter((e) => CHECKPOINT.test(e))
    .sort((a, b) => Number(a.split('-').pop()) - Number(b.split('-').pop()));
  const isRun = entries !== null && (checkpoints.length > 0 || entries.includes('train_config.yaml'));
  if (!CHECKPOINT.test(name) && !isRun) return null;
  if (entries === null) return `${owner}/ does not exist either; ${name} is a checkpoint folder name of this trainer`;
  return (
    `${owner}/ is a training output folder here` +
    (checkpoints.length ? ` with ${checkpoints.join(', ')}` : ' without checkpoints')
  );
}

export async function resolveModel(given: string, token?: string): Promise<FileSource> {
  const arg = await resolveCheckpointPath(given, (l) => process.stderr.write(`${l}\n`));
  const st = await stat(arg).catch(() => null);
  if (st?.isDirectory()) return dirSource(arg);
  if (st)
    throw new Error(`--model ${arg}: is a file; expected a model folder (config.json + model.safetensors) or a hub id`);
  if (!/^[\w.-]+\/[\w.-]+$/.test(arg)) {
    throw new Error(`--model ${arg}: no such folder, and not a hub id of the form owner/name`);
  }
  const local = await localPathHint(arg);
  if (local) throw new Error(`--model ${arg}: no such folder (${local}; the hub was not asked)`);
  let last = '';
  const src = await ensureModelNode(arg, {
    token,
    onProgress: (p) => {
      const line =
        `downloading ${arg}/${p.file}: ${formatBytes(p.bytes)}` +
        (p.total ? ` of ${formatBytes(p.total)}` : '') +
        (p.bytesPerSec ? `, ${formatBytes(p.bytesPerSec)}/s` : '') +
        (p.etaSec !== null && p.etaSec !== undefined && Number.isFinite(p.etaSec)
          ? `, ETA ${formatDuration(p.etaSec)}`
          : '');
      if (line !== last) process.stderr.write(`\r${line.padEnd(last.length)}`);
      last = line;
    },
  });
  if (last) process.stderr.write('\n');
  return src;
}

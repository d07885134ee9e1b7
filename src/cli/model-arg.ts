/**
 * Resolves a `--model` argument: a local folder (config.json + weights), or a Hugging Face hub
 * id such as facebook/dinov3-vits16-pretrain-lvd1689m, downloaded once into the cache
 * ($VEMBED_CACHE or ~/.cache/vembed/models) with progress on stderr.
 */
import { stat } from 'node:fs/promises';
import { ensureModelNode } from '../hub/node';
import type { FileSource } from '../model/load';
import { dirSource } from '../model/node-source';
import { resolveCheckpointPath } from './checkpoint-path';
import { formatBytes, formatDuration } from './progress';

export async function resolveModel(given: string, token?: string): Promise<FileSource> {
  const arg = await resolveCheckpointPath(given, (l) => process.stderr.write(`${l}\n`));
  const st = await stat(arg).catch(() => null);
  if (st?.isDirectory()) return dirSource(arg);
  if (st) throw new Error(`--model ${arg}: is a file; expected a model folder (config.json + model.safetensors) or a hub id`);
  if (!/^[\w.-]+\/[\w.-]+$/.test(arg)) {
    throw new Error(`--model ${arg}: no such folder, and not a hub id of the form owner/name`);
  }
  let last = '';
  const src = await ensureModelNode(arg, {
    token,
    onProgress: (p) => {
      const line =
        `downloading ${arg}/${p.file}: ${formatBytes(p.bytes)}` +
        (p.total ? ` of ${formatBytes(p.total)}` : '') +
        (p.bytesPerSec ? `, ${formatBytes(p.bytesPerSec)}/s` : '') +
        (p.etaSec !== null && p.etaSec !== undefined && Number.isFinite(p.etaSec) ? `, ETA ${formatDuration(p.etaSec)}` : '');
      if (line !== last) process.stderr.write(`\r${line.padEnd(last.length)}`);
      last = line;
    },
  });
  if (last) process.stderr.write('\n');
  return src;
}

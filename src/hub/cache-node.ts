/**
 * The Node `ModelCache`: one directory per model,
 *   <root>/<owner>--<name>/config.json, model.safetensors, ...   complete, verified files
 *   <root>/<owner>--<name>/<file>.part                           a partial download (resumable)
 *   <root>/<owner>--<name>/.vembed-model.json                    the manifest (src/platform/model-cache.ts)
 * with <root> = $VEMBED_CACHE, else ~/.cache/vembed/models. A part is renamed over the final name
 * (atomic on one file system) only when complete and verified; sha256 is streamed through
 * node:crypto, so files of any size are hashed without holding them in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FileSource } from '../platform/file-source';
import { dirSource } from '../platform/file-source-node';
import {
  modelDirName,
  type CachedModel,
  type ModelCache,
  type ModelManifest,
  type PartialWriter,
} from '../platform/model-cache';
import { validateFileName, validateRepoId } from './hub-protocol';

const MANIFEST = '.vembed-model.json';

/** $VEMBED_CACHE, else ~/.cache/vembed/models. */
export function defaultCacheRoot(): string {
  return process.env.VEMBED_CACHE || join(homedir(), '.cache', 'vembed', 'models');
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

export class NodeModelCache implements ModelCache {
  readonly where: string;

  constructor(readonly root: string = defaultCacheRoot()) {
    this.where = root;
  }

  /** Directory of a model. */
  dir(id: string): string {
    return join(this.root, modelDirName(validateRepoId(id)));
  }

  private path(id: string, file: string): string {
    return join(this.dir(id), validateFileName(file, id));
  }

  completeSize(id: string, file: string): Promise<number | null> {
    return fileSize(this.path(id, file));
  }

  async partialSize(id: string, file: string): Promise<number> {
    return (await fileSize(`${this.path(id, file)}.part`)) ?? 0;
  }

  async openPartial(id: string, file: string, offset: number): Promise<PartialWriter> {
    const part = `${this.path(id, file)}.part`;
    await mkdir(dirname(part), { recursive: true });
    const have = await this.partialSize(id, file);
    if (offset !== 0 && offset !== have) {
      throw new Error(`${part}: cannot write at ${offset}, ${have} bytes are stored`);
    }
    const fh = await open(part, offset === 0 ? 'w' : 'r+');
    let pos = offset;
    return {
      async write(chunk) {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, pos);
          done += bytesWritten;
          pos += bytesWritten;
        }
      },
      async close() {
        await fh.datasync().catch(() => {});
        await fh.close();
        return pos;
      },
    };
  }

  partialSha256(id: string, file: string): Promise<string | null> {
    return new Promise((ok, fail) => {
      const h = createHash('sha256');
      createReadStream(`${this.path(id, file)}.part`)
        .on('data', (b) => h.update(b))
        .on('error', fail)
        .on('end', () => ok(h.digest('hex')));
    });
  }

  async commit(id: string, file: string): Promise<void> {
    const p = this.path(id, file);
    await rename(`${p}.part`, p);
  }

  async discardPartial(id: string, file: string): Promise<void> {
    await rm(`${this.path(id, file)}.part`, { force: true });
  }

  async readManifest(id: string): Promise<ModelManifest | null> {
    try {
      return JSON.parse(await readFile(join(this.dir(id), MANIFEST), 'utf8')) as ModelManifest;
    } catch {
      return null;
    }
  }

  async writeManifest(m: ModelManifest): Promise<void> {
    const dir = this.dir(m.id);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${MANIFEST}.tmp`);
    await writeFile(tmp, JSON.stringify(m, null, 2));
    await rename(tmp, join(dir, MANIFEST));
  }

  async list(): Promise<CachedModel[]> {
    let names: string[];
    try {
      names = (await readdir(this.root)).sort();
    } catch {
      return [];
    }
    const out: CachedModel[] = [];
    for (const name of names) {
      let m: ModelManifest;
      try {
        m = JSON.parse(await readFile(join(this.root, name, MANIFEST), 'utf8')) as ModelManifest;
      } catch {
        continue; // not a model directory
      }
      const files = await Promise.all(
        m.files.map(async (f) => {
          const full = await this.completeSize(m.id, f.name);
          return {
            name: f.name,
            bytes: full ?? (await this.partialSize(m.id, f.name)),
            size: f.size ?? full,
            complete: full !== null,
          };
        }),
      );
      out.push({
        id: m.id,
        revision: m.revision,
        files,
        complete: m.complete && files.every((f) => f.complete),
        bytes: files.reduce((a, f) => a + f.bytes, 0),
      });
    }
    return out;
  }

  async delete(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }

  source(id: string): FileSource {
    return dirSource(this.dir(id));
  }
}

/**
 * Shared pieces of the fault-injection suite (tests/faults/*.test.ts):
 *   FaultyFs       an OutputFs (src/util/output-node.ts) over the real file system that, from its
 *                  k-th mutating call (mkdir, writeFile, rename) on, either fails with a real-looking
 *                  ENOSPC (a disk that stays full) or "crashes": that call and every later call
 *                  throw Crash and touch nothing, so the folder is left exactly as a kill would
 *                  leave it
 *   visibleTree    relative path -> sha1 of every file not under a hidden ('.') name: what a user
 *                  and a later run see
 *   syntheticData  12 pairs of small random images (8 classes) decoded from memory
 *   trainConfig    a short LoRA run on the tiny DINOv3 model
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTrainConfig, type TrainConfig } from '../../src/config';
import type { RgbImage } from '../../src/data/image';
import type { PairData } from '../../src/train/trainer';
import { nodeFs, type OutputFs } from '../../src/util/output-node';
import { Rng } from '../../src/util/random';

export const TINY = 'tests/fixtures/models/dinov3-tiny';

/** Thrown by a crashed FaultyFs: the process is "dead", nothing after it runs. */
export class Crash extends Error {
  override name = 'Crash';
  constructor() {
    super('simulated crash (kill -9)');
  }
}

export type FaultMode = 'enospc' | 'crash';

export class FaultyFs implements OutputFs {
  /** Mutating calls seen so far, in order (also those that failed). */
  readonly ops: { op: string; path: string }[] = [];
  crashed = false;

  constructor(
    private readonly failAt: number | null = null,
    private readonly mode: FaultMode = 'enospc',
    private readonly only?: (path: string) => boolean,
  ) {}

  private gate(op: string, path: string): void {
    if (this.crashed) throw new Crash();
    if (this.only && !this.only(path)) return;
    const n = this.ops.length;
    this.ops.push({ op, path });
    if (this.failAt === null || n < this.failAt) return;
    if (this.mode === 'crash') {
      this.crashed = true;
      throw new Crash();
    }
    throw Object.assign(new Error(`ENOSPC: no space left on device, ${op} '${path}'`), {
      code: 'ENOSPC',
      errno: -28,
      syscall: op,
      path,
    });
  }
  private alive(): void {
    if (this.crashed) throw new Crash();
  }

  async mkdir(p: string, o?: { recursive?: boolean }) {
    this.gate('mkdir', p);
    return nodeFs.mkdir(p, o);
  }
  async writeFile(p: string, d: Uint8Array | string) {
    this.gate('write', p);
    return nodeFs.writeFile(p, d);
  }
  async rename(a: string, b: string) {
    this.gate('rename', `${a} -> ${b}`);
    return nodeFs.rename(a, b);
  }
  async rm(p: string, o?: { recursive?: boolean; force?: boolean }) {
    this.alive();
    return nodeFs.rm(p, o);
  }
  async stat(p: string) {
    this.alive();
    return nodeFs.stat(p);
  }
  async readdir(p: string) {
    this.alive();
    return nodeFs.readdir(p);
  }
  async readFile(p: string) {
    this.alive();
    return nodeFs.readFile(p);
  }
}

/** Files under `dir` not below a hidden name, with the sha1 of their bytes. */
export function visibleTree(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[];
  try {
    names = readdirSync(join(dir, rel)).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const p = rel ? `${rel}/${n}` : n;
    if (statSync(join(dir, p)).isDirectory()) Object.assign(out, visibleTree(dir, p));
    else
      out[p] = createHash('sha1')
        .update(readFileSync(join(dir, p)))
        .digest('hex');
  }
  return out;
}

/** Hidden entries (temporaries) directly in `dir`. */
export function hiddenEntries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.startsWith('.'));
  } catch {
    return [];
  }
}

/** 12 pairs of small random images (8 classes), decoded from memory. */
export function syntheticData(n = 12): PairData {
  const images = new Map<string, RgbImage>();
  const records = [];
  for (let i = 0; i < n; i++) {
    for (const side of ['q', 'p']) {
      const rng = new Rng(i * 2 + (side === 'q' ? 0 : 1));
      images.set(`${side}${i}.png`, {
        width: 40,
        height: 36,
        data: Uint8Array.from({ length: 40 * 36 * 3 }, () => rng.int(256)),
      });
    }
    records.push({ query: `q${i}.png`, positive: `p${i}.png`, label: i % 8 });
  }
  return { records, load: async (p) => images.get(p)! };
}

export function trainConfig(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultTrainConfig(),
    model_name: TINY,
    data_path: 'mem',
    epochs: 1,
    batch_size: 4,
    learning_rate: 1e-3,
    logging_steps: 1,
    use_gradient_cache: false,
    use_lora: true,
    lora_r: 2,
    lora_alpha: 4,
    lora_dropout: 0,
    ...over,
  };
}

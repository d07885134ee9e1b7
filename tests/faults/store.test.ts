/**
 * Fault injection on the Node checkpoint store (src/platform/checkpoint-store-node.ts) and the atomic writers
 * (src/util/output-node.ts), with no GPU: a training run's sequence of writes (train_config.yaml,
 * checkpoints written and replaced, train_results.json) is replayed with, at EVERY mutating call in
 * turn, (a) a full disk from that call on (ENOSPC) and (b) a kill at that call (the folder frozen
 * as a SIGKILL leaves it). Then a new store on the folder (a later process) recovers it, and:
 *   - ENOSPC: the error names the file or checkpoint and says what is intact, and what the user
 *     sees equals what was saved before the failing call: nothing already saved changed;
 *   - kill: what the user sees equals the state before or after the interrupted call, never a
 *     mix (each call is all or nothing), and no temporary is left behind.
 * Also: the real thing, a small tmpfs filled up (where this machine lets us mount one).
 * Run: npx vitest run tests/faults/store.test.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import { cleanStaleTemps, writeFileAtomic, type OutputFs } from '../../src/util/output-node';
import { FaultyFs, hiddenEntries, visibleTree, type FaultMode } from './helpers';

const enc = new TextEncoder();
const bytes = (s: string, n = 1) => enc.encode(s.repeat(n));
const ckpt = (tag: string) =>
  new Map([
    ['adapter_model.safetensors', bytes(`A${tag}`, 300)],
    ['optimizer.safetensors', bytes(`O${tag}`, 200)],
    ['trainer_state.json', bytes(`{"step":"${tag}"}`)],
  ]);

/** A training run's writes, as store calls. */
const CALLS: ((s: ReturnType<typeof nodeStore>) => Promise<void>)[] = [
  (s) => s.writeFile('train_config.yaml', bytes('epochs: 2\n')),
  (s) => s.writeFile('train_results.json', bytes('{"steps":1}')),
  (s) => s.writeFolder('checkpoint-step-1', ckpt('1')),
  (s) => s.writeFile('train_results.json', bytes('{"steps":2}')),
  (s) => s.writeFolder('checkpoint-step-1', ckpt('1b')), // replacing an existing checkpoint
  (s) => s.writeFolder('checkpoint-epoch-1', ckpt('e1')),
  (s) => s.writeFile('train_results.json', bytes('{"steps":3}')),
];

const roots: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'vembed-faults-store-'));
  roots.push(d);
  return join(d, 'out');
};
afterAll(() => roots.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs CALLS through `fs`; returns the index of the call that failed (or -1) and its error. */
async function replay(dir: string, fs: OutputFs): Promise<{ failed: number; error: unknown }> {
  const s = nodeStore(dir, fs);
  for (let i = 0; i < CALLS.length; i++) {
    try {
      await CALLS[i](s);
    } catch (e) {
      return { failed: i, error: e };
    }
  }
  return { failed: -1, error: null };
}

describe('every write of a run, failing or killed in turn', () => {
  // The states after each call, and the number of mutating calls, from a run without faults.
  const dry = fresh();
  const states: Record<string, string>[] = [{}];
  const counter = new FaultyFs();
  const count = async () => {
    const s = nodeStore(dry, counter);
    for (const c of CALLS) {
      await c(s);
      states.push(visibleTree(dry));
    }
    return counter.ops.length;
  };

  for (const mode of ['enospc', 'crash'] as FaultMode[]) {
    test(`${mode} at each of the run's mutating calls`, async () => {
      const total = await (counter.ops.length ? Promise.resolve(counter.ops.length) : count());
      expect(total).toBeGreaterThan(20);
      for (let k = 0; k < total; k++) {
        const dir = fresh();
        const fs = new FaultyFs(k, mode);
        const { failed, error } = await replay(dir, fs);
        const op = `${mode} at call ${k} (${fs.ops[k]?.op} ${fs.ops[k]?.path})`;
        expect(failed, op).toBeGreaterThanOrEqual(0);
        if (mode === 'enospc') {
          expect(fs.crashed).toBe(false);
          const msg = (error as Error).message;
          expect(msg, op).toMatch(
            /^could not write (checkpoint )?\S+(train_config\.yaml|train_results\.json|checkpoint-(step|epoch)-1): ENOSPC: no space left on device.*; (the previous .* (is|are) intact|nothing was written there)$/,
          );
        } else {
          expect(fs.crashed, op).toBe(true);
        }
        // A later process: the store's first use recovers the folder.
        const after = nodeStore(dir);
        await after.recovered();
        const seen = visibleTree(dir);
        if (mode === 'enospc') expect(seen, op).toEqual(states[failed]);
        else expect([states[failed], states[failed + 1]], op).toContainEqual(seen);
        expect(hiddenEntries(dir), op).toEqual([]);
        // and it goes on working there
        await CALLS[CALLS.length - 1](after);
      }
    });
  }
});

test('a kill between the two renames of a checkpoint swap: the next start puts the old one back', async () => {
  const dir = fresh();
  const s = nodeStore(dir);
  await s.writeFolder('checkpoint-step-1', ckpt('1'));
  const before = visibleTree(dir);
  // Kill at the second rename of the replacing write (the new folder into place): find its index
  // on a scratch copy, then kill there.
  const scratch = fresh();
  await nodeStore(scratch).writeFolder('checkpoint-step-1', ckpt('1'));
  const probe = new FaultyFs();
  await nodeStore(scratch, probe).writeFolder('checkpoint-step-1', ckpt('2'));
  const k = probe.ops.findIndex((o) => o.op === 'rename' && /\.tmp-\d+-\d+ -> /.test(o.path));
  expect(probe.ops[k - 1].path).toMatch(/checkpoint-step-1 -> .*\/\.checkpoint-step-1\.old-\d+$/);
  const killer = new FaultyFs(k, 'crash');
  await expect(nodeStore(dir, killer).writeFolder('checkpoint-step-1', ckpt('2'))).rejects.toThrow();
  expect(killer.crashed).toBe(true);
  expect(visibleTree(dir)).toEqual({}); // mid-swap: the checkpoint is out of sight...
  const lines = await nodeStore(dir).recovered();
  expect(lines.join('\n')).toMatch(/restored .*checkpoint-step-1 \(a save was interrupted while replacing it\)/);
  expect(visibleTree(dir)).toEqual(before); // ...and back, unchanged
  expect(hiddenEntries(dir)).toEqual([]);
});

test("temporaries of dead processes are cleaned at start; a live process's are left alone", async () => {
  const dir = fresh();
  mkdirSync(dir, { recursive: true });
  const dead = 2 ** 22 + 12345; // above pid_max's default: no such process
  mkdirSync(join(dir, `.checkpoint-step-3.tmp-${dead}-1700000000000`));
  writeFileSync(join(dir, `.checkpoint-step-3.tmp-${dead}-1700000000000`, 'adapter_model.safetensors'), 'half');
  writeFileSync(join(dir, `.train_results.json.tmp-${dead}`), '{"half');
  mkdirSync(join(dir, `checkpoint-step-2.old-${dead}`)); // the name used before hidden .old folders
  writeFileSync(join(dir, `checkpoint-step-2.old-${dead}`, 'trainer_state.json'), '{"step":2}');
  const live = join(dir, `.train_config.yaml.tmp-${process.ppid}`); // our parent: alive
  writeFileSync(live, 'x');
  const lines = await cleanStaleTemps(dir);
  expect(lines).toHaveLength(3);
  expect(readFileSync(join(dir, 'checkpoint-step-2', 'trainer_state.json'), 'utf8')).toBe('{"step":2}');
  expect(hiddenEntries(dir)).toEqual([`.train_config.yaml.tmp-${process.ppid}`]);
});

test('writeFileAtomic: a full disk names the file and keeps the previous content', async () => {
  const dir = fresh();
  mkdirSync(dir, { recursive: true });
  const f = join(dir, 'sop_report.json');
  await writeFileAtomic(f, '{"recall@1": 0.5}');
  await expect(writeFileAtomic(f, '{"recall@1": 0.9}', new FaultyFs(1))).rejects.toThrow(
    new RegExp(`^could not write ${f}: ENOSPC: no space left on device.*; the previous sop_report\\.json is intact$`),
  );
  expect(readFileSync(f, 'utf8')).toBe('{"recall@1": 0.5}');
  expect(hiddenEntries(dir)).toEqual([]);
});

/** Mounts a tmpfs of `kb` KiB (root only); null where this machine does not allow it. */
function mountTmpfs(kb: number): string | null {
  const at = mkdtempSync(join(tmpdir(), 'vembed-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', at], { stdio: 'ignore' });
    return at;
  } catch {
    rmSync(at, { recursive: true, force: true });
    return null;
  }
}

const tmpfs = mountTmpfs(96);
afterAll(() => {
  if (tmpfs) execFileSync('umount', [tmpfs]);
});

// Skipped only where mounting is not allowed (not root, or a container without CAP_SYS_ADMIN):
// the injected ENOSPC above covers the same code paths everywhere.
test.skipIf(!tmpfs)(
  'a real full disk (96 KiB tmpfs): the failing checkpoint is named, the earlier ones stay intact',
  async () => {
    const dir = join(tmpfs!, 'out');
    const s = nodeStore(dir);
    const big = (tag: string) =>
      new Map([
        ['adapter_model.safetensors', bytes(tag, 20_000)],
        ['trainer_state.json', bytes(`{"step":"${tag}"}`)],
      ]);
    await s.writeFile('train_config.yaml', bytes('epochs: 2\n'));
    let saved = 0,
      error: Error | null = null;
    for (let i = 1; i <= 10 && !error; i++) {
      try {
        await s.writeFolder(`checkpoint-step-${i}`, big(String(i)));
        saved = i;
      } catch (e) {
        error = e as Error;
      }
    }
    expect(saved).toBeGreaterThan(0);
    expect(error?.message).toMatch(
      new RegExp(
        `^could not write checkpoint ${dir}/checkpoint-step-${saved + 1}: ENOSPC: no space left on device.*the previous checkpoints are intact$`,
      ),
    );
    const before = visibleTree(dir);
    expect(Object.keys(before)).toContain(`checkpoint-step-${saved}/adapter_model.safetensors`);
    // Replacing an existing checkpoint on the full disk: it stays as it was.
    await expect(s.writeFolder('checkpoint-step-1', big('X'))).rejects.toThrow(/ENOSPC/);
    expect(visibleTree(dir)).toEqual(before);
    expect(hiddenEntries(dir)).toEqual([]);
    // train_results.json on a full disk (a small file can still fit: fill the rest first).
    writeFileSync(join(tmpfs!, 'filler'), new Uint8Array(0));
    try {
      for (let i = 0; i < 100; i++) writeFileSync(join(tmpfs!, `filler-${i}`), new Uint8Array(4096));
    } catch {
      // full
    }
    await expect(s.writeFile('train_results.json', bytes('{"steps":9}', 100))).rejects.toThrow(
      new RegExp(
        `^could not write ${dir}/train_results\\.json: ENOSPC: no space left on device.*; nothing was written there$`,
      ),
    );
    expect(visibleTree(dir)).toEqual(before);
  },
);

/**
 * The results files of the benches (bench/results.json, bench/scale/results.json), Node only: a
 * run's rows replace the rows of the same op and shape and the others stay, so a run with a
 * filter (`--filter`, `--only`) updates what it measured.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './types';

/** `old` rows with each op+shape of `fresh` replaced by the fresh rows (in place; new ones last). */
function mergeResults(old: BenchResult[], fresh: BenchResult[]): BenchResult[] {
  const key = (r: BenchResult) => `${r.op}\n${r.shape}`;
  const byKey = new Map<string, BenchResult[]>();
  for (const r of fresh) byKey.set(key(r), [...(byKey.get(key(r)) ?? []), r]);
  const out: BenchResult[] = [];
  const placed = new Set<string>();
  for (const r of old) {
    const k = key(r);
    if (!byKey.has(k)) out.push(r);
    else if (!placed.has(k)) {
      out.push(...byKey.get(k)!);
      placed.add(k);
    }
  }
  for (const [k, rows] of byKey) if (!placed.has(k)) out.push(...rows);
  return out;
}

/** Merges `rows` into the JSON file (created if absent); returns how many rows it now holds. */
export function mergeIntoFile(file: string, rows: BenchResult[]): number {
  const old = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResult[]) : [];
  const all = mergeResults(old, rows);
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n');
  return all.length;
}

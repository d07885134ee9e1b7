/**
 * vembed eval compare <before.json> <after.json>
 *   The recall@K of two reports side by side (zero-shot vs fine-tuned) with deltas in points;
 *   errors name the file (missing, not JSON, no recall@K, a value outside [0, 1]).
 */
import { readFile } from 'node:fs/promises';
import { parseOptions, UsageError } from './args';

/** The recall@K keys of a report, by K. */
export function recallKeys(r: Record<string, unknown>): string[] {
  return Object.keys(r)
    .filter((k) => /^recall@\d+$/.test(k))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Reads a report; errors name the file. Returns its recall@K values (and the model, if named). */
export async function readReport(file: string): Promise<{ recall: Record<string, number>; model: string | null }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`}`, {
      cause: e,
    });
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    throw new Error(`${file}: expected a JSON object (a sop_report.json)`);
  const o = j as Record<string, unknown>;
  const keys = recallKeys(o);
  if (keys.length === 0) throw new Error(`${file}: no recall@K values (is this a sop_report.json?)`);
  const recall: Record<string, number> = {};
  for (const k of keys) {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
      throw new Error(`${file}: "${k}" is ${JSON.stringify(x)}; expected a number between 0 and 1`);
    }
    recall[k] = x;
  }
  return { recall, model: typeof o.model === 'string' ? o.model : null };
}

/** The comparison table: every recall key of either report, deltas in percentage points. */
export function formatComparison(
  before: { recall: Record<string, number>; model: string | null },
  after: { recall: Record<string, number>; model: string | null },
  names: [string, string] = ['before', 'after'],
): string {
  const keys = recallKeys({ ...before.recall, ...after.recall });
  const w = 14;
  const lines = [`  ${'metric'.padEnd(12)}${'zero-shot'.padStart(w)}${'fine-tuned'.padStart(w)}${'delta'.padStart(w)}`];
  for (const k of keys) {
    const b = before.recall[k];
    const a = after.recall[k];
    const d = b === undefined || a === undefined ? '-' : `${a - b >= 0 ? '+' : ''}${((a - b) * 100).toFixed(2)} pts`;
    lines.push(
      `  ${k.padEnd(12)}${(b === undefined ? '-' : pct(b)).padStart(w)}${(a === undefined ? '-' : pct(a)).padStart(w)}${d.padStart(w)}`,
    );
  }
  lines.push(`  zero-shot:  ${names[0]}${before.model ? ` (${before.model})` : ''}`);
  lines.push(`  fine-tuned: ${names[1]}${after.model ? ` (${after.model})` : ''}`);
  return lines.join('\n') + '\n';
}

export async function evalCompare(args: string[], env: { out?: (text: string) => void }): Promise<void> {
  const out = env.out ?? ((t: string) => process.stdout.write(t));
  const o = parseOptions('eval compare', args, {}, '<before.json> <after.json>');
  if (!o) return;
  if (o.positionals.length !== 2) {
    throw new UsageError(
      `eval compare: expected two reports (<before.json> <after.json>), got ${o.positionals.length}`,
    );
  }
  const [bf, af] = o.positionals;
  const before = await readReport(bf);
  const after = await readReport(af);
  out(formatComparison(before, after, [bf, af]));
}

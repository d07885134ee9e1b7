/**
 * vembed prepare sop --root <dir> [--seed 42] [--val_from_train FRACTION]
 * vembed prepare sop_i2i [--root data/stanford_online_products]   (vembed-factory's name for it:
 *   `python examples/prepare_data.py sop_i2i`; the folder defaults to where its guide puts SOP)
 * Turns a Stanford Online Products folder (Ebay_train.txt, Ebay_test.txt, the images) into
 * train.jsonl and val.jsonl beside the lists: one record {query_image, positive, label} per image,
 * the positive another image of the same class drawn with the seed (src/data/sop.ts). val.jsonl
 * comes from Ebay_test.txt (as vembed-factory does), or with --val_from_train F from a held-out
 * fraction F of the training classes (whole classes), so that validation never sees the test split.
 * Single-image classes and missing image files are skipped and counted; a malformed list line is
 * an error naming file:line. Files are written atomically (temporary file, then rename).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeSplit, pairsToJsonl, prepareSop } from '../data/sop';
import { nodeSource } from '../platform/data-source-node';
import { parseOptions, UsageError } from './args';
import { writeFileAtomic } from '../util/output-node';

/** Where vembed-factory's guide (and its prepare_data.py sop_i2i) puts Stanford Online Products. */
export const GUIDE_SOP_ROOT = 'data/stanford_online_products';

const SUBCOMMANDS: Record<string, { run: (args: string[]) => Promise<void>; help: string }> = {
  sop: { run: (a) => prepareSopCommand(a, 'sop'), help: 'Stanford Online Products folder -> train.jsonl + val.jsonl' },
  sop_i2i: {
    run: (a) => prepareSopCommand(a, 'sop_i2i'),
    help: `the same, as vembed-factory names it; --root defaults to ${GUIDE_SOP_ROOT}`,
  },
};

function usage(): string {
  return (
    'usage: vembed prepare <dataset> [options]\n\ndatasets:\n' +
    Object.entries(SUBCOMMANDS)
      .map(([k, v]) => `  ${k.padEnd(10)} ${v.help}`)
      .join('\n') +
    '\n'
  );
}

export async function prepareCommand(args: string[]): Promise<void> {
  const [what, ...rest] = args;
  if (!what || what === '--help' || what === '-h') {
    if (!what) throw new UsageError(`which dataset? (${Object.keys(SUBCOMMANDS).join(', ')})\n\n${usage()}`);
    process.stdout.write(usage());
    return;
  }
  const sub = SUBCOMMANDS[what];
  if (!sub)
    throw new UsageError(`unknown dataset "${what}" (known: ${Object.keys(SUBCOMMANDS).join(', ')})\n\n${usage()}`);
  await sub.run(rest);
}

async function prepareSopCommand(args: string[], name: 'sop' | 'sop_i2i'): Promise<void> {
  const guide = name === 'sop_i2i';
  const o = parseOptions(
    `prepare ${name}`,
    args,
    {
      root: {
        type: 'string',
        required: !guide,
        help: `the SOP folder (Ebay_train.txt, Ebay_test.txt, images); outputs go here${guide ? ` (default ${GUIDE_SOP_ROOT})` : ''}`,
      },
      seed: { type: 'string', help: 'seed of the positive draws and the held-out classes (default 42)' },
      val_from_train: {
        type: 'string',
        help: 'hold out this fraction of the training classes as val.jsonl instead of Ebay_test.txt',
      },
    },
    `${guide ? '[--root <dir>]' : '--root <dir>'} [--seed 42] [--val_from_train FRACTION]`,
  );
  if (!o) return;
  const v = o.values as Record<string, string | undefined>;
  if (o.positionals.length)
    throw new UsageError(`unexpected argument ${o.positionals[0]} (the folder goes after --root)`);
  const seed = Number(v.seed ?? 42);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new UsageError(`--seed ${v.seed}: expected a non-negative integer`);
  let valFromTrain: number | null = null;
  if (v.val_from_train !== undefined) {
    valFromTrain = Number(v.val_from_train);
    if (!(valFromTrain > 0 && valFromTrain < 1))
      throw new UsageError(`--val_from_train ${v.val_from_train}: expected a fraction between 0 and 1 (exclusive)`);
  }
  const root = v.root ?? GUIDE_SOP_ROOT;
  if (guide && !(await stat(root).catch(() => null))?.isDirectory()) {
    throw new Error(
      `${root}: no such folder. Download Stanford Online Products (https://cvgl.stanford.edu/projects/lifted_struct/) ` +
        `and extract it there (Ebay_train.txt, Ebay_test.txt and the *_final folders), or give --root <folder>; nothing is downloaded here`,
    );
  }
  const { train, val } = await prepareSop(nodeSource(root), { seed, valFromTrain });
  if (train.pairs.length === 0)
    throw new Error(
      `${join(root, 'Ebay_train.txt')}: no training records (every class has a single image, or the files are missing)\n${describeSplit('train.jsonl', train)}`,
    );
  await writeFileAtomic(join(root, 'train.jsonl'), pairsToJsonl(train.pairs));
  const lines = [describeSplit('train.jsonl', train)];
  if (val) {
    await writeFileAtomic(join(root, 'val.jsonl'), pairsToJsonl(val.pairs));
    lines.push(describeSplit('val.jsonl', val));
    if (val.pairs.length === 0) process.stderr.write(`warning: val.jsonl has no records\n`);
  }
  process.stdout.write(
    `${lines.join('\n')}\nwrote ${join(root, 'train.jsonl')}${val ? ` and ${join(root, 'val.jsonl')}` : ''} (seed ${seed})\n`,
  );
}

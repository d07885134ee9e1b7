/**
 * The layer arrows hold: runs ESLint's Node API with the project's eslint.config.js on snippets
 * placed as if they were files of src/<folder>, one import of every other folder each, and expects
 * @typescript-eslint/no-restricted-imports to fire exactly for the arrows that LAYERS does not
 * allow (src/ops importing src/ref among them); src/ref may import types from src/ops, not values.
 * Checks that the table in docs/ARCHITECTURE.md ("Which folder may import which") is LAYERS, that
 * every folder of src/ has a row, and that the arrows have no cycle. Type-aware rules are switched
 * off here (no TypeScript program), so this takes a few seconds:   npx vitest run tests/lint.test.ts
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, test } from 'vitest';
import { ENTRIES, LAYERS, MAX_LINES, TYPE_ONLY } from '../eslint.config.js';

const root = resolve(__dirname, '..');
const RULE = '@typescript-eslint/no-restricted-imports';
const folders = Object.keys(LAYERS) as (keyof typeof LAYERS)[];
const allowed = (from: string, to: string) => from === to || (LAYERS as Record<string, string[]>)[from].includes(to);

const eslint = new ESLint({
  cwd: root,
  overrideConfig: { files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked },
});

/** The messages of `rule` for `code` linted as the file `path` (relative to the root). */
async function ruleErrors(path: string, code: string, rule = RULE): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(root, path) });
  return r.messages.filter((m) => m.ruleId === rule).map((m) => m.message);
}

/** The layer-rule messages for `code` linted as src/<folder>/fixture.ts. */
function layerErrors(folder: string, code: string): Promise<string[]> {
  return ruleErrors(join('src', folder, 'lint-fixture.ts'), code);
}

describe('layer arrows (eslint.config.js LAYERS = docs/ARCHITECTURE.md)', () => {
  test('src/ops importing src/ref fails lint, with a message that names the rule in ARCHITECTURE.md', async () => {
    const errors = await layerErrors(
      'ops',
      "import { dropoutForward } from '../ref/dropout';\nexport const f = dropoutForward;\n",
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /src\/ops may import only from src\/gpu, src\/util \(docs\/ARCHITECTURE\.md, "Which folder may import which"\)/,
    );
    // re-exports and deeper relative paths are imports too
    expect(await layerErrors('ops', "export { topkForward } from '../ref/topk';\n")).toHaveLength(1);
    expect(
      await layerErrors('model/sub', "import { x } from '../../train/trainer';\nexport const y = x;\n"),
    ).toHaveLength(1);
  });

  test('every pair of folders: an import fails exactly when the table does not allow it', async () => {
    const wrong: string[] = [];
    for (const from of folders) {
      for (const to of folders) {
        const errors = await layerErrors(from, `import { x } from '../${to}/some-module';\nexport const y = x;\n`);
        const expected = allowed(from, to) ? 0 : 1;
        if (errors.length !== expected) wrong.push(`${from} -> ${to}: ${errors.length} errors, expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('src/ref takes types from src/ops, never values; src/ never imports tests/, bench/ or tools/', async () => {
    expect(TYPE_ONLY).toEqual({ ref: ['ops'] });
    expect(
      await layerErrors('ref', "import type { TopkOpts } from '../ops/topk';\nexport type T = TopkOpts;\n"),
    ).toEqual([]);
    expect(
      await layerErrors('ref', "import { type TopkOpts } from '../ops/topk';\nexport type T = TopkOpts;\n"),
    ).toEqual([]);
    const value = await layerErrors('ref', "import { TOPK_NONE } from '../ops/topk';\nexport const n = TOPK_NONE;\n");
    expect(value).toHaveLength(1);
    expect(value[0]).toMatch(/may take only types from src\/ops/);
    expect(
      await layerErrors('model', "import { x } from '../../tests/helpers/check';\nexport const y = x;\n"),
    ).toHaveLength(1);
  });

  test('the table in docs/ARCHITECTURE.md is LAYERS, every folder of src/ has a row, no cycles', () => {
    const md = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
    const section = md.split(/^## Which folder may import which$/m)[1]?.split(/^## /m)[0];
    expect(section, 'docs/ARCHITECTURE.md has a "## Which folder may import which" section').toBeDefined();
    const rows = [...section!.matchAll(/^\| `src\/(\w+)\/` \| (.*?) \|/gm)];
    const table = Object.fromEntries(
      rows.map((m) => [
        m[1],
        [...m[2].matchAll(/`src\/(\w+)\/`/g)]
          .map((x) => x[1])
          .filter((f) => !m[2].includes(`types from \`src/${f}/\``)),
      ]),
    );
    expect(table).toEqual(LAYERS);

    const onDisk = readdirSync(join(root, 'src')).filter((n) => statSync(join(root, 'src', n)).isDirectory());
    expect(onDisk.filter((f) => !(f in LAYERS))).toEqual([]);

    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') throw new Error(`cycle: ${[...path, f].join(' -> ')}`);
      state.set(f, 'open');
      for (const g of (LAYERS as Record<string, string[]>)[f]) visit(g, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of folders) visit(f, []);
  });

  test('the library entries: src/index.ts imports no front end, src/index-node.ts the CLI but not the app', async () => {
    expect(ENTRIES).toEqual({ index: ['cli', 'worker', 'app'], 'index-node': ['worker', 'app'] });
    const imp = (to: string) => `import { x } from './${to}/some-module';\nexport const y = x;\n`;
    for (const folder of folders) {
      expect(await ruleErrors('src/index.ts', imp(folder)), `index -> ${folder}`).toHaveLength(
        ENTRIES.index.includes(folder) ? 1 : 0,
      );
      expect(await ruleErrors('src/index-node.ts', imp(folder)), `index-node -> ${folder}`).toHaveLength(
        ENTRIES['index-node'].includes(folder) ? 1 : 0,
      );
    }
    const md = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
    expect(md).toMatch(/`src\/index\.ts` may import every folder but `src\/cli\/`, `src\/worker\/` and `src\/app\/`/);
  });

  test(`a file of src/ longer than ${MAX_LINES} lines fails lint`, async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
    expect(await ruleErrors('src/util/lint-fixture.ts', lines(MAX_LINES), 'max-lines')).toEqual([]);
    const over = await ruleErrors('src/util/lint-fixture.ts', lines(MAX_LINES + 1), 'max-lines');
    expect(over).toHaveLength(1);
    expect(over[0]).toMatch(/Maximum allowed is 400/);
  });
});

// ESLint (flat config) with typescript-eslint:   npm run lint
//
// - src/: typescript-eslint's recommended-type-checked (type information from tsconfig.json): the
//   shipped code, where an `any` leaking out of JSON.parse or a forgotten promise is a real bug.
// - tests/, bench/, tools/ and the root configs: recommended (no type information). They read JSON
//   reports and fixtures as `any` on purpose and check their shape with expect(); the type-checked
//   rules would only ask for casts there, and skipping them keeps `npm run lint` cheaper.
// - The layer arrows of docs/ARCHITECTURE.md ("Which folder may import which"): a file in
//   src/<folder>/ may import only from the folders LAYERS lists for it (and its own folder); src/ref
//   may take types, never values, from src/ops; nothing in src/ imports tests/, bench/ or tools/.
//   tests/lint.test.ts checks that this table and the one in ARCHITECTURE.md are the same and
//   that a wrong import fails.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** src/<folder> -> the src/ folders it may import from (its own folder always). */
export const LAYERS = {
  util: [],
  gpu: ['util'],
  io: ['util'],
  platform: ['util'],
  data: ['platform', 'util'],
  config: ['data', 'util'],
  hub: ['io', 'platform', 'util'],
  ops: ['gpu', 'util'],
  ref: ['util'], // + types from ops (TYPE_ONLY)
  model: ['data', 'gpu', 'io', 'ops', 'platform', 'util'],
  eval: ['data', 'gpu', 'model', 'ops', 'platform', 'util'],
  train: ['config', 'data', 'gpu', 'io', 'model', 'ops', 'platform', 'util'],
  run: ['config', 'data', 'eval', 'gpu', 'hub', 'io', 'model', 'ops', 'platform', 'train', 'util'],
  cli: ['config', 'data', 'eval', 'gpu', 'hub', 'io', 'model', 'ops', 'platform', 'run', 'train', 'util'],
  worker: ['config', 'data', 'eval', 'gpu', 'hub', 'io', 'model', 'ops', 'platform', 'run', 'train', 'util'],
  app: ['gpu', 'platform', 'run', 'util', 'worker'],
};

/**
 * The library's entry files at the top of src/ -> the folders they must not import: `vembed-web`
 * (src/index.ts) is for browser bundles and Node alike, so no front end; `vembed-web/node`
 * (src/index-node.ts) also runs training and evaluation as the `vembed` command does (src/cli),
 * but not the app's worker or page.
 */
export const ENTRIES = {
  index: ['cli', 'worker', 'app'],
  'index-node': ['worker', 'app'],
};

/** Longest file of src/ (lines, as `wc -l` counts them): a longer one is split by concern. */
export const MAX_LINES = 400;

/** Imports allowed for their types only: src/ref implements the same signatures as src/ops. */
export const TYPE_ONLY = { ref: ['ops'] };

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A relative import that climbs out of the folder into src/<name> (or past src/ into <name>). */
const into = (names) => `^(\\.\\./)+(${names.map(escape).join('|')})(/|$)`;

/** The no-restricted-imports options for the files of src/<folder>. */
export function layerRule(folder) {
  const allowed = new Set([folder, ...LAYERS[folder]]);
  const typeOnly = TYPE_ONLY[folder] ?? [];
  const forbidden = Object.keys(LAYERS).filter((f) => !allowed.has(f) && !typeOnly.includes(f));
  const to = `src/${folder} may import only from ${[...LAYERS[folder]].map((f) => `src/${f}`).join(', ') || 'itself'}`;
  const patterns = [
    {
      regex: into(forbidden),
      message: `${to} (docs/ARCHITECTURE.md, "Which folder may import which").`,
    },
    { regex: into(['tests', 'bench', 'tools']), message: 'src/ never imports tests/, bench/ or tools/.' },
  ];
  if (typeOnly.length) {
    patterns.push({
      regex: into(typeOnly),
      allowTypeImports: true,
      message: `src/${folder} may take only types from ${typeOnly.map((f) => `src/${f}`).join(', ')} (import type): the reference computes everything itself.`,
    });
  }
  return ['error', { patterns }];
}

export default defineConfig(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'dist-app/**',
      'test-results/**',
      '.gpubench/**',
      'public/**',
      'coverage/**',
      'tests/fixtures/**',
      '**/*.d.ts',
    ],
  },
  {
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      // `_`-prefixed names are deliberately unused (destructuring the rest, positional arguments).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A defensive check of a value the types rule out (`never`) still names it in its message.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowNever: true }],
      // Passing on a rejection or abort reason we were given (`any`/`unknown`), as only-throw-error
      // allows for `throw`; new rejections are still Errors.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: MAX_LINES, skipBlankLines: false, skipComments: false }] },
  },
  ...Object.entries(ENTRIES).map(([file, forbidden]) => ({
    files: [`src/${file}.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^\\./(${forbidden.join('|')})(/|$)`,
              message: `src/${file}.ts (the library) may not import ${forbidden.map((f) => `src/${f}`).join(', ')} (docs/ARCHITECTURE.md).`,
            },
            { regex: into(['tests', 'bench', 'tools']), message: 'src/ never imports tests/, bench/ or tools/.' },
          ],
        },
      ],
    },
  })),
  ...Object.keys(LAYERS).map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: { '@typescript-eslint/no-restricted-imports': layerRule(folder) },
  })),
);

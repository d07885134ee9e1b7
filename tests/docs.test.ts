/**
 * The model math lives in docs/model.md, and code cites it as `docs/model.md#<anchor>` (anchors are
 * the `<a id="...">` tags there, not heading slugs, so rewording a heading breaks nothing). This
 * keeps that true. It fails when a text file under src/, shaders/, tools/, tests/, bench/, docs/,
 * bin/ or README.md
 *   - cites a specification outside the repository (the old spec file by name or by section sign), or
 *   - cites an anchor of model.md that does not exist;
 * when docs/model.md defines an anchor twice or links (`](#x)`) to one it lacks; and when a file
 * of shaders/dev is missing from shaders/dev/README.md (the lab's list of variants).
 * Plain file reads, no GPU:   npx vitest run tests/docs.test.ts
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOTS = ['src', 'shaders', 'tools', 'tests', 'bench', 'docs', 'bin', 'README.md'];
const TEXT = /\.(ts|mts|js|mjs|wgsl|py|md|sh|html|ya?ml)$/;
const MODEL_DOC = 'docs/model.md';

// Written in pieces so that this file does not cite them itself.
const OUTSIDE = [
  ['spec', '§'].join(' '),
  ['dino', 'models'].join('-'),
  ['shared', 'spec/'].join('/'),
  ['docs', 'spec'].join('/'),
];

function textFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return TEXT.test(path) ? [path] : [];
  return readdirSync(path)
    .filter((n) => n !== 'node_modules' && !n.startsWith('.'))
    .flatMap((n) => textFiles(join(path, n)));
}

/** `file:line: text` for each line that cites a specification outside the repository. */
export function outsideCitations(file: string, text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) => (OUTSIDE.some((p) => line.includes(p)) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

/** `file:line: #anchor` for each citation of docs/model.md whose anchor is not in `anchors`. */
export function badAnchorCitations(file: string, text: string, anchors: Set<string>): string[] {
  return text
    .split('\n')
    .flatMap((line, i) =>
      [...line.matchAll(/\bmodel\.md#([A-Za-z0-9_-]+)/g)]
        .filter((m) => !anchors.has(m[1]))
        .map((m) => `${file}:${i + 1}: #${m[1]} is not an anchor of ${MODEL_DOC}`),
    );
}

function anchorsOf(doc: string): string[] {
  return [...doc.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]);
}

const doc = readFileSync(MODEL_DOC, 'utf8');
const anchors = new Set(anchorsOf(doc));
const files = ROOTS.flatMap((r) => textFiles(r));

describe('docs/model.md is where the code points', () => {
  test('the scanner catches an outside citation and an unknown anchor (and passes good ones)', () => {
    const text =
      ['// rotation as in spec', '§1.4 of the spec'].join(' ') +
      '\n// see docs/model.md#rope and docs/model.md' +
      '#no-such-anchor';
    expect(outsideCitations('x.ts', text)).toHaveLength(1);
    expect(badAnchorCitations('x.ts', text, anchors)).toEqual([
      'x.ts:2: #no-such-anchor is not an anchor of docs/model.md',
    ]);
  });

  test('no file cites a specification outside the repository', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.flatMap((f) => outsideCitations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  test('every anchor of docs/model.md cited in the code exists', () => {
    const cited = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bmodel\.md#([A-Za-z0-9_-]+)/g)]);
    expect(cited.length).toBeGreaterThan(20);
    expect(files.flatMap((f) => badAnchorCitations(f, readFileSync(f, 'utf8'), anchors))).toEqual([]);
  });

  test('docs/model.md: anchors are unique and its own links resolve', () => {
    const all = anchorsOf(doc);
    expect(all.filter((a, i) => all.indexOf(a) !== i)).toEqual([]);
    const links = [...doc.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(10);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
  });
});

test('shaders/dev/README.md lists every lab variant', () => {
  const readme = readFileSync('shaders/dev/README.md', 'utf8');
  const variants = readdirSync('shaders/dev').filter((n) => n.endsWith('.wgsl'));
  expect(variants.length).toBeGreaterThan(0);
  expect(variants.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
});

/**
 * The npm package as a user gets it: `npm pack` (prepack builds dist/ with vite.lib.config.ts),
 * the tarball installed into an empty folder with no network, then, from that folder only:
 *   `npx vembed --help`, `npx vembed embed` of two fixture images with the tiny DINOv2, and a
 *   10-line script on the library API (`vembed-web/node`: loadModel, embed) whose rows equal
 *   the CLI's; `vembed-web` (the browser entry) imports no Node module, sharp or webgpu, and
 *   Vite bundles it for the browser with the shaders inside; a
 *   TypeScript file importing both entries type-checks against dist/types.
 * Vite must not be needed at run time: the folder has no vite, vite-node or vitest, and the
 * package no src/ or shaders/ (the launcher would otherwise try vite-node and fail).
 *
 * Offline install: `npm install --offline <tarball>` would ask the registry for each dependency's
 * version list (a packument), which `npm ci` never stores in the npm cache; so the empty folder
 * gets a package-lock.json with our lock's production entries (same versions and integrity) and
 * `npm ci --offline` takes every tarball from the cache that the checkout's `npm ci` filled.
 * Run: npx vitest run tests/cli/package.test.ts (about 40 s on 2 idle cores).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'vite';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';

const exec = promisify(execFile);
const MODEL = resolve('tests/fixtures/models/dinov2-tiny');
const IMAGES = ['collage_97x61.png', 'tall_41x129.jpg'].map((f) => resolve('tests/fixtures/preprocess', f));
const root = mkdtempSync(join(tmpdir(), 'vembed-package-'));
const app = join(root, 'app');
/** The children's environment: no VEMBED_CLI, no NODE_PATH, npm kept off the network. */
const env: NodeJS.ProcessEnv = {
  ...process.env,
  npm_config_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
delete env.VEMBED_CLI;
delete env.NODE_PATH;

const run = (cmd: string, args: string[], cwd = app) => exec(cmd, args, { cwd, env, maxBuffer: 1 << 24 });

/** package-lock.json for a folder that depends on the tarball alone: our lock's non-dev entries. */
function lockFor(tarball: string): object {
  const ours = JSON.parse(readFileSync('package-lock.json', 'utf8'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { 'vembed-web': `file:${tarball}` } },
    'node_modules/vembed-web': {
      version: pkg.version,
      resolved: `file:${tarball}`,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages as Record<string, { dev?: boolean }>)) {
    if (path.startsWith('node_modules/') && !entry.dev) packages[path] = entry;
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

beforeAll(async () => {
  const packed = await run('npm', ['pack', '--pack-destination', root], process.cwd());
  const tarball = join(root, packed.stdout.trim().split('\n').pop()!);
  expect(existsSync(tarball), `npm pack wrote ${tarball}`).toBe(true);
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, dependencies: { 'vembed-web': `file:${tarball}` } }),
  );
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lockFor(tarball), null, 2));
  await run('npm', ['ci', '--offline']);
}, 180_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('the installed package holds dist/ and bin/, and no Vite is installed beside it', () => {
  const installed = join(app, 'node_modules');
  for (const dev of ['vite', 'vite-node', 'vitest', 'typescript'])
    expect(existsSync(join(installed, dev)), `${dev} installed`).toBe(false);
  expect(readdirSync(join(installed, 'vembed-web')).sort()).toEqual(['README.md', 'bin', 'dist', 'package.json']);
  for (const f of ['index.js', 'node.js', 'cli.js', 'types/index.d.ts', 'types/index-node.d.ts'])
    expect(existsSync(join(installed, 'vembed-web/dist', f)), f).toBe(true);
  const req = createRequire(join(app, 'script.mjs'));
  expect(() => req.resolve('vite'), 'vite resolvable from the folder').toThrow(/Cannot find module/);
  expect(req.resolve('sharp')).toContain(installed); // (the resolver itself works)
});

test('npx vembed --help runs with plain Node', async () => {
  const r = await run('npx', ['--offline', 'vembed', '--help']);
  expect(r.stdout).toMatch(/^usage: vembed <command>/);
  expect(r.stdout).toMatch(/embed +embed images/);
});

test('npx vembed embed, and the library API gives the same rows', async () => {
  const out = join(root, 'emb.safetensors');
  writeFileSync(
    join(app, 'script.mjs'),
    [
      "import { loadModel, embed } from 'vembed-web/node';",
      'const [model, ...images] = process.argv.slice(2);',
      'const m = await loadModel(model);',
      'const r = await embed(m, images);',
      'console.log(JSON.stringify({ rows: r.kept.length, dim: r.D, emb: Array.from(r.emb) }));',
      'm.destroy();',
    ].join('\n'),
  );
  // Both at once: each starts Dawn and tunes its kernels, most of the time on SwiftShader.
  const [r, script] = await Promise.all([
    run('npx', ['--offline', 'vembed', 'embed', '--model', MODEL, '--images', ...IMAGES, '--output', out]),
    run(process.execPath, ['script.mjs', MODEL, ...IMAGES]),
  ]);
  expect(r.stderr).toMatch(/wrote 2 embeddings of dimension 32 to /);
  const cli = SafetensorsFile.parse(readFileSync(out), out).f32('embeddings');
  const lib = JSON.parse(script.stdout);
  expect([lib.rows, lib.dim]).toEqual([2, 32]);
  expect(lib.emb.length).toBe(cli.length);
  lib.emb.forEach((x: number, i: number) => expect(Math.abs(x - cli[i])).toBeLessThanOrEqual(1e-6));
});

test('TypeScript sees the declarations of both entries (dist/types)', async () => {
  writeFileSync(
    join(app, 'check.ts'),
    [
      "import { embed, loadModel, type Model } from 'vembed-web/node';",
      "import { searchTopK } from 'vembed-web';",
      "const m: Model = await loadModel('folder');",
      "const r = await embed(m, ['a.png']);",
      'const d: number = r.D;',
      'await searchTopK(m.gpu, r.emb, r.emb, 1, 1, d, 1);',
      '// @ts-expect-error: images are paths (this line fails the check when the types are `any`)',
      'await embed(m, 42);',
    ].join('\n'),
  );
  const tsc = resolve('node_modules/.bin/tsc');
  await run(tsc, [
    '--noEmit',
    '--strict',
    '--module',
    'esnext',
    '--moduleResolution',
    'bundler',
    '--target',
    'es2022',
    '--skipLibCheck',
    'check.ts',
  ]);
});

test('the browser entry (vembed-web) imports no Node module, sharp or webgpu', async () => {
  const dist = join(app, 'node_modules/vembed-web/dist');
  const seen = new Set<string>();
  const bad: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^import [^;]*?from |^import |\bimport\()\s*["']([^"']+)["']/gm)) {
      const spec = m[1];
      if (spec.startsWith('.')) walk(resolve(file, '..', spec));
      else if (/^node:|^sharp$|^webgpu$/.test(spec)) bad.push(`${file.slice(dist.length + 1)} imports ${spec}`);
    }
  };
  walk(join(dist, 'index.js'));
  expect(seen.size).toBeGreaterThan(1);
  expect(bad).toEqual([]);
  // And the same walk does find them from the Node entry (the check can fail).
  walk(join(dist, 'node.js'));
  expect(bad.some((b) => b.includes('node:fs'))).toBe(true);
});

test('a browser bundle of vembed-web (Vite, as a consumer builds one) holds the shaders and no Node import', async () => {
  writeFileSync(
    join(app, 'page.js'),
    "import { loadModel, embed, searchTopK } from 'vembed-web';\nglobalThis.vembed = { loadModel, embed, searchTopK };\n",
  );
  const out = (await build({
    root: app,
    configFile: false,
    logLevel: 'warn',
    build: {
      outDir: 'bundle',
      write: false,
      minify: false,
      lib: { entry: 'page.js', formats: ['es'], fileName: 'page' },
    },
  })) as { output: { fileName: string; code?: string }[] }[];
  const code = out[0].output.map((o) => o.code ?? '').join('\n');
  expect(code).toContain('@compute');
  expect(code).not.toMatch(/from ["']node:|import\(["']node:|from ["'](sharp|webgpu)["']/);
});

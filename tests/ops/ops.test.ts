/**
 * Runs every `tests/ops/*.cases.ts` in Node on Dawn (SwiftShader here, a real GPU elsewhere).
 * The same GPU cases run in headless Chromium from tests/e2e/browser-ops.test.ts.
 */
import { afterAll, describe, test } from 'vitest';
import type { CasesModule } from '../helpers/cases';
import { nodeGpu } from '../helpers/node-gpu';

const modules = import.meta.glob('./*.cases.ts', { eager: true }) as Record<string, CasesModule>;

for (const [path, mod] of Object.entries(modules)) {
  const name = path.replace(/^\.\//, '').replace(/\.cases\.ts$/, '');
  describe(name, () => {
    for (const c of mod.gpuCases) {
      test(`gpu: ${c.name}`, async () => {
        await c.run(await nodeGpu());
      });
    }
    for (const c of mod.refCases ?? []) {
      test(`ref: ${c.name}`, () => c.run());
    }
  });
}

afterAll(async () => {
  (await nodeGpu()).destroy();
});

import { defineConfig } from 'vitest/config';

const shared = {
  // Dawn's native module is safest in child processes, one device per file.
  pool: 'forks' as const,
  testTimeout: 120_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/e2e/app.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The app's end-to-end test measures main-thread long tasks while training: it runs
        // after the other files, alone, so the 2 cores are not shared with other test files.
        test: {
          ...shared,
          name: 'app',
          include: ['tests/e2e/app.test.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

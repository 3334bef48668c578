import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fault tests start processes and kill services: `npm run test:faults` runs them.
    exclude: ['**/node_modules/**', 'test/faults/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Hang guards, not performance limits: a file's stack and its longest tests take several times
    // longer on a loaded machine (the retention tests passed in 40 s alone and hit 60 s beside others).
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

// The fault tests (issue 5): excluded from `npm test`, run by `npm run test:faults`, one file at a
// time because they spawn processes and kill private services.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Lets the PostgreSQL tests share one throwaway cluster per run (started only if one of them runs).
    globalSetup: ['test/helpers/postgres-global.ts'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@gateway/source'] },
  ssr: { resolve: { conditions: ['@gateway/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests share one real Redis; each uses its own key prefix, so files may run in parallel.
    fileParallelism: true,
    maxWorkers: 2,
  },
});

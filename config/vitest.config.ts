import { defineConfig } from 'vitest/config';

/** The one test config every package re-exports: tests run against source through the custom condition. */
export default defineConfig({
  resolve: { conditions: ['@bioprop/source'] },
  ssr: { resolve: { conditions: ['@bioprop/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});

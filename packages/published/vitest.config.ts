import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../config/vitest.config.ts';

// The shared config, plus one packing of every published package for all three test files.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 600_000,
      hookTimeout: 600_000,
    },
  }),
);

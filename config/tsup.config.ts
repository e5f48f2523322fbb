import { defineConfig } from 'tsup';

/** The one build config every package re-exports: ESM, declarations, source maps. */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'neutral',
});

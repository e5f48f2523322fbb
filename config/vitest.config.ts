import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const NATIVE_JSON = '\0bioprop-native-json:';

/** The one test config every package re-exports: tests run against source through the custom condition. */
export default defineConfig({
  plugins: [
    {
      // JSON modules imported from packages (the embedded digits, 21 MB) are read with JSON.parse: vite would turn
      // each into a JavaScript module, seconds per file and test file
      name: 'bioprop:native-json',
      enforce: 'pre',
      async resolveId(source, importer) {
        if (!/^[@\w].*\.json$/.test(source)) return null;
        const resolved = await this.resolve(source, importer, { skipSelf: true });
        // the path is encoded: an id naming node_modules would be handed to Node's loader as is
        return resolved && /[\\/]node_modules[\\/]/.test(resolved.id) ? `${NATIVE_JSON}${Buffer.from(resolved.id).toString('base64url')}.js` : null;
      },
      load(id) {
        if (!id.startsWith(NATIVE_JSON)) return null;
        const file = Buffer.from(id.slice(NATIVE_JSON.length, -'.js'.length), 'base64url').toString();
        // top-level keys are named exports too, as with vite's own JSON modules
        const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
        const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).filter((k) => k !== 'default') : [];
        return [
          `import { readFileSync } from 'node:fs';`,
          `const json = JSON.parse(readFileSync(${JSON.stringify(file)}, 'utf8'));`,
          'export default json;',
          ...keys.map((k, i) => `const key${i} = json[${JSON.stringify(k)}];\nexport { key${i} as ${JSON.stringify(k)} };`),
        ].join('\n');
      },
    },
  ],
  resolve: { conditions: ['@bioprop/source'] },
  ssr: { resolve: { conditions: ['@bioprop/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // registers the cpu and wasm backends the package installed (core imports no backend; see test-backends.ts)
    setupFiles: [fileURLToPath(new URL('./test-backends.ts', import.meta.url))],
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});

import { defineConfig, type Plugin } from 'vite';

/**
 * The dev server serves a JSON module as JavaScript, so the browser rejects a dynamic `import(…, { with: { type:
 * 'json' } })` of it (how @bioprop/datasets loads the embedded digits); the production build resolves the attribute
 * itself. In dev only, drop the attribute from dynamic imports of .json files.
 */
function jsonImportAttributesInDev(): Plugin {
  const attribute = /(import\(\s*(['"])[^'"]+\.json\2)\s*,\s*\{\s*with:\s*\{\s*type:\s*(['"])json\3\s*\}\s*\}\s*\)/g;
  return {
    name: 'playground:json-import-attributes-in-dev',
    apply: 'serve',
    transform(code) {
      if (!code.includes('.json')) return null;
      const out = code.replace(attribute, '$1)');
      return out === code ? null : out;
    },
  };
}

// A static site: relative asset paths (any host, any folder), the worker as an ES module (it splits the backends
// into chunks loaded only when tried), the packages' built entries (no source condition: the app is a consumer).
export default defineConfig({
  base: './',
  plugins: [jsonImportAttributesInDev()],
  worker: { format: 'es', plugins: () => [jsonImportAttributesInDev()] },
  // prebundled up front, so the first page load does not reload the page (and its worker) halfway
  optimizeDeps: { include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgl', '@tensorflow/tfjs-backend-webgpu'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});

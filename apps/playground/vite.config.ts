import { defineConfig } from 'vite';

// A static site: relative asset paths (any host, any folder), the worker as an ES module (it splits the backends
// into chunks loaded only when tried), the packages' built entries (no source condition: the app is a consumer).
export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});

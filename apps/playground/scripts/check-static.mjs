// Lint of the static build: every URL in dist/index.html is relative (the site works from any host and folder),
// and the build holds the worker and the wasm binaries it loads.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const fail = (msg) => {
  console.error(`check-static: ${msg}`);
  process.exit(1);
};
if (!existsSync(join(dist, 'index.html'))) fail('dist/index.html is missing: run `pnpm build` first');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
const absolute = urls.filter((u) => /^(\/|[a-z]+:)/i.test(u) && !u.startsWith('data:'));
if (absolute.length) fail(`absolute URLs in index.html (set base: './'): ${absolute.join(', ')}`);
const assets = readdirSync(join(dist, 'assets'));
for (const want of [/^worker-.*\.js$/, /^tfjs-backend-wasm-simd-.*\.wasm$/]) {
  if (!assets.some((f) => want.test(f))) fail(`no asset matching ${want} in dist/assets`);
}
console.log(`check-static: ${urls.length} relative URLs, ${assets.length} assets`);

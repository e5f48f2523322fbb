import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTarGz } from './tar.js';
import { ROOT, pnpmCommand, publishedPackages, run, tail } from './workspace.js';
import { readFileSync } from 'node:fs';

/** Tarballs by package name. */
export type Packed = Record<string, string>;

/**
 * `pnpm pack` every published package into `dest` (workspace:^ and catalog: rewritten to versions, as `pnpm publish`
 * would). The packages must be built: turbo builds them before this package's tests.
 */
export function packPublished(dest: string): Packed {
  mkdirSync(dest, { recursive: true });
  const pkgs = publishedPackages();
  const unbuilt = pkgs.filter((p) => !existsSync(join(p.dir, 'dist')));
  if (unbuilt.length) {
    throw new Error(
      `not built: ${unbuilt.map((p) => p.name).join(', ')}. Run \`pnpm build\` first (\`pnpm test\` builds every package before any test).`,
    );
  }
  const filters = pkgs.flatMap((p) => ['--filter', p.name]);
  const r = run([...pnpmCommand(), '-r', ...filters, 'pack', '--pack-destination', dest], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`pnpm pack failed:\n${tail(r.output)}`);
  const packed: Packed = {};
  for (const file of readdirSync(dest).filter((f) => f.endsWith('.tgz'))) {
    const json = readTarGz(new Uint8Array(readFileSync(join(dest, file)))).get('package/package.json');
    if (json) packed[(JSON.parse(new TextDecoder().decode(json)) as { name: string }).name] = join(dest, file);
  }
  const missing = pkgs.filter((p) => !packed[p.name]);
  if (missing.length) throw new Error(`pnpm pack made no tarball for ${missing.map((p) => p.name).join(', ')}:\n${tail(r.output)}`);
  return packed;
}

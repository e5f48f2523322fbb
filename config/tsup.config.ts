import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

interface PackageJson {
  exports?: Record<string, unknown>;
  optionalDependencies?: Record<string, string>;
}

function readPackageJson(dir: string): PackageJson {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return {};
  }
}

/**
 * The entries a package publishes, read from its `exports` map: every subpath's `@bioprop/source` file
 * (`"."` → `src/index.ts`, `"./node"` → `src/node.ts`), so the built files can never drift from the map.
 */
export function sourceEntries(pkg: PackageJson): string[] {
  const entries: string[] = [];
  for (const target of Object.values(pkg.exports ?? {})) {
    const source = target && typeof target === 'object' ? (target as Record<string, unknown>)['@bioprop/source'] : undefined;
    if (typeof source === 'string') entries.push(source.replace(/^\.\//, ''));
  }
  return entries.length ? entries : ['src/index.ts'];
}

/**
 * The one build config every package uses: ESM, declarations, source maps, one entry per `exports` subpath.
 * Optional dependencies stay external (tsup externalizes only dependencies and peers; an optional native
 * package must never be copied into a bundle). Per-package files re-export the default, or call this with
 * overrides: `export default sharedConfig({ entry: ['src/index.ts', 'src/bin.ts'], platform: 'node' })`.
 */
export function sharedConfig(overrides: Options = {}, dir: string = process.cwd()): Options {
  const pkg = readPackageJson(dir);
  const optional = Object.keys(pkg.optionalDependencies ?? {});
  return {
    entry: sourceEntries(pkg),
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'neutral',
    ...overrides,
    external: [...optional, ...(overrides.external ?? [])],
  };
}

export default defineConfig(sharedConfig());

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** The export conditions a Node ESM import matches (the package's own order decides among them). */
const CONDITIONS = new Set(['node', 'import', 'default']);

/** The file an `exports` value points to under Node's import conditions, or null. */
function exportTarget(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const t = exportTarget(v);
      if (t !== null) return t;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [condition, v] of Object.entries(value)) {
      if (!CONDITIONS.has(condition)) continue;
      const t = exportTarget(v);
      if (t !== null) return t;
    }
  }
  return null;
}

/** The module file of `subpath` ('' for the package itself) in a package directory, as `import` would load it. */
function packageEntry(dir: string, subpath: string): string | null {
  let manifest: { exports?: unknown; main?: string };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch {
    return null;
  }
  const { exports } = manifest;
  if (exports !== undefined) {
    const key = subpath ? `./${subpath}` : '.';
    const bySubpath = exports !== null && typeof exports === 'object' && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
    const value = bySubpath ? (exports as Record<string, unknown>)[key] : key === '.' ? exports : undefined;
    const target = value === undefined ? null : exportTarget(value);
    return target === null ? null : join(dir, target);
  }
  return join(dir, subpath || manifest.main || 'index.js');
}

/**
 * The file to import for `--plugin <spec>`, found from `cwd` as the user's own code would find it: a path
 * (`./my-rules`, `/abs/index.js`) or an installed package (`my-rules`, `@me/rules`, `@me/rules/extra`) in a
 * `node_modules` of `cwd` or a directory above. Packages resolve through their `exports` (import conditions).
 */
export function resolvePlugin(spec: string, cwd: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) {
    const path = resolve(cwd, spec);
    if (!existsSync(path)) throw new UsageError(`--plugin ${spec}: ${path} does not exist`);
    if (!statSync(path).isDirectory()) return path;
    const entry = packageEntry(path, '');
    if (entry === null || !existsSync(entry)) throw new UsageError(`--plugin ${spec}: ${path} is a directory without a package.json entry point`);
    return entry;
  }
  const parts = spec.split('/');
  const nameLength = spec.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLength).join('/');
  const subpath = parts.slice(nameLength).join('/');
  if (!name || (spec.startsWith('@') && parts.length < 2)) throw new UsageError(`--plugin ${spec}: not a package name or a path`);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const packageDir = join(dir, 'node_modules', name);
    if (existsSync(join(packageDir, 'package.json'))) {
      const entry = packageEntry(packageDir, subpath);
      if (entry === null) throw new UsageError(`--plugin ${spec}: ${packageDir} exports no ${subpath ? `"./${subpath}"` : 'main entry'} for import`);
      return entry;
    }
    if (dirname(dir) === dir) break;
  }
  throw new UsageError(`--plugin ${spec}: no package "${name}" installed in ${resolve(cwd)} or a directory above (install it there, e.g. npm install ${name})`);
}

// A package registry on 127.0.0.1 that serves our packed tarballs and, packed from the workspace's node_modules,
// every third-party package they need: npm installs the tarballs as a user would (by name, resolving ranges,
// duplicates and peers), and nothing reaches the network.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { readTarGz, packDirectory } from './tar.js';
import { readJson, type PackageJson } from './workspace.js';

interface Entry {
  manifest: PackageJson;
  tgz: Uint8Array;
}

/** The package directory `name` resolves to from `fromDir`, as Node (and pnpm's layout) resolves it. */
function resolvePackageDir(fromDir: string, name: string): string | null {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(d) === d) return null;
  }
}

/** Dependencies npm installs for a package: dependencies, optional dependencies and required peers. */
function installedDeps(pkg: PackageJson): Record<string, string> {
  const optionalPeers = new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, m]) => m?.optional).map(([n]) => n));
  const peers = Object.entries(pkg.peerDependencies ?? {}).filter(([n]) => !optionalPeers.has(n));
  return { ...pkg.dependencies, ...pkg.optionalDependencies, ...Object.fromEntries(peers) };
}

/**
 * Every third-party package the given workspace packages need, found in the workspace's node_modules (pnpm links
 * each package's dependencies and peers beside it). Workspace packages (`@bioprop/*`) are left out: they come as
 * tarballs. A required dependency that is not installed is an error.
 */
export function thirdPartyClosure(roots: { dir: string; json: PackageJson }[], skip: (name: string) => boolean): Map<string, PackageJson> {
  const seen = new Map<string, PackageJson>();
  const visit = (dir: string, pkg: PackageJson) => {
    for (const name of Object.keys(installedDeps(pkg))) {
      if (skip(name)) continue;
      const found = resolvePackageDir(dir, name);
      if (!found) {
        if (pkg.optionalDependencies?.[name]) continue;
        throw new Error(`${pkg.name} needs ${name}, which is not installed in the workspace (run pnpm install)`);
      }
      if (seen.has(found)) continue;
      const json = readJson(join(found, 'package.json'));
      seen.set(found, json);
      visit(found, json);
    }
  };
  for (const r of roots) visit(r.dir, r.json);
  return seen;
}

export interface LocalRegistry {
  url: string;
  /** Package names and versions it serves. */
  served: string[];
  /** Every request it answered with 404 (a package npm wanted that the registry does not have). */
  misses: string[];
  close(): Promise<void>;
}

/** Serve tarballs (ours, already packed) and directories (third-party, packed here) as a registry. */
export async function startRegistry(tarballs: string[], dirs: string[]): Promise<LocalRegistry> {
  const packages = new Map<string, Map<string, Entry>>();
  const add = (manifest: PackageJson, tgz: Uint8Array) => {
    if (!packages.has(manifest.name)) packages.set(manifest.name, new Map());
    packages.get(manifest.name)!.set(manifest.version, { manifest, tgz });
  };
  for (const file of tarballs) {
    const tgz = new Uint8Array(readFileSync(file));
    const json = readTarGz(tgz).get('package/package.json');
    if (!json) throw new Error(`${file} holds no package/package.json`);
    add(JSON.parse(new TextDecoder().decode(json)) as PackageJson, tgz);
  }
  for (const dir of dirs) add(readJson(join(dir, 'package.json')), packDirectory(dir));

  const misses: string[] = [];
  let base = '';
  const tarballPath = (name: string, version: string) => `/-/tarballs/${encodeURIComponent(name)}/${version}.tgz`;
  const packument = (name: string) => {
    const versions = packages.get(name)!;
    const out: Record<string, unknown> = {};
    for (const [version, { manifest, tgz }] of versions) {
      out[version] = {
        ...manifest,
        _id: `${name}@${version}`,
        dist: {
          tarball: `${base}${tarballPath(name, version)}`,
          integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
          shasum: createHash('sha1').update(tgz).digest('hex'),
        },
      };
    }
    const latest = [...versions.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).pop();
    return { name, 'dist-tags': { latest }, versions: out };
  };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const tar = /^\/-\/tarballs\/(.+)\/([^/]+)\.tgz$/.exec(path);
    if (tar) {
      const entry = packages.get(tar[1])?.get(tar[2]);
      if (entry) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': entry.tgz.length }).end(entry.tgz);
        return;
      }
    } else {
      const name = path.slice(1);
      if (packages.has(name)) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument(name)));
        return;
      }
    }
    misses.push(`${req.method} ${path}`);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/`,
    served: [...packages].flatMap(([name, versions]) => [...versions.keys()].map((v) => `${name}@${v}`)),
    misses,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

// Builds the N-API addon with node-gyp against the installed Node's headers (--nodedir: never downloads).
// The addon is optional: on any failure this prints why, records it in build/native-status.json (which the
// loader turns into a clear import error so the backend resolver falls back), and exits 0.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'build');
const statusFile = join(buildDir, 'native-status.json');
const addonFile = join(buildDir, 'Release', 'bioprop_blas.node');
// node-gyp's rebuild wipes its build directory: it runs in a staging copy, and the finished addon is renamed into
// place, so tests and programs running while someone rebuilds never see a missing file
const stageDir = join(root, `build-stage-${process.pid}`);
const require = createRequire(import.meta.url);

function record(status) {
  mkdirSync(buildDir, { recursive: true });
  const tmp = `${statusFile}.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ ...status, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
  renameSync(tmp, statusFile);
}

/** What the addon depends on: its sources, the gyp file, Node's ABI and the OpenBLAS flags. */
function inputsHash() {
  const h = createHash('sha256');
  const files = ['scripts/openblas-flags.mjs', ...readdirSync(join(root, 'native')).sort().map((f) => `native/${f}`)];
  for (const f of files) h.update(f).update(readFileSync(join(root, f)));
  h.update(process.version).update(process.arch).update(process.env.CXX ?? '');
  for (const which of ['cflags', 'libs']) {
    h.update(execFileSync(process.execPath, [join(root, 'scripts/openblas-flags.mjs'), which], { encoding: 'utf8' }));
  }
  return h.digest('hex');
}

function giveUp(reason) {
  // a stale addon from an earlier build must not stand in for this one
  rmSync(addonFile, { force: true });
  rmSync(stageDir, { recursive: true, force: true });
  record({ ok: false, reason });
  console.warn(`[@bioprop/tfjs-backend-blas] native addon not built: ${reason}`);
  console.warn('[@bioprop/tfjs-backend-blas] the package still builds; importing it will throw and `auto` falls back to wasm/cpu.');
  process.exit(0);
}

/** The directory holding include/node/node_api.h for the Node that runs this script. */
function findNodeDir() {
  const candidates = [process.env.BIOPROP_NODEDIR, process.env.npm_config_nodedir, dirname(dirname(process.execPath))].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

/** The last lines of a failed command's output that say what went wrong. */
function tail(text, lines = 6) {
  const all = text.split('\n').map((l) => l.trimEnd()).filter((l) => l && !/^gyp info/.test(l));
  const errors = all.filter((l) => /error|not found|No such file|cannot find/i.test(l));
  return (errors.length ? errors : all).slice(-lines).join(' | ');
}

const NO_OPENBLAS = 'OpenBLAS was not found (no `pkg-config openblas`, no openblas cblas.h); install libopenblas-dev';

if (process.env.BIOPROP_BLAS_SKIP_NATIVE) giveUp('skipped because BIOPROP_BLAS_SKIP_NATIVE is set');
// what a machine without OpenBLAS gets, on one that has it (the package's install test uses it)
if (process.env.BIOPROP_BLAS_ASSUME_NO_OPENBLAS) giveUp(NO_OPENBLAS);

const hash = inputsHash();
const force = process.argv.includes('--force');
if (!force && existsSync(addonFile) && existsSync(statusFile)) {
  try {
    const prev = JSON.parse(readFileSync(statusFile, 'utf8'));
    if (prev.ok && prev.hash === hash) {
      console.log('[@bioprop/tfjs-backend-blas] native addon is up to date');
      process.exit(0);
    }
  } catch {
    /* rebuild */
  }
}

const nodedir = findNodeDir();
if (!nodedir) {
  giveUp(`Node's headers (include/node/node_api.h) were not found next to ${process.execPath}; set BIOPROP_NODEDIR to the directory that holds include/node`);
}

let compiler = process.env.CXX || 'c++';
try {
  execFileSync(compiler, ['--version'], { stdio: 'ignore' });
} catch {
  giveUp(`no C++ compiler (${compiler} --version failed); install build-essential`);
}

const openblasHeader = ['/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h', '/usr/include/aarch64-linux-gnu/openblas-pthread/cblas.h', '/usr/include/openblas/cblas.h'];
let hasPkgConfig = false;
try {
  execFileSync('pkg-config', ['--exists', 'openblas'], { stdio: 'ignore' });
  hasPkgConfig = true;
} catch {
  /* checked by path below */
}
if (!hasPkgConfig && !openblasHeader.some((p) => existsSync(p))) giveUp(NO_OPENBLAS);

// node-gyp: this package's devDependency in the workspace; in an installed package, the copy npm and pnpm bundle
// and name in npm_config_node_gyp for install scripts
let nodeGyp;
try {
  nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  nodeGyp = process.env.npm_config_node_gyp;
  if (!nodeGyp || !existsSync(nodeGyp)) giveUp('node-gyp was not found (not installed, and the package manager named none in npm_config_node_gyp)');
}
try {
  require.resolve('node-addon-api');
} catch {
  giveUp('node-addon-api (a dependency of this package) is not installed');
}

rmSync(stageDir, { recursive: true, force: true });
mkdirSync(stageDir, { recursive: true });
// binding.gyp lives in native/, not the package root: a root binding.gyp makes npm and pnpm run an implicit
// `node-gyp rebuild` at install time, which would fail `pnpm install` on machines without OpenBLAS
for (const f of ['native', 'scripts/openblas-flags.mjs']) cpSync(join(root, f), join(stageDir, f), { recursive: true });
cpSync(join(root, 'native', 'binding.gyp'), join(stageDir, 'binding.gyp'));
const stagedAddon = join(stageDir, 'build', 'Release', 'bioprop_blas.node');

const jobs = String(Math.max(1, Math.min(2, Number(process.env.BIOPROP_BLAS_JOBS) || 2)));
const gyp = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`, '--loglevel=warn'], {
  cwd: stageDir,
  encoding: 'utf8',
  // offline by construction: --nodedir means no header download; no proxy for anything else either
  env: { ...process.env, npm_config_nodedir: nodedir, npm_config_offline: 'true' },
});
if (gyp.status !== 0) {
  process.stderr.write(gyp.stdout ?? '');
  process.stderr.write(gyp.stderr ?? '');
  giveUp(`node-gyp failed (${tail(`${gyp.stdout ?? ''}\n${gyp.stderr ?? ''}`) || gyp.error?.message || `exit ${gyp.status}`})`);
}
if (!existsSync(stagedAddon)) giveUp(`node-gyp succeeded but ${stagedAddon} is missing`);

// a library that links but does not load (no libopenblas.so.0 at run time) is a failure too
const probe = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(stagedAddon)}); console.log(JSON.stringify(a.info()))`], { encoding: 'utf8' });
if (probe.status !== 0) giveUp(`the addon was built but does not load: ${tail(probe.stderr ?? '', 2)}`);
const info = JSON.parse(probe.stdout.trim());
mkdirSync(dirname(addonFile), { recursive: true });
renameSync(stagedAddon, addonFile);
rmSync(stageDir, { recursive: true, force: true });
record({ ok: true, hash, nodedir, openblas: info.openblasConfig, core: info.openblasCoretype });
console.log(`[@bioprop/tfjs-backend-blas] native addon built against ${nodedir} (OpenBLAS ${info.openblasConfig}, ${info.openblasCoretype})`);

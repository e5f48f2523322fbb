#!/usr/bin/env node
// The generator's check (run by CI after the tests, not as a test: pnpm install rewrites every package's
// node_modules/.bin, which would race with the tests turbo runs in parallel). It checks the generator's refusals, runs
// `pnpm new-rule demo`, links it with pnpm install, runs the new package's typecheck, tests, build and lint, then
// deletes it and restores pnpm-lock.yaml byte for byte and node_modules to match. Exit 0 only when the generated
// package passes everything and the workspace is as it was.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ID = process.argv[2] ?? 'demo';
const DIR = join(ROOT, 'packages', ID);
const LOCK = join(ROOT, 'pnpm-lock.yaml');
// files the generator and an install may touch outside the new package: each must come back byte for byte
const WATCHED = ['pnpm-lock.yaml', 'package.json', 'pnpm-workspace.yaml'];

const sha = (file) => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : null);
const log = (line) => console.log(`[check-new-rule] ${line}`);

/** The pnpm running us (`pnpm test` sets npm_execpath), else the pinned one through npx. */
function pnpmCommand() {
  const exec = process.env.npm_execpath;
  if (exec && /pnpm/.test(exec) && existsSync(exec)) return [process.execPath, [exec]];
  return ['npx', ['-y', 'pnpm@10.34.9']];
}

function run(cmd, args, cwd = ROOT) {
  log(`$ ${[cmd, ...args].join(' ')}${cwd === ROOT ? '' : `  (in ${cwd.slice(ROOT.length + 1)})`}`);
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: process.env });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited with ${r.status ?? r.signal}`);
}

/** The generator must refuse these ids with a usage error (exit 2) that says why, and write nothing. */
function expectRefused(id, why) {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'new-rule.mjs'), id], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 2 || !why.test(r.stderr)) {
    throw new Error(`new-rule ${id}: expected a refusal matching ${why} (exit 2), got exit ${r.status}: ${r.stderr.split('\n')[0]}`);
  }
  log(`refused "${id}": ${r.stderr.split('\n')[0].replace(/^new-rule: /, '')}`);
}

function pnpm(args, cwd) {
  const [cmd, pre] = pnpmCommand();
  run(cmd, [...pre, ...args], cwd);
}

if (existsSync(DIR)) {
  console.error(`[check-new-rule] packages/${ID} exists already: the check would not be able to restore it`);
  process.exit(2);
}
const before = Object.fromEntries(WATCHED.map((f) => [f, sha(join(ROOT, f))]));
const lockBytes = readFileSync(LOCK);
const started = Date.now();
let failure = null;
try {
  expectRefused('Demo', /must be lowercase/);
  expectRefused('core', /packages\/core exists already/);
  expectRefused('new', /reserved word/);
  run(process.execPath, [join(ROOT, 'scripts', 'new-rule.mjs'), ID]);
  expectRefused(ID, new RegExp(`packages/${ID} exists already`));
  // under CI=true pnpm freezes the lockfile by default: adding a workspace package must update it
  pnpm(['install', '--no-frozen-lockfile', '--prefer-offline']);
  const linked = join(DIR, 'node_modules', '@bioprop', 'core', 'package.json');
  if (!existsSync(linked)) throw new Error(`pnpm install did not link @bioprop/core into packages/${ID}`);
  for (const script of ['typecheck', 'test', 'build', 'lint']) pnpm(['run', script], DIR);
} catch (e) {
  failure = e;
} finally {
  rmSync(DIR, { recursive: true, force: true });
  // the install added one importer block; anything else that changed meanwhile (someone else's install) is kept, and
  // reported below as a lockfile that did not come back byte for byte
  const now = readFileSync(LOCK, 'utf8');
  const withoutDemo = now.replace(new RegExp(`\\n  packages/${ID}:\\n(?:    .*\\n)*`), '');
  writeFileSync(LOCK, withoutDemo === lockBytes.toString('utf8') ? lockBytes : withoutDemo);
  try {
    // prune the demo's links from node_modules: the restored lockfile is the truth again
    pnpm(['install', '--frozen-lockfile', '--prefer-offline']);
  } catch (e) {
    failure ??= e;
  }
}
const changed = WATCHED.filter((f) => sha(join(ROOT, f)) !== before[f]);
if (existsSync(DIR)) failure ??= new Error(`packages/${ID} is still there`);
if (changed.length) failure ??= new Error(`not restored: ${changed.join(', ')}`);
const modulesLock = join(ROOT, 'node_modules', '.pnpm', 'lock.yaml');
if (existsSync(modulesLock) && readFileSync(modulesLock, 'utf8').includes(`packages/${ID}:`)) {
  failure ??= new Error(`node_modules/.pnpm/lock.yaml still lists packages/${ID}`);
}
const seconds = ((Date.now() - started) / 1000).toFixed(0);
if (failure) {
  console.error(`[check-new-rule] FAILED after ${seconds} s: ${failure.message}`);
  process.exit(1);
}
log(`ok in ${seconds} s: packages/${ID} generated, linked, typechecked, tested, built and linted; removed, lockfile and workspace restored`);

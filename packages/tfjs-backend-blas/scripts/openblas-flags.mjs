// Prints the compiler or linker flags for OpenBLAS (pkg-config when present, Debian's paths otherwise).
// Used by binding.gyp; prints nothing extra so gyp can split the output into arguments.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const which = process.argv[2] === 'libs' ? '--libs' : '--cflags';
let flags = '';
try {
  flags = execFileSync('pkg-config', [which, 'openblas'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  const multiarch = ['/usr/include/x86_64-linux-gnu/openblas-pthread', '/usr/include/aarch64-linux-gnu/openblas-pthread', '/usr/include/openblas'];
  const inc = multiarch.find((d) => existsSync(`${d}/cblas.h`));
  flags = which === '--libs' ? '-lopenblas' : inc ? `-I${inc}` : '';
}
process.stdout.write(flags);

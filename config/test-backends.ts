// Tests are the application: as an application imports the backends it installed, every test file of a package
// that has @tensorflow/tfjs-backend-cpu or -wasm gets them registered (not activated), so `resolveBackend('wasm')`
// needs no loader there. Resolved from the package under test; a package without them (datasets) loads nothing.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(join(process.cwd(), 'package.json'));
for (const pkg of ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']) {
  let entry: string | undefined;
  try {
    entry = require.resolve(pkg);
  } catch {
    continue;
  }
  await import(/* @vite-ignore */ pathToFileURL(entry).href);
}

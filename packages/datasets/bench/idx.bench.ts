import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { bench, describe } from 'vitest';
import { IDX_FILES, parseIdx } from '../src/index';
import { findDatasetFiles, gunzipIdx, howToGet } from '../src/node';
import { scaleBytes } from '../src/split';

// Parsing the real Fashion-MNIST training images (47 MB of IDX, 26 MB gzipped). Skipped when absent.
const found = findDatasetFiles('fashion-mnist');
const path = found?.paths[IDX_FILES.trainImages];
if (!path) console.warn(`[@bioprop/datasets bench] Fashion-MNIST not found; skipping. ${howToGet('fashion-mnist')}`);
const bytes = path ? readFileSync(path) : new Uint8Array(0);
const raw = path && bytes[0] === 0x1f ? gunzipSync(bytes) : bytes;

describe.skipIf(!path)(`parseIdx: Fashion-MNIST train images (${path ?? 'absent'})`, () => {
  bench('gunzip + parse', () => {
    parseIdx(bytes, path!, { gunzip: gunzipIdx });
  }, { time: 3000, iterations: 5 });

  bench('parse decompressed + scale to Float32 [0, 1]', () => {
    const { dims, data } = parseIdx(raw, path!);
    scaleBytes(data as Uint8Array, dims[0], dims[1] * dims[2]);
  }, { time: 1000, iterations: 5 });
});

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxFormatError, createRng, encodeIdx, parseIdx, parseIdxAsync, type IdxDtype, type Rng } from './index';
import { gunzipIdx } from './node';

const DTYPES: IdxDtype[] = ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'];

/** A real Fashion-MNIST train-images header (60000×28×28 unsigned bytes) followed by a few pixels. */
const REAL_HEADER = Uint8Array.from([0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28, ...new Array(64).fill(0)]);
const REAL_LABEL_HEADER = Uint8Array.from([0, 0, 8, 1, 0, 0, 0x27, 0x10, 9, 0, 0, 3, 0, 2, 7, 2]);

function validSample(rng: Rng): Uint8Array {
  const dtype = DTYPES[rng.int(DTYPES.length)];
  const nd = 1 + rng.int(4);
  const dims = Array.from({ length: nd }, () => rng.int(4));
  const n = dims.reduce((a, b) => a * b, 1);
  return encodeIdx(dtype, dims, Array.from({ length: n }, () => rng.int(100) - 50));
}

function mutate(bytes: Uint8Array, rng: Rng): Uint8Array {
  let out = Uint8Array.from(bytes);
  const ops = 1 + rng.int(4);
  for (let k = 0; k < ops; k++) {
    switch (rng.int(6)) {
      case 0: // flip a bit
        if (out.length) out[rng.int(out.length)] ^= 1 << rng.int(8);
        break;
      case 1: // random byte
        if (out.length) out[rng.int(out.length)] = rng.int(256);
        break;
      case 2: // truncate
        out = out.slice(0, rng.int(out.length + 1));
        break;
      case 3: // append junk
        out = Uint8Array.from([...out, ...Array.from({ length: 1 + rng.int(16) }, () => rng.int(256))]);
        break;
      case 4: // huge dimension in the header
        if (out.length >= 8) new DataView(out.buffer).setUint32(4 + 4 * rng.int(Math.min(4, (out.length - 4) >> 2)), rng.nextU32());
        break;
      case 5: // change type code / dims count
        if (out.length >= 4) out[2 + rng.int(2)] = rng.int(16);
        break;
    }
  }
  return out;
}

function randomBytes(rng: Rng): Uint8Array {
  const out = Uint8Array.from({ length: rng.int(48) }, () => rng.int(256));
  if (out.length >= 4 && rng.uniform() < 0.7) {
    out[0] = 0;
    out[1] = 0;
    out[2] = [8, 9, 11, 12, 13, 14][rng.int(6)];
    out[3] = rng.int(6);
  }
  return out;
}

describe('parseIdx fuzz', () => {
  it('throws nothing but IdxFormatError, never hangs, on a few thousand random and mutated inputs', () => {
    const rng = createRng(0x1dc0ffee);
    const stats = { ok: 0, idxError: 0 };
    const inputs: [string, () => Uint8Array][] = [
      ['random', () => randomBytes(rng)],
      ['mutated valid', () => mutate(validSample(rng), rng)],
      ['mutated real header', () => mutate(rng.uniform() < 0.5 ? REAL_HEADER : REAL_LABEL_HEADER, rng)],
      ['truncated valid', () => {
        const b = validSample(rng);
        return b.slice(0, rng.int(b.length + 1));
      }],
      ['gzip of mutated', () => gzipSync(mutate(validSample(rng), rng))],
      ['corrupted gzip', () => mutate(gzipSync(validSample(rng)), rng)],
      ['corrupted gzip of real header', () => mutate(gzipSync(REAL_HEADER), rng)],
    ];
    const started = performance.now();
    let slowest = 0;
    for (let i = 0; i < 3500; i++) {
      const [kind, make] = inputs[i % inputs.length];
      const bytes = make();
      const t0 = performance.now();
      try {
        const out = parseIdx(bytes, `fuzz-${i}.idx`, { gunzip: gunzipIdx });
        // A successful parse must be self-consistent.
        expect(out.data.length).toBe(out.dims.reduce((a, b) => a * b, 1));
        stats.ok++;
      } catch (err) {
        if (!(err instanceof IdxFormatError)) {
          throw new Error(`input ${i} (${kind}, ${Buffer.from(bytes).toString('hex')}) threw a non-IdxFormatError: ${String(err)}`);
        }
        expect(err.file).toBe(`fuzz-${i}.idx`);
        expect(err.message.startsWith(`fuzz-${i}.idx: `)).toBe(true);
        stats.idxError++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    expect(stats.ok).toBeGreaterThan(50);
    expect(stats.idxError).toBeGreaterThan(1000);
    expect(slowest).toBeLessThan(1000);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('parseIdxAsync (DecompressionStream) throws nothing but IdxFormatError on mutated gzip streams', async () => {
    const rng = createRng(0x5eed);
    let ok = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = i % 2 ? mutate(gzipSync(validSample(rng)), rng) : gzipSync(mutate(validSample(rng), rng));
      try {
        const out = await parseIdxAsync(bytes, `fuzz-${i}.gz`);
        expect(out.data.length).toBe(out.dims.reduce((a, b) => a * b, 1));
        ok++;
      } catch (err) {
        if (!(err instanceof IdxFormatError)) throw new Error(`input ${i} threw a non-IdxFormatError: ${String(err)}`);
        expect(err.message.startsWith(`fuzz-${i}.gz: `)).toBe(true);
      }
    }
    expect(ok).toBeGreaterThan(0);
  });

  it('rejects every huge-dims header without allocating (fast)', () => {
    const rng = createRng(7);
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) {
      const nd = 1 + rng.int(4);
      const bytes = new Uint8Array(4 + 4 * nd + rng.int(64));
      bytes[2] = [8, 9, 11, 12, 13, 14][rng.int(6)];
      bytes[3] = nd;
      const view = new DataView(bytes.buffer);
      for (let d = 0; d < nd; d++) view.setUint32(4 + 4 * d, 0x10000000 + rng.nextU32() / 16);
      expect(() => parseIdx(bytes, 'big')).toThrow(IdxFormatError);
    }
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxFormatError, encodeIdx, gunzip, parseIdx, parseIdxAsync, type IdxDtype } from './index';
import { gunzipIdx } from './node';

/** Node's synchronous gunzip for parseIdx. */
const GZ = { gunzip: gunzipIdx };

function expectIdxError(fn: () => unknown, file: string, pattern: RegExp): IdxFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(IdxFormatError);
  const e = caught as IdxFormatError;
  expect(e.name).toBe('IdxFormatError');
  expect(e.file).toBe(file);
  expect(e.message.startsWith(`${file}: `)).toBe(true);
  expect(e.message).toMatch(pattern);
  return e;
}

const CASES: { dtype: IdxDtype; code: number; values: number[]; ctor: new (n: number) => ArrayLike<number> }[] = [
  { dtype: 'uint8', code: 0x08, values: [0, 1, 127, 128, 255, 42], ctor: Uint8Array },
  { dtype: 'int8', code: 0x09, values: [-128, -1, 0, 1, 127, 5], ctor: Int8Array },
  { dtype: 'int16', code: 0x0b, values: [-32768, -1, 0, 258, 32767, 7], ctor: Int16Array },
  { dtype: 'int32', code: 0x0c, values: [-2147483648, -1, 0, 16909060, 2147483647, 9], ctor: Int32Array },
  { dtype: 'float32', code: 0x0d, values: [-1.5, 0, 0.25, 3.5, 1e10, -7], ctor: Float32Array },
  { dtype: 'float64', code: 0x0e, values: [Math.PI, -Math.E, 0, 1e-300, -1e300, 0.1], ctor: Float64Array },
];

describe('parseIdx: valid files', () => {
  for (const c of CASES) {
    it(`parses ${c.dtype} (type code 0x${c.code.toString(16)}), big-endian`, () => {
      const bytes = encodeIdx(c.dtype, [2, 3], c.values);
      expect(bytes[2]).toBe(c.code);
      expect(bytes[3]).toBe(2);
      const out = parseIdx(bytes, 'x.idx');
      expect(out.dtype).toBe(c.dtype);
      expect(out.dims).toEqual([2, 3]);
      expect(out.data).toBeInstanceOf(c.ctor);
      expect(Array.from(out.data)).toEqual(c.dtype === "float32" ? Array.from(Float32Array.from(c.values)) : c.values);
    });
  }

  it('reads multi-byte values as big-endian (hand-written bytes)', () => {
    // int16 [2]: 0x0102, 0xFFFE
    const bytes = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
    const out = parseIdx(bytes, 'h.idx');
    expect(Array.from(out.data)).toEqual([258, -2]);
  });

  it('handles 1 to 4 dimensions and a zero-length dimension', () => {
    expect(parseIdx(encodeIdx('uint8', [3], [1, 2, 3]), 'a').dims).toEqual([3]);
    expect(parseIdx(encodeIdx('uint8', [1, 1, 1, 2], [1, 2]), 'b').dims).toEqual([1, 1, 1, 2]);
    const empty = parseIdx(encodeIdx('float32', [0, 28, 28], []), 'c');
    expect(empty.dims).toEqual([0, 28, 28]);
    expect(empty.data.length).toBe(0);
  });

  it('gunzips with the given gunzip when the bytes start with the gzip magic', () => {
    const raw = encodeIdx('int32', [2, 2], [1, -2, 3, -4]);
    const out = parseIdx(gzipSync(raw), 'y.idx.gz', GZ);
    expect(out.dims).toEqual([2, 2]);
    expect(Array.from(out.data)).toEqual([1, -2, 3, -4]);
  });

  it('without a gunzip, gzipped bytes are an error saying how to gunzip them', () => {
    const gz = gzipSync(encodeIdx('uint8', [3], [1, 2, 3]));
    expectIdxError(() => parseIdx(gz, 'z.gz'), 'z.gz', /gzip-compressed: gunzip it first \(await parseIdxAsync/);
  });

  it('parseIdxAsync gunzips with DecompressionStream (browser-safe) and reads raw bytes as they are', async () => {
    const raw = encodeIdx('float32', [2, 3], [1, 2, 3, 4, 5, 6.5]);
    const viaStream = await parseIdxAsync(gzipSync(raw), 'a.gz');
    expect(viaStream).toEqual(parseIdx(raw, 'a'));
    expect(await parseIdxAsync(raw, 'a')).toEqual(parseIdx(raw, 'a'));
    const big = encodeIdx('uint8', [200_000], new Uint8Array(200_000).map((_, i) => i % 251));
    expect(await gunzip(gzipSync(big), 'big.gz')).toEqual(big);
  });

  it('parses a real-looking MNIST label header', () => {
    const labels = Uint8Array.from({ length: 100 }, (_, i) => i % 10);
    const out = parseIdx(gzipSync(encodeIdx('uint8', [100], labels)), 'train-labels-idx1-ubyte.gz', GZ);
    expect(out.data).toEqual(labels);
  });
});

describe('parseIdx: bad input → IdxFormatError naming the file', () => {
  const F = 'train-images-idx3-ubyte.gz';
  it('truncated data (the header promises more than follows)', () => {
    const header = encodeIdx('uint8', [1, 1, 1], [0]).slice(0, 16);
    const view = new DataView(header.buffer);
    view.setUint32(4, 60000);
    view.setUint32(8, 28);
    view.setUint32(12, 28);
    const bytes = new Uint8Array(16 + 1000);
    bytes.set(header);
    const e = expectIdxError(() => parseIdx(gzipSync(bytes), F, GZ), F, /truncated/);
    expect(e.message).toBe(`${F}: truncated: header says 60000×28×28 bytes (47040000) but only 1000 follow`);
  });
  it('truncated multi-byte data', () => {
    const bytes = encodeIdx('float32', [10, 3], new Array(30).fill(1)).slice(0, 16 + 8);
    expectIdxError(() => parseIdx(bytes, 'f.idx'), 'f.idx', /truncated: header says 10×3 float32 values \(120 bytes\) but only 12 bytes follow/);
  });
  it('truncated header', () => {
    expectIdxError(() => parseIdx(Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]), 'h'), 'h', /truncated header/);
    expectIdxError(() => parseIdx(Uint8Array.from([0, 0]), 'h'), 'h', /truncated/);
    expectIdxError(() => parseIdx(new Uint8Array(0), 'h'), 'h', /truncated/);
  });
  it('wrong magic: non-zero leading bytes', () => {
    expectIdxError(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), 'm'), 'm', /bad magic number 0x01000801/);
    expectIdxError(() => parseIdx(new TextEncoder().encode('hello, world'), 'm'), 'm', /bad magic/);
  });
  it('wrong magic: unknown type code', () => {
    expectIdxError(() => parseIdx(Uint8Array.from([0, 0, 0x0a, 1, 0, 0, 0, 0]), 't'), 't', /unknown type code 0x0A/);
  });
  it('wrong magic: dimension count 0 or > 4', () => {
    expectIdxError(() => parseIdx(Uint8Array.from([0, 0, 8, 0]), 'd'), 'd', /0 dimensions \(expected 1 to 4\)/);
    expectIdxError(() => parseIdx(Uint8Array.from([0, 0, 8, 5, ...new Array(20).fill(0)]), 'd'), 'd', /5 dimensions/);
  });
  it('wrong counts: trailing bytes after the data', () => {
    const bytes = new Uint8Array([...encodeIdx('uint8', [3], [1, 2, 3]), 9, 9]);
    expectIdxError(() => parseIdx(bytes, 'tr'), 'tr', /trailing bytes: header says 3 bytes \(3\) but 5 follow \(2 extra\)/);
  });
  it('a huge dims product is rejected before allocating', () => {
    const bytes = Uint8Array.from([0, 0, 0x0e, 4, ...new Array(16).fill(0xff), 1, 2, 3]);
    const e = expectIdxError(() => parseIdx(bytes, 'huge'), 'huge', /truncated: header says 4294967295×4294967295×4294967295×4294967295 float64 values/);
    expect(e.message).toContain('but only 3 bytes follow');
  });
  it('corrupt gzip: truncated stream', () => {
    const gz = gzipSync(encodeIdx('uint8', [100], new Array(100).fill(3)));
    expectIdxError(() => parseIdx(gz.subarray(0, gz.length - 6), F, GZ), F, /corrupt gzip stream/);
    expectIdxError(() => parseIdx(gz.subarray(0, 12), F, GZ), F, /corrupt gzip stream/);
  });
  it('corrupt gzip through DecompressionStream: the same IdxFormatError', async () => {
    const gz = gzipSync(encodeIdx('uint8', [100], new Array(100).fill(3)));
    await expect(parseIdxAsync(gz.subarray(0, gz.length - 6), F)).rejects.toThrow(IdxFormatError);
    await expect(parseIdxAsync(gz.subarray(0, 12), F)).rejects.toThrow(/^train-images-idx3-ubyte.gz: corrupt gzip stream/);
    const flipped = Uint8Array.from(gz);
    flipped[flipped.length - 6] ^= 0xff;
    await expect(parseIdxAsync(flipped, 'c.gz')).rejects.toThrow(/c.gz: corrupt gzip stream/);
  });
  it('corrupt gzip: damaged body / checksum', () => {
    const gz = Uint8Array.from(gzipSync(encodeIdx('uint8', [100], new Array(100).fill(3))));
    gz[gz.length - 6] ^= 0xff; // CRC32
    expectIdxError(() => parseIdx(gz, 'c.gz', GZ), 'c.gz', /corrupt gzip stream/);
  });
  it('gzip stream decompressing past maxBytes', () => {
    const gz = gzipSync(encodeIdx('uint8', [10_000], new Array(10_000).fill(0)));
    expectIdxError(() => parseIdx(gz, 'big.gz', { maxBytes: 1000, gunzip: gunzipIdx }), 'big.gz', /more than 1000 bytes/);
  });
  it('gzip stream decompressing past maxBytes through DecompressionStream', async () => {
    const gz = gzipSync(encodeIdx('uint8', [100_000], new Array(100_000).fill(0)));
    await expect(parseIdxAsync(gz, 'big.gz', { maxBytes: 1000 })).rejects.toThrow(/big.gz: gzip stream decompresses to more than 1000 bytes/);
  });
});

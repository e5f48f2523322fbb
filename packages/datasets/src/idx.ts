import { IdxFormatError } from './errors';

/** Element types of the IDX format, named after their C types. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array an IDX file's data is returned in, by element type. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX file: element type, dimensions (outermost first) and the data, row-major. */
export interface IdxArray {
  /** Element type. */
  dtype: IdxDtype;
  /** Dimensions, outermost first (e.g. `[60000, 28, 28]`). */
  dims: number[];
  /** Elements in row-major order, already converted from big-endian. */
  data: IdxData;
}

/** A synchronous gunzip: `gunzipIdx` from `@bioprop/datasets/node` fits. */
export type GunzipSync = (bytes: Uint8Array, fileName: string, maxBytes: number) => Uint8Array;

/** Options of {@link parseIdx}. */
export interface ParseIdxOptions {
  /** Largest decompressed size accepted from a gzip stream, in bytes (default 1 GiB). */
  maxBytes?: number;
  /** How {@link parseIdx} gunzips gzipped bytes (it cannot without one; {@link parseIdxAsync} needs none). */
  gunzip?: GunzipSync;
}

interface DtypeInfo {
  code: number;
  dtype: IdxDtype;
  size: number;
}

const DTYPES: DtypeInfo[] = [
  { code: 0x08, dtype: 'uint8', size: 1 },
  { code: 0x09, dtype: 'int8', size: 1 },
  { code: 0x0b, dtype: 'int16', size: 2 },
  { code: 0x0c, dtype: 'int32', size: 4 },
  { code: 0x0d, dtype: 'float32', size: 4 },
  { code: 0x0e, dtype: 'float64', size: 8 },
];

/** Largest decompressed size accepted by default (1 GiB). */
export const DEFAULT_MAX_BYTES = 1 << 30;

/** True when the bytes start with the gzip magic number (0x1f 0x8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Gunzips `bytes` with the web-standard `DecompressionStream` (browsers, workers, Node ≥ 18), turning every
 * failure into an {@link IdxFormatError} naming `fileName`. Node's loaders use `gunzipIdx` from
 * `@bioprop/datasets/node` (zlib, synchronous) instead.
 */
export async function gunzip(bytes: Uint8Array, fileName: string, opts: ParseIdxOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof DecompressionStream === 'undefined') {
    throw new IdxFormatError(fileName, 'gzip-compressed, and this runtime has no DecompressionStream to gunzip it with');
  }
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  const reader = input.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new IdxFormatError(fileName, `gzip stream decompresses to more than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof IdxFormatError) throw err;
    throw new IdxFormatError(fileName, `corrupt gzip stream (${(err as Error)?.message ?? String(err)})`, { cause: err });
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** {@link parseIdx} for bytes that may be gzipped (a `.gz` file a page fetched or a user uploaded): gunzips first. */
export async function parseIdxAsync(bytes: Uint8Array, fileName: string, opts: ParseIdxOptions = {}): Promise<IdxArray> {
  if (!(bytes instanceof Uint8Array)) throw new IdxFormatError(fileName, 'input is not a byte array');
  return parseIdx(isGzip(bytes) ? await gunzip(bytes, fileName, opts) : bytes, fileName, opts);
}

/**
 * Parses an IDX file (the MNIST file format) from its bytes. Gzipped bytes need gunzipping first: pass
 * `opts.gunzip` (Node: `gunzipIdx` from `@bioprop/datasets/node`), or use {@link parseIdxAsync}. Throws
 * {@link IdxFormatError} naming `fileName` for every problem, before allocating anything large.
 */
export function parseIdx(bytes: Uint8Array, fileName: string, opts: ParseIdxOptions = {}): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new IdxFormatError(fileName, 'input is not a byte array');
  let raw = bytes;
  if (isGzip(bytes)) {
    if (!opts.gunzip) {
      throw new IdxFormatError(
        fileName,
        'gzip-compressed: gunzip it first (await parseIdxAsync(bytes, name), or pass { gunzip: gunzipIdx } from @bioprop/datasets/node)',
      );
    }
    raw = opts.gunzip(bytes, fileName, opts.maxBytes ?? DEFAULT_MAX_BYTES);
  }

  if (raw.length < 4) {
    throw new IdxFormatError(fileName, `truncated: ${raw.length} bytes, shorter than the 4-byte IDX magic number`);
  }
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new IdxFormatError(
      fileName,
      `bad magic number 0x${hex(raw, 0, 4)}: an IDX file starts with two zero bytes (is this an IDX file?)`,
    );
  }
  const info = DTYPES.find((d) => d.code === raw[2]);
  if (!info) {
    throw new IdxFormatError(
      fileName,
      `bad magic number 0x${hex(raw, 0, 4)}: unknown type code 0x${hex(raw, 2, 1)} (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)`,
    );
  }
  const ndims = raw[3];
  if (ndims < 1 || ndims > 4) {
    throw new IdxFormatError(fileName, `bad magic number 0x${hex(raw, 0, 4)}: ${ndims} dimensions (expected 1 to 4)`);
  }
  const headerLength = 4 + 4 * ndims;
  if (raw.length < headerLength) {
    throw new IdxFormatError(
      fileName,
      `truncated header: ${ndims} dimensions need ${headerLength} header bytes but the file has ${raw.length}`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let elements = 1n;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    elements *= BigInt(d);
  }
  const expectedBytes = elements * BigInt(info.size);
  const available = BigInt(raw.length - headerLength);
  if (expectedBytes !== available) {
    const shape = dims.join('×');
    const says =
      info.size === 1
        ? `header says ${shape} ${info.dtype === 'uint8' ? 'bytes' : `${info.dtype} values`} (${expectedBytes})`
        : `header says ${shape} ${info.dtype} values (${expectedBytes} bytes)`;
    if (expectedBytes > available) {
      throw new IdxFormatError(fileName, `truncated: ${says} but only ${available}${info.size === 1 ? '' : ' bytes'} follow`);
    }
    throw new IdxFormatError(
      fileName,
      `trailing bytes: ${says} but ${available} follow (${available - expectedBytes} extra)`,
    );
  }

  const n = Number(elements);
  const offset = raw.byteOffset + headerLength;
  let data: IdxData;
  switch (info.dtype) {
    case 'uint8':
      data = new Uint8Array(raw.buffer, offset, n);
      break;
    case 'int8':
      data = new Int8Array(raw.buffer, offset, n);
      break;
    case 'int16': {
      const a = new Int16Array(n);
      for (let i = 0; i < n; i++) a[i] = view.getInt16(headerLength + 2 * i, false);
      data = a;
      break;
    }
    case 'int32': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = view.getInt32(headerLength + 4 * i, false);
      data = a;
      break;
    }
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = view.getFloat32(headerLength + 4 * i, false);
      data = a;
      break;
    }
    case 'float64': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = view.getFloat64(headerLength + 8 * i, false);
      data = a;
      break;
    }
  }
  return { dtype: info.dtype, dims, data };
}

/**
 * Encodes an array as an (uncompressed) IDX file, big-endian; the inverse of {@link parseIdx}.
 * Handy for writing test fixtures.
 */
export function encodeIdx(dtype: IdxDtype, dims: number[], data: ArrayLike<number>): Uint8Array {
  const info = DTYPES.find((d) => d.dtype === dtype);
  if (!info) throw new TypeError(`encodeIdx: unknown dtype ${String(dtype)}`);
  if (dims.length < 1 || dims.length > 4) throw new RangeError(`encodeIdx: ${dims.length} dimensions (expected 1 to 4)`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`encodeIdx: dims ${dims.join('×')} = ${n} elements but data has ${data.length}`);
  const headerLength = 4 + 4 * dims.length;
  const out = new Uint8Array(headerLength + n * info.size);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < n; i++) {
    const v = data[i];
    const at = headerLength + i * info.size;
    switch (dtype) {
      case 'uint8':
        view.setUint8(at, v);
        break;
      case 'int8':
        view.setInt8(at, v);
        break;
      case 'int16':
        view.setInt16(at, v, false);
        break;
      case 'int32':
        view.setInt32(at, v, false);
        break;
      case 'float32':
        view.setFloat32(at, v, false);
        break;
      case 'float64':
        view.setFloat64(at, v, false);
        break;
    }
  }
  return out;
}

function hex(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length; i++) s += (bytes[i] ?? 0).toString(16).padStart(2, '0');
  return s.toUpperCase();
}

// Reading data files safely (Node): regular files only, size caps, and only the bytes a limit needs.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { DatasetError, IdxFormatError } from './errors';
import { DEFAULT_MAX_BYTES, type IdxArray, type IdxDtype } from './idx';

/** The largest data file read (1 GiB: MNIST's largest raw file is 47 MB, a CIFAR-10 batch 31 MB). */
export const MAX_DATA_FILE_BYTES = DEFAULT_MAX_BYTES;

function kindOf(stat: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * Open a data file for reading if it is a regular file of at most `maxBytes`: opened non-blocking (a FIFO cannot hang
 * the open) and checked with fstat on the handle (a symlink to /dev/zero is a character device). Errors name the file.
 */
export async function openDataFile(path: string, maxBytes = MAX_DATA_FILE_BYTES): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new DatasetError(`${path}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, [path], { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new DatasetError(`${path}: must be a regular file, this is ${kindOf(stat)}`, [path]);
    if (stat.size > maxBytes) {
      throw new DatasetError(`${path}: ${stat.size} bytes, larger than any sane file of this format (limit ${maxBytes} bytes)`, [path]);
    }
    return { handle, size: stat.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Read `length` bytes at `position` (fewer only at the end of the file). */
export async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const { bytesRead } = await handle.read(out, at, length - at, position + at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  return at === length ? out : out.subarray(0, at);
}

const IDX_TYPES: Record<number, { dtype: IdxDtype; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

interface IdxHeader {
  dtype: IdxDtype;
  size: number;
  dims: number[];
  headerLength: number;
  /** Bytes of the data after the header, from the dimensions. */
  dataBytes: number;
}

/** Parse an IDX header from the first bytes of a file; null when more bytes are needed. */
function idxHeader(bytes: Uint8Array, file: string): IdxHeader | null {
  if (bytes.length < 4) return null;
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new IdxFormatError(file, 'bad magic number: an IDX file starts with two zero bytes (is this an IDX file?)');
  const type = IDX_TYPES[bytes[2]];
  if (!type) throw new IdxFormatError(file, `bad magic number: unknown type code 0x${bytes[2].toString(16).toUpperCase()}`);
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw new IdxFormatError(file, `bad magic number: ${ndims} dimensions (expected 1 to 4)`);
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const dataBytes = dims.reduce((a, d) => a * d, type.size);
  return { ...type, dims, headerLength, dataBytes };
}

/**
 * An IDX file's header and only its first `rows` rows (outermost dimension), read from a raw or gzipped file without
 * reading (or decompressing) the rest: `dims` is the header's (the whole file's), `data` holds the rows read, as raw
 * big-endian bytes for multi-byte types. A raw file's size must match its header (truncated and trailing data are
 * errors); a gzipped file is decompressed only as far as needed, up to `maxBytes`. Errors name the file.
 */
export async function readIdxRows(path: string, rows: number | undefined, maxBytes = MAX_DATA_FILE_BYTES): Promise<IdxArray & { rowsRead: number }> {
  const { handle, size } = await openDataFile(path, maxBytes);
  let head: Uint8Array;
  try {
    head = await readAt(handle, 0, Math.min(size, 20));
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      return await readGzipIdxRows(handle, path, rows, maxBytes);
    }
    const header = idxHeader(head, path);
    if (!header) throw new IdxFormatError(path, `truncated: ${size} bytes, too short for an IDX header`);
    const available = size - header.headerLength;
    if (header.dataBytes > available) throw new IdxFormatError(path, `truncated: ${says(header)} but only ${available}${header.size === 1 ? '' : ' bytes'} follow`);
    if (header.dataBytes < available) {
      throw new IdxFormatError(path, `trailing bytes: ${says(header)} but ${available} follow (${available - header.dataBytes} extra)`);
    }
    const n = rows === undefined ? header.dims[0] : Math.min(rows, header.dims[0]);
    const rowBytes = header.dims[0] === 0 ? 0 : header.dataBytes / header.dims[0];
    const data = await readAt(handle, header.headerLength, n * rowBytes);
    return { dtype: header.dtype, dims: header.dims, data, rowsRead: n };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readGzipIdxRows(handle: FileHandle, path: string, rows: number | undefined, maxBytes: number): Promise<IdxArray & { rowsRead: number }> {
  // the handle checked by openDataFile, read from its start; the caller closes it
  const source = handle.createReadStream({ start: 0, autoClose: false });
  const gunzip = createGunzip();
  const stream = source.pipe(gunzip);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let header: IdxHeader | null = null;
  let need = Infinity;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total > maxBytes) throw new IdxFormatError(path, `gzip stream decompresses to more than ${maxBytes} bytes`);
      if (!header) {
        header = idxHeader(concat(chunks, Math.min(total, 20)), path);
        if (header) {
          const n = rows === undefined ? header.dims[0] : Math.min(rows, header.dims[0]);
          const rowBytes = header.dims[0] === 0 ? 0 : header.dataBytes / header.dims[0];
          need = header.headerLength + n * rowBytes;
          if (header.headerLength + header.dataBytes > maxBytes) {
            throw new IdxFormatError(path, `header says ${header.dims.join('×')} ${header.dtype} values, more than the ${maxBytes}-byte limit`);
          }
        }
      }
      // reading everything: go on to the end, to catch trailing data
      if (header && total >= need && rows !== undefined) break;
    }
  } catch (err) {
    if (err instanceof IdxFormatError || err instanceof DatasetError) throw err;
    throw new IdxFormatError(path, `corrupt gzip stream (${(err as Error)?.message ?? String(err)})`, { cause: err });
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  if (!header) throw new IdxFormatError(path, `truncated: ${total} decompressed bytes, too short for an IDX header`);
  const n = rows === undefined ? header.dims[0] : Math.min(rows, header.dims[0]);
  const available = total - header.headerLength;
  if (total < need) throw new IdxFormatError(path, `truncated: ${says(header)} but only ${available}${header.size === 1 ? '' : ' bytes'} follow`);
  if (rows === undefined && total > need) {
    throw new IdxFormatError(path, `trailing bytes: ${says(header)} but ${available} follow (${available - header.dataBytes} extra)`);
  }
  const all = concat(chunks, need);
  return { dtype: header.dtype, dims: header.dims, data: all.subarray(header.headerLength, need), rowsRead: n };
}

/** What a header says, in the words parseIdx uses. */
function says(h: IdxHeader): string {
  const shape = h.dims.join('×');
  return h.size === 1
    ? `header says ${shape} ${h.dtype === 'uint8' ? 'bytes' : `${h.dtype} values`} (${h.dataBytes})`
    : `header says ${shape} ${h.dtype} values (${h.dataBytes} bytes)`;
}

/** The first `length` bytes of a list of chunks, as one array. */
function concat(chunks: Uint8Array[], length: number): Uint8Array {
  // plain Uint8Arrays, not Buffers (zlib's chunks): callers compare and copy them as such
  if (chunks.length === 1 && chunks[0].byteLength >= length) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, length);
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    if (at >= length) break;
    const take = Math.min(c.byteLength, length - at);
    out.set(c.subarray(0, take), at);
    at += take;
  }
  return out;
}

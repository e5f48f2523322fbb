import { gunzipSync } from 'node:zlib';
import { IdxFormatError } from './errors';
import { DEFAULT_MAX_BYTES } from './idx';

/**
 * Gunzips `bytes` synchronously with Node's zlib, turning every failure into an {@link IdxFormatError} naming
 * `fileName`. Fits `parseIdx(bytes, name, { gunzip: gunzipIdx })`.
 */
export function gunzipIdx(bytes: Uint8Array, fileName: string, maxBytes = DEFAULT_MAX_BYTES): Uint8Array {
  try {
    const out = gunzipSync(bytes, { maxOutputLength: maxBytes });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const what =
      code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError
        ? `gzip stream decompresses to more than ${maxBytes} bytes`
        : `corrupt gzip stream (${(err as Error)?.message ?? String(err)})`;
    throw new IdxFormatError(fileName, what, { cause: err });
  }
}

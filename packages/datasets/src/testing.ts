import { loadCifar10, type Cifar10LoadOptions } from './cifar';
import { DatasetNotFoundError } from './errors';
import { howToGet } from './locate';
import type { RealDatasetName } from './names';
import { loadFashionMnist, loadMnist, type IdxLoadOptions } from './mnist';
import type { DatasetSplits } from './types';

/** Options of {@link realDataOrSkip}: the loader's options; `download` defaults to false here. */
export type RealDataOptions = IdxLoadOptions & Cifar10LoadOptions;

/** The part of a test context {@link realDataOrSkip} uses: vitest's `ctx.skip(note)` fits. */
export interface SkipContext {
  /** Marks the running test as skipped with a note (vitest's throws to stop the test). */
  skip(note?: string): unknown;
}

/** True when running under CI (`CI=true`), where missing real data is a failure rather than a skip. */
export function isCi(env: Record<string, string | undefined> = process.env): boolean {
  return env.CI === 'true';
}

/**
 * For tests that need a real dataset. Loads it (no download unless `download: true`); when it is absent
 * (nothing found anywhere) it logs why and how to get it and returns null — after calling `ctx.skip(message)`
 * when a test context is given — EXCEPT when `CI=true`, where absence throws. Corrupt files always throw.
 *
 * @example
 * it('learns Fashion-MNIST', async (ctx) => {
 *   const data = await realDataOrSkip('fashion-mnist', { limitTrain: 1000, limitTest: 500 }, ctx);
 *   if (!data) return; // only reached when no ctx is passed
 * });
 */
export async function realDataOrSkip(
  name: RealDatasetName,
  opts: RealDataOptions = {},
  ctx?: SkipContext,
): Promise<DatasetSplits | null> {
  const loadOpts = { download: false, ...opts };
  try {
    if (name === 'fashion-mnist') return await loadFashionMnist(loadOpts);
    if (name === 'mnist') return await loadMnist(loadOpts);
    if (name === 'cifar-10') return await loadCifar10(loadOpts);
    throw new TypeError(`realDataOrSkip: unknown dataset ${String(name)}`);
  } catch (err) {
    if (!(err instanceof DatasetNotFoundError)) throw err;
    if (isCi(opts.env ?? process.env)) {
      throw new DatasetNotFoundError(
        `CI=true and the real ${name} data is required but absent: ${err.message}`,
        err.searched,
        err.files,
        { cause: err },
      );
    }
    const message = `skipping: real ${name} data not available. ${howToGet(name)}`;
    console.warn(`[@bioprop/datasets] ${message}\n  (${err.message})`);
    ctx?.skip(message);
    return null;
  }
}

/** Alias of {@link realDataOrSkip}: the splits, or null (with a how-to message) when absent outside CI. */
export const requireRealData = realDataOrSkip;

import { describe, expect, it, vi } from 'vitest';
import { DatasetNotFoundError, IDX_FILES, IdxFormatError } from './index';
import { isCi, realDataOrSkip, requireRealData } from './node';
import { idxFixture, tmpDir, writeFiles } from './test-fixtures';

function nowhere() {
  const t = tmpDir();
  return { opts: { env: {} as Record<string, string>, cacheDir: t.dir, systemDirs: [] as string[] }, cleanup: t.cleanup };
}

describe('realDataOrSkip', () => {
  it('returns null with a how-to message when the data is absent (not CI)', async () => {
    const { opts, cleanup } = nowhere();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(await realDataOrSkip('fashion-mnist', opts)).toBeNull();
      expect(warn).toHaveBeenCalledOnce();
      expect(String(warn.mock.calls[0][0])).toMatch(/skipping: real fashion-mnist data not available.*apt-get install dataset-fashion-mnist/);
      expect(await requireRealData('cifar-10', opts)).toBeNull();
    } finally {
      warn.mockRestore();
      cleanup();
    }
  });

  it('calls ctx.skip(message) when given a test context', async () => {
    const { opts, cleanup } = nowhere();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const skip = vi.fn();
    try {
      expect(await realDataOrSkip('mnist', opts, { skip })).toBeNull();
      expect(skip).toHaveBeenCalledWith(expect.stringMatching(/real mnist data not available.*BIOPROP_DATA/));
    } finally {
      warn.mockRestore();
      cleanup();
    }
  });

  it('throws when the data is absent under CI=true', async () => {
    const { opts, cleanup } = nowhere();
    try {
      await expect(realDataOrSkip('fashion-mnist', { ...opts, env: { CI: 'true' } })).rejects.toThrow(DatasetNotFoundError);
      await expect(realDataOrSkip('fashion-mnist', { ...opts, env: { CI: 'true' } })).rejects.toThrow(/CI=true .*apt-get install dataset-fashion-mnist/);
    } finally {
      cleanup();
    }
  });

  it('returns the data when present and never swallows corrupt files', async () => {
    const t = tmpDir();
    try {
      const fx = idxFixture({ trainCount: 12, testCount: 5 });
      writeFiles(t.dir, fx.files);
      const d = await realDataOrSkip('mnist', { dir: t.dir, limitTrain: 10 });
      expect(d?.train.count).toBe(10);
      writeFiles(t.dir, { [IDX_FILES.testLabels]: fx.files[IDX_FILES.testLabels].subarray(0, 9) }, true);
      await expect(realDataOrSkip('mnist', { dir: t.dir })).rejects.toThrow(IdxFormatError);
    } finally {
      t.cleanup();
    }
  });

  it('isCi reads CI=true only', () => {
    expect(isCi({ CI: 'true' })).toBe(true);
    expect(isCi({ CI: '1' })).toBe(false);
    expect(isCi({})).toBe(false);
  });
});

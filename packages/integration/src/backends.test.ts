import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * backends.ts loaded afresh with the blas package's import throwing, as it does when its addon is not built (vitest
 * wraps the factory's error in its own message, so the reason is only checked to be there).
 */
async function withoutBlas() {
  vi.resetModules();
  vi.doMock('@bioprop/tfjs-backend-blas', () => {
    throw new Error('native addon not built: OpenBLAS was not found (test)');
  });
  return import('./backends.js');
}

describe('without the blas addon', () => {
  afterEach(() => {
    vi.doUnmock('@bioprop/tfjs-backend-blas');
    vi.unstubAllEnvs();
  });

  it('tests skip, saying why', async () => {
    vi.stubEnv('CI', '');
    const { blasProblemForTests, presentBackends } = await withoutBlas();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const problem = await blasProblemForTests();
    expect(problem).toEqual(expect.stringMatching(/\S/));
    expect(warn).toHaveBeenCalledWith(`[@bioprop/integration] skipping the tests that need the blas addon: ${problem}`);
    warn.mockRestore();
    const { present, absent } = await presentBackends(['cpu', 'blas']);
    expect(present).toEqual(['cpu']);
    expect(absent).toEqual([{ name: 'blas', why: `backend "blas" is not available: ${problem}` }]);
  });

  it('under CI=true its absence is a failure', async () => {
    vi.stubEnv('CI', 'true');
    const { blasProblemForTests } = await withoutBlas();
    await expect(blasProblemForTests()).rejects.toThrow(/^CI=true and the blas addon is unavailable: \S/);
  });
});

// `bioprop bench --backend webgpu`: the optional @bioprop/tfjs-backend-webgpu (Dawn) from the built CLI, on whatever
// adapter this machine has (Mesa's llvmpipe here and in CI, which installs Mesa: there a missing adapter fails).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_DIR, runCli, tempDir } from './helpers.js';

const PROBE = "try { const m = await import('@bioprop/tfjs-backend-webgpu'); const a = await m.registerWebGPU({ allowSoftware: true }); console.log(JSON.stringify(a)) } catch (e) { console.error(String(e?.message ?? e).split('\\n')[0]); process.exit(1) }";

/** The adapter the CLI will find, or why there is none. */
async function probeAdapter(): Promise<{ adapter: { isSoftware: boolean; description: string } | null; why: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: CLI_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((res) => child.on('close', res));
  return code === 0 ? { adapter: JSON.parse(out.trim().split('\n').pop()!), why: '' } : { adapter: null, why: err.trim().split('\n').pop() ?? `exit ${code}` };
}

const { adapter, why } = await probeAdapter();
if (!adapter && process.env.CI === 'true') throw new Error(`no WebGPU adapter under CI=true (CI installs Mesa): ${why}`);

describe('bioprop bench --backend webgpu', () => {
  it('times steps on the adapter and names it', async ({ skip }) => {
    if (!adapter) skip(`no WebGPU adapter here: ${why}`);
    const r = await runCli(['bench', '--json', '--backend', 'webgpu', '--rules', 'bp', '--arch', '784-32-10', '--batch-size', '16', '--min-time', '0.2'], tempDir());
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { backend: string; samplesPerSecond: number; gflops: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].backend).toBe('webgpu');
    expect(rows[0].samplesPerSecond).toBeGreaterThan(0);
    expect(rows[0].gflops).toBeGreaterThan(0);
    const kind = adapter!.isSoftware ? 'software' : 'hardware';
    expect(r.stderr).toContain(`backend: webgpu (asked for webgpu (loaded @bioprop/tfjs-backend-webgpu, ${kind} adapter ${adapter!.description}))`);
    expect(r.stderr).toMatch(new RegExp(`bp on webgpu \\(${kind} adapter [^)]*\\): [0-9.]+ ms/step`));
  });
});

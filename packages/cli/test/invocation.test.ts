import { describe, expect, it } from 'vitest';
import { commandLine, invocation, shellQuote } from '../src/options/invocation.js';

const BIN = '/repo/packages/cli/dist/bin.js';

describe('invocation: the printed command runs where the user is', () => {
  it('says pnpm exec under pnpm, and how pnpm itself was reached when it came through npx', () => {
    const pnpm = 'pnpm/10.34.9 npm/? node/v20.20.2 linux x64';
    expect(invocation({ npm_config_user_agent: pnpm, npm_execpath: '/usr/lib/node_modules/pnpm/bin/pnpm.cjs' }, ['node', BIN], '/repo')).toBe('pnpm exec bioprop');
    // `npx -y pnpm@10.34.9 compare`: pnpm runs from npx's cache, so `pnpm` may not be on the PATH
    expect(invocation({ npm_config_user_agent: pnpm, npm_execpath: '/root/.npm/_npx/c80dab58/node_modules/pnpm/bin/pnpm.cjs' }, ['node', BIN], '/repo')).toBe(
      'npx -y pnpm@10.34.9 exec bioprop',
    );
    // `npx -y pnpm@10.34.9 exec bioprop …`
    expect(invocation({ npm_config_user_agent: pnpm, npm_lifecycle_event: 'npx' }, ['node', BIN], '/repo')).toBe('npx -y pnpm@10.34.9 exec bioprop');
  });

  it('says npx under npm, yarn under yarn', () => {
    expect(invocation({ npm_config_user_agent: 'npm/11.19.1 node/v20.20.2 linux x64 workspaces/false', npm_command: 'exec' }, ['node', BIN], '/x')).toBe('npx bioprop');
    expect(invocation({ npm_config_user_agent: 'yarn/4.5.0 npm/? node/v20.20.2 linux x64' }, ['node', BIN], '/x')).toBe('yarn bioprop');
  });

  it('says bioprop when started through a bin link, else node and the script', () => {
    expect(invocation({}, ['node', '/usr/local/bin/bioprop'], '/home/me')).toBe('bioprop');
    expect(invocation({}, ['node', '/proj/node_modules/.bin/bioprop'], '/proj')).toBe('bioprop');
    expect(invocation({}, ['node', BIN], '/repo')).toBe('node packages/cli/dist/bin.js');
    // outside the script's tree: its absolute path (quoted when the shell needs it)
    expect(invocation({}, ['node', BIN], '/elsewhere')).toBe(`node ${BIN}`);
    expect(invocation({}, ['node', '/my dir/bin.js'], '/x')).toBe("node '/my dir/bin.js'");
  });

  it('quotes only what the shell would split or expand', () => {
    expect(shellQuote('runs/kp-seed0')).toBe('runs/kp-seed0');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
    expect(commandLine('pnpm exec bioprop', ['train', '--resume', 'my runs/kp'])).toBe("pnpm exec bioprop train --resume 'my runs/kp'");
  });
});

// Rules come from packages' `rules` exports: the bundled ones, and `--plugin <package>` resolved from where the user
// runs bioprop. A plugin that breaks the contract, or brings an id another package has, is an error naming it.
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI_DIR, TINY, runCli, tempDir } from './helpers.js';

/** The built feedback-alignment package: the demo plugin re-exports its rule under another id. */
const FA_URL = pathToFileURL(realpathSync(join(CLI_DIR, 'node_modules', '@bioprop', 'feedback-alignment', 'dist', 'index.js'))).href;

/** Install a package into `<cwd>/node_modules/<name>` whose only export condition is `import` (as rule packages are). */
function installPlugin(cwd: string, name: string, source: string): void {
  const dir = join(cwd, 'node_modules', name);
  mkdirSync(join(dir, 'dist'), { recursive: true });
  const manifest = { name, version: '1.0.0', type: 'module', exports: { '.': { import: './dist/index.js' }, './package.json': './package.json' } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  writeFileSync(join(dir, 'dist', 'index.js'), source);
}

const DEMO = `import { rules as fa } from ${JSON.stringify(FA_URL)};
export const rules = [{ ...fa[0], id: 'fa-copy', name: 'feedback alignment (plugin copy)' }];
`;

interface Listed {
  id: string;
  package: string;
  graphs: string;
  options: { type?: string; properties?: Record<string, unknown> };
}

describe('bioprop --plugin', () => {
  it("lists and trains a plugin's rules, found from the working directory (a subdirectory too)", async () => {
    const cwd = tempDir();
    installPlugin(cwd, 'bioprop-plugin-demo', DEMO);
    const sub = join(cwd, 'runs');
    mkdirSync(sub);
    const listed = await runCli(['rules', '--json', '--plugin', 'bioprop-plugin-demo'], sub);
    expect(listed.code, listed.stderr).toBe(0);
    const rules: Listed[] = JSON.parse(listed.stdout);
    // bundled packages first, in their order, then the plugin's
    expect(rules[0]).toMatchObject({ id: 'bp', package: '@bioprop/backprop' });
    expect(rules.at(-1)).toMatchObject({ id: 'fa-copy', package: 'bioprop-plugin-demo', graphs: 'any' });
    // each entry carries its options' JSON Schema
    const fa = rules.find((r) => r.id === 'fa')!;
    expect(fa.options.type).toBe('object');
    expect(Object.keys(fa.options.properties ?? {})).toContain('feedbackInit');

    const trained = await runCli(['train', '--rule', 'fa-copy', '--plugin', 'bioprop-plugin-demo', ...TINY, '--limit-train', '100', '--no-angles', '--out', 'r.json'], sub);
    expect(trained.code, trained.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(sub, 'r.json'), 'utf8'))).toMatchObject({ rule: 'fa-copy', ruleName: 'feedback alignment (plugin copy)' });

    // without --plugin its rules are unknown, and the message says how to bring them
    const without = await runCli(['train', '--rule', 'fa-copy', ...TINY], sub);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/unknown rule "fa-copy" .*--plugin <package>/);
  });

  it('takes a path to a module as well', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'my-rules.mjs'), DEMO);
    const r = await runCli(['rules', '--plugin', './my-rules.mjs'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fa-copy\s+feedback alignment \(plugin copy\)\s+any graph\s+/m);
  });

  it('a plugin that is not installed is a usage error naming it', async () => {
    const r = await runCli(['rules', '--plugin', 'bioprop-plugin-absent'], tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--plugin bioprop-plugin-absent: no package "bioprop-plugin-absent" installed in /);
    expect(r.stdout).toBe('');
  });

  it("a plugin without a `rules` export, or with entries that are not RuleEntry, is an error naming the package", async () => {
    const cwd = tempDir();
    installPlugin(cwd, 'no-rules', 'export const faEntry = {};\n');
    installPlugin(cwd, 'bad-rules', "export const rules = [{ id: 'half', name: 'half a rule', summary: '', supports: [], graphs: 'any' }];\n");
    const none = await runCli(['rules', '--plugin', 'no-rules'], cwd);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no-rules has no `rules` export/);
    const bad = await runCli(['rules', '--plugin', 'bad-rules'], cwd);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad-rules: rules\[0\] \(id "half"\) is not a RuleEntry: missing or wrong options .*, defaults .*, create/);
    expect(bad.stdout).toBe('');
  });

  it('a rule id two packages bring is an error naming both', async () => {
    const cwd = tempDir();
    installPlugin(cwd, 'fa-again', `import { rules } from ${JSON.stringify(FA_URL)};\nexport { rules };\n`);
    const r = await runCli(['rules', '--plugin', 'fa-again'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rule id "fa" comes from both @bioprop/feedback-alignment and fa-again');
  });
});

describe('--rule-options', () => {
  it("are validated by the rule's schema before any data is read (exit 2 naming the key) and recorded filled", async () => {
    const cwd = tempDir();
    const bad = await runCli(['train', '--rule', 'fa', ...TINY, '--rule-options', '{"feedbackSparsityy": 0.5}'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/usage error: rules\[0\]\.options: unknown option "feedbackSparsityy"/);
    expect(bad.stderr).not.toMatch(/^data:/m);

    const notCompared = await runCli(['compare', '--rules', 'bp', ...TINY, '--rule-options', '{"fa": {}}'], cwd);
    expect(notCompared.code).toBe(2);
    expect(notCompared.stderr).toMatch(/--rule-options names "fa", which is not compared/);

    const r = await runCli(['train', '--rule', 'fa', ...TINY, '--limit-train', '100', '--no-angles', '--rule-options', '{"feedbackInit": {"uniform": 0.05}}', '--out', 'r.json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8'));
    // what was given, and every other option at the schema's default
    expect(result.ruleOptions.feedbackInit).toEqual({ uniform: 0.05 });
    expect(Object.keys(result.ruleOptions).sort()).toEqual(['feedbackInit', 'feedbackSparsity', 'forwardSparsity']);
  });
});

/**
 * Condense packages/learned-feedback/docs/sweep-results.jsonl into one markdown row per (stage, rule, config): mean test accuracy over
 * seeds (each seed in brackets), mean last-epoch δ angle to backprop per hidden layer, mean ∠(B, W) per layer.
 * A (stage, rule, config, seed) run more than once counts once: the latest (the code it ran may have changed).
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/learned-feedback/summarize-sweep.ts [file]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Row {
  stage?: string;
  rule: string;
  config: string;
  seed: number;
  accuracy: number | null;
  deltaAngles: (number | null)[];
  weightAngles: (number | null)[];
  diverged?: string;
}
const here = dirname(fileURLToPath(import.meta.url));
const file = process.argv[2] ?? join(here, '..', '..', '..', '..', 'learned-feedback', 'docs', 'sweep-results.jsonl');
const rows = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Row);
const latest = new Map<string, Row>();
for (const r of rows) latest.set(`${r.stage ?? 'grid'}|${r.rule}|${r.config}|${r.seed}`, r);
const groups = new Map<string, Row[]>();
for (const r of latest.values()) {
  const key = `${r.stage ?? 'grid'}|${r.rule}|${r.config}`;
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '—');
console.log('| stage | rule | config | test acc (mean; per seed) | δ angle to BP, hidden layers | ∠(B, W), layers 1 / 2 |');
console.log('|---|---|---|---|---|---|');
for (const [key, rs] of groups) {
  const [stage, rule, config] = key.split('|');
  const ok = rs.filter((r) => !r.diverged && r.accuracy !== null);
  if (ok.length === 0) {
    console.log(`| ${stage} | ${rule} | ${config} | diverged (${rs.length}/${rs.length} seeds) | | |`);
    continue;
  }
  const acc = `${f(mean(ok.map((r) => r.accuracy!)), 4)} (${rs.map((r) => (r.diverged ? 'NaN' : f(r.accuracy!, 3))).join(', ')})`;
  const layersOf = (pick: (r: Row) => (number | null)[]) => {
    const n = pick(ok[0]).length;
    return Array.from({ length: n }, (_, l) => mean(ok.map((r) => pick(r)[l] ?? NaN)));
  };
  const delta = layersOf((r) => r.deltaAngles).map((a) => f(a, 1)).join(' / ');
  const weight = layersOf((r) => r.weightAngles).slice(1).map((a) => f(a, 1)).join(' / ');
  console.log(`| ${stage} | ${rule} | ${config} | ${acc} | ${delta} | ${rule === 'bp' ? '—' : weight} |`);
}

import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Experiment } from './experiment.js';
import { METRICS_FILE, createRunFolder } from './run-folder.js';

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n');

describe('run folder metrics', () => {
  it("rewindMetrics drops one run's lines past a step (what a killed process logged after its last checkpoint)", () => {
    const folder = createRunFolder(mkdtempSync(join(tmpdir(), 'bioprop-run-folder-')), { name: 'x' } as Experiment);
    const file = join(folder.dir, METRICS_FILE);
    folder.rewindMetrics('a-seed1', 0); // no metrics yet: nothing to do, nothing created
    expect(readdirSync(folder.dir)).not.toContain(METRICS_FILE);
    for (const step of [1, 2, 3]) {
      folder.metrics({ run: 'a-seed1', type: 'epoch', step, epoch: step });
      folder.metrics({ run: 'b-seed1', type: 'epoch', step, epoch: step });
    }
    writeFileSync(file, `${readFileSync(file, 'utf8')}not json\n`);
    const before = statSync(file).mtimeMs;
    folder.rewindMetrics('a-seed1', 3); // nothing past step 3: the file is not rewritten
    expect(statSync(file).mtimeMs).toBe(before);
    folder.rewindMetrics('a-seed1', 1);
    expect(lines(file)).toEqual([
      '{"run":"a-seed1","type":"epoch","step":1,"epoch":1}',
      '{"run":"b-seed1","type":"epoch","step":1,"epoch":1}',
      '{"run":"b-seed1","type":"epoch","step":2,"epoch":2}',
      '{"run":"b-seed1","type":"epoch","step":3,"epoch":3}',
      'not json',
    ]);
    // the resumed run logs on after its checkpoint without repeating a step
    folder.metrics({ run: 'a-seed1', type: 'epoch', step: 2, epoch: 2 });
    expect(lines(file).filter((l) => l.includes('a-seed1')).map((l) => JSON.parse(l).step)).toEqual([1, 2]);
    // a run that starts over (no checkpoint yet) drops all its lines
    folder.rewindMetrics('a-seed1', 0);
    expect(lines(file).some((l) => l.includes('a-seed1'))).toBe(false);
    expect(readdirSync(folder.dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

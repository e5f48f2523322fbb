import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { renderCurvesSvg } from '../plot.js';
import type { Progress } from '../progress.js';
import type { RunResult } from '../run.js';

async function writeText(file: string, text: string): Promise<void> {
  await mkdir(dirname(resolve(file)), { recursive: true });
  await writeFile(file, text);
}

/** Write the results JSON (`json`) and the learning and alignment curves of `results` (`plot`), saying where. */
export async function writeOutputs(what: { json?: string; plot?: string; value: unknown; results: readonly RunResult[] }, progress: Progress): Promise<void> {
  if (what.json) {
    await writeText(what.json, `${JSON.stringify(what.value, null, 2)}\n`);
    progress.note(`results: ${what.json}`);
  }
  if (what.plot) {
    await writeText(what.plot, await renderCurvesSvg(what.results));
    progress.note(`curves: ${what.plot}`);
  }
}

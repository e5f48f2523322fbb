import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { packPublished, type Packed } from '../src/pack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The published packages' tarballs by name, packed once for every test file. */
    packed: Packed;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'bioprop-packed-'));
  const t0 = performance.now();
  project.provide('packed', packPublished(dir));
  console.log(`[published] packed every published package in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return () => rmSync(dir, { recursive: true, force: true });
}

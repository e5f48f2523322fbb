import type { Command } from 'commander';
import type { BackendChoice } from '@bioprop/core';
import { BACKEND_CHOICES, useBackend, type BackendPreference } from '../backend.js';
import { given } from './resume.js';

/**
 * Activate the backend `--backend` names; a resumed run takes the one it ran on (bits differ by backend) unless
 * `--backend` is given. Says which and why on stderr.
 */
export function activateBackend(cmd: Command, flag: BackendPreference, saved: string | undefined, note: (line: string) => void): Promise<BackendChoice> {
  const resumed = !given(cmd, 'backend') && saved !== undefined && (BACKEND_CHOICES as readonly string[]).includes(saved);
  return useBackend(resumed ? (saved as BackendPreference) : flag, note);
}

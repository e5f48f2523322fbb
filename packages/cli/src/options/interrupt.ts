import { EXIT } from '../errors.js';
import type { Progress } from '../progress.js';

/**
 * Run `work` with Ctrl-C handled: the first stops after the current step (the abort signal), so the command saves a
 * checkpoint; a second quits at once.
 */
export async function withInterrupt<T>(progress: Progress, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      progress.note('interrupted again: quitting without saving');
      process.exit(EXIT.interrupted);
    }
    progress.note('interrupt: stopping after the current step and saving a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

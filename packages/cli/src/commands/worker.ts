import type { Command } from 'commander';
import { DEFAULTS } from '../options/defaults.js';
import { integer } from '../options/values.js';
import { parseRedisUrl, serveQueue } from '../queue.js';
import type { CommandContext } from './context.js';

interface WorkerFlags {
  queue?: string;
  concurrency: number;
  runsDir: string;
  lockDuration: number;
}

/** `bioprop worker --queue redis://…`: run the trials that `bioprop sweep --queue` enqueues. */
export function workerCommand(root: Command, ctx: CommandContext): void {
  root
    .command('worker')
    .description('run the trials of `bioprop sweep --queue` sweeps from a Redis queue, each in its own process, until stopped (SIGINT/SIGTERM)')
    .requiredOption('--queue <url>', 'the Redis the sweeps use (redis://host:port[/db])')
    .option('--concurrency <n>', 'trials run at once (one per core, or run one worker per GPU with CUDA_VISIBLE_DEVICES)', integer('--concurrency', 1, 1024), 1)
    .option('--runs-dir <dir>', "this worker's own work folder: <dir>/<sweep queue>/trials/<key>/", DEFAULTS.runsDir)
    .option('--lock-duration <ms>', 'how long a job stays locked without renewal; a dead worker\'s trial goes back to the queue after about one to two of these', integer('--lock-duration', 1000, 3_600_000), 30_000)
    .action(async (flags: WorkerFlags) => {
      const target = parseRedisUrl(flags.queue!);
      const note = (line: string) => void process.stderr.write(`${line}\n`);
      ctx.setCode(await serveQueue({ target, concurrency: flags.concurrency, runsDir: flags.runsDir, lockDurationMs: flags.lockDuration, note }));
    });
}

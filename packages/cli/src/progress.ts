import cliProgress from 'cli-progress';

/** Where progress and notes go: a bar on a terminal, plain lines otherwise (logs, CI, pipes). */
export interface Progress {
  /** Start an epoch of `total` batches. */
  start(label: string, total: number, startAt?: number): void;
  update(batch: number, loss: number): void;
  stop(): void;
  /** A line of information (stderr); clears the bar first. */
  note(line: string): void;
}

/** A progress reporter on stderr: `cli-progress` when stderr is a terminal, otherwise about four lines an epoch. */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, options: { quiet?: boolean } = {}): Progress {
  if (options.quiet) return { start() {}, update() {}, stop() {}, note: (line) => void stream.write(`${line}\n`) };
  if (stream.isTTY) return ttyProgress(stream);
  return plainProgress(stream);
}

function ttyProgress(stream: NodeJS.WriteStream): Progress {
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(label, total, startAt = 0) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `${label} |{bar}| {value}/{total} batches | loss {loss} | {eta_formatted} left`,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, startAt, { loss: '-' });
    },
    update(batch, loss) {
      bar?.update(batch, { loss: Number.isFinite(loss) ? loss.toFixed(4) : String(loss) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
    note(line) {
      if (bar) {
        // cli-progress redraws on the current line: clear it, print, then let the next update redraw
        stream.write('\r\x1b[K');
      }
      stream.write(`${line}\n`);
    },
  };
}

function plainProgress(stream: NodeJS.WriteStream): Progress {
  let label = '';
  let total = 0;
  let every = 1;
  return {
    start(l, t) {
      label = l;
      total = t;
      every = Math.max(1, Math.floor(t / 4));
    },
    update(batch, loss) {
      if (batch % every === 0 && batch < total) stream.write(`${label} batch ${batch}/${total} loss ${loss.toFixed(4)}\n`);
    },
    stop() {},
    note(line) {
      stream.write(`${line}\n`);
    },
  };
}

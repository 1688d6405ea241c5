// Progress of long set-up work, shown to the person waiting for it (on stderr, so that a
// verb's stdout stays its result).
import type { Writable } from 'node:stream';

export interface Progress {
  step(what: string): void;
  /** Where the output of a tool doing the step may go. */
  stream: Writable | 'ignore';
}

export function stderrProgress(): Progress {
  return {
    step: (what) => process.stderr.write(`vmrun: ${what}\n`),
    stream: process.stderr,
  };
}

export const silentProgress: Progress = { step: () => undefined, stream: 'ignore' };

// The one place where failures become what a runc caller expects: exit status 1, the message
// as one line on stderr, and an error record in the --log file (containerd's shim reads it).
import type { Command } from 'commander';
import { isVmrunError } from '../errors.js';
import { globalsOf, loggerFor } from './globals.js';

type Action = (...args: any[]) => Promise<void>;

/** Wraps a verb's action so that every failure is reported the same way. */
export function verb(action: Action): Action {
  return async (...args: any[]) => {
    const cmd = args.at(-1) as Command;
    try {
      await action(...args);
    } catch (e) {
      report(cmd, e);
      process.exitCode = 1;
    }
  };
}

function report(cmd: Command, e: unknown): void {
  const g = globalsOf(cmd);
  const message = e instanceof Error ? e.message : String(e);
  const log = loggerFor(g);
  if (isVmrunError(e)) log.debug({ code: e.code, details: e.details }, 'failure details');
  else log.debug({ stack: (e as Error)?.stack }, 'unexpected failure');
  // Without --log the logs share stderr: the plain line alone says it there, once.
  if (g.log) log.error(message);
  process.stderr.write(`${message.replace(/\n/g, ' ')}\n`);
}

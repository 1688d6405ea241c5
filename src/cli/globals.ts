// runc's global flags, and what a verb gets from them.
import type { Command } from 'commander';
import { createLogger, type LogFormat, type Logger } from '../log.js';
import { runtimeContext, type RuntimeContext } from '../runtime/context.js';

export interface GlobalOptions {
  root: string;
  log?: string;
  logFormat: LogFormat;
  debug: boolean;
  systemdCgroup: boolean;
  /** auto, kvm or tcg; VMRUN_ACCEL when absent. */
  accel?: string;
}

export const DEFAULT_ROOT = '/run/vmrun';

let logger: Logger | undefined;

/** The logger the flags ask for, made once per invocation. */
export function loggerFor(g: GlobalOptions): Logger {
  logger ??= createLogger({ file: g.log, format: g.logFormat, debug: g.debug });
  return logger;
}

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function contextOf(cmd: Command): RuntimeContext {
  const g = globalsOf(cmd);
  return runtimeContext(g.root, loggerFor(g));
}

// vmrun's logs, written by pino in runc's two formats: `--log-format json` gives lines such as
// {"level":"error","msg":"...","time":"..."} (containerd's shim reads those back), `text` gives
// logrus-style lines. Writes are synchronous: a verb may exit right after it logs.
import { closeSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };
export type LogFormat = 'text' | 'json';

export interface LogOptions {
  /** A file to append to; stderr when absent. */
  file?: string;
  format: LogFormat;
  debug: boolean;
  /** Fields every line carries. */
  bindings?: Record<string, unknown>;
}

/**
 * A logger that loads pino at its first use: most verbs never log, and loading pino costs
 * 50 ms of every invocation otherwise.
 */
export function createLogger(opts: LogOptions): Logger {
  let real: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_target, key) {
      real ??= pinoLogger(opts);
      const value: unknown = Reflect.get(real, key);
      return typeof value === 'function' ? value.bind(real) : value;
    },
  });
}

function pinoLogger(opts: LogOptions): Logger {
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const fd = opts.file ? openSync(opts.file, 'a', 0o600) : 2;
  const write = (line: string) => writeSync(fd, opts.format === 'json' ? line : toText(line));
  const logger = pino(
    {
      // On stderr, which may be the container's own (conmon, containerd's shim), only with --debug:
      // a failing verb's error is written there by src/cli/run-verb.ts.
      level: opts.debug ? 'debug' : opts.file ? 'info' : 'error',
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      // logrus's names, which runc's callers read: "warning", not pino's "warn".
      formatters: { level: (label) => ({ level: label === 'warn' ? 'warning' : label }) },
    },
    { write },
  );
  if (opts.file) process.once('exit', () => closeSync(fd));
  return opts.bindings ? logger.child(opts.bindings) : logger;
}

/** A pino JSON line as logrus writes text: time="..." level=error msg="..." key=value. */
function toText(line: string): string {
  const { time, level, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
  const fields = { time, level, msg, ...rest };
  return (
    Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${quote(v)}`)
      .join(' ') + '\n'
  );
}

function quote(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[\w./:-]+$/.test(s) ? s : JSON.stringify(s);
}

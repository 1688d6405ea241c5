// The one way a container's processes run a short command to its end (ip, tc, mount, gcc), with
// a deadline. Not execa here: loading it (node:process's ESM facade) makes process.stdin, which
// fails, and fails the verb, when fd 0 is an engine's fifo already read by the monitor. `vmrun
// setup`, whose stdio is the user's, uses execa; long-lived children are each started by the
// module that owns them (ready-child, sentry, warden, hooks).
import { execFile } from 'node:child_process';
import { VmrunError } from '../errors.js';

/** How long a command may take. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** The most output kept of it. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/** Its text output; rejects naming the command, its status and its stderr when it fails. */
export function command(file: string, args: string[], { timeoutMs = DEFAULT_TIMEOUT_MS } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, encoding: 'utf8', killSignal: 'SIGKILL' }, (e, stdout, stderr) => {
      if (!e) return resolve({ stdout, stderr });
      const why = e.killed ? `no end within ${timeoutMs / 1000} s` : (stderr.trim() || e.message);
      reject(new VmrunError('InvalidState', `${[file, ...args].join(' ')}: ${why}`));
    });
    child.stdin?.end();
  });
}

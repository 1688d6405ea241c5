// The sentry (src/host/vmrun-sentry.c): the host process whose pid `state` and --pid-file
// report, in the container's pid, ipc, uts, mount and cgroup namespaces, with its rootfs as
// root. The monitor starts it and hears from it over an inherited socket: its pid, then the
// signals it receives; it tells it the exit status at the end. Its EOF means it was killed.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { VmrunError, type ErrorCode } from '../errors.js';
import type { Spec } from '../generated/config.js';

/** config.json's namespace types as the sentry names them; network stays the monitor's. */
const TYPES: Record<string, string> = { pid: 'pid', ipc: 'ipc', uts: 'uts', mount: 'mount', cgroup: 'cgroup' };

/** How long it may take to say it is ready: a fork and a few system calls. */
const READY_TIMEOUT_MS = 10_000;
/** How long the exit status may take to reach it. */
const EXIT_TIMEOUT_MS = 2_000;

/** The sentry's arguments: `label` (the VM directory) names it in ps. */
export function sentryArgs(spec: Spec, rootfs: string, label: string): string[] {
  const args: string[] = [];
  if (spec.hostname) args.push('-h', spec.hostname);
  if (spec.domainname) args.push('-d', spec.domainname);
  if (spec.root?.readonly) args.push('-r');
  for (const [i, ns] of (spec.linux?.namespaces ?? []).entries()) {
    const type = TYPES[ns.type];
    if (type) args.push('-n', ns.path ? `${type}:${i}:${ns.path}` : `${type}:${i}`);
  }
  return [...args, '--', label, rootfs];
}

export class Sentry extends EventEmitter<{ signal: [number]; gone: [] }> {
  /** Whether its socket has closed: it died (or exited). */
  ended = false;

  private constructor(readonly pid: number, private readonly socket: Socket) {
    super();
  }

  /** Starts it; resolves with it once it is in its namespaces, rejects with its error. */
  static start(helper: string, args: string[]): Promise<Sentry> {
    // Its own session: a signal to the monitor's process group or terminal is not doubled.
    const child = spawn(helper, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    child.unref(); // its middle process exits at once; the sentry is not this process's child
    const socket = child.stdio[3] as Socket;
    const lines = createInterface({ input: socket });
    return new Promise((resolve, reject) => {
      let sentry: Sentry | undefined;
      const timer = setTimeout(() => fail('InvalidState', `it did not start within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
      const fail = (code: ErrorCode, message: string) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new VmrunError(code, message.startsWith('/') ? message : `the container's host process (vmrun-sentry): ${message}`));
      };
      child.on('error', (e) => fail('InvalidState', e.message));
      lines.on('line', (line) => {
        const [word, rest = ''] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
        if (!sentry && word === 'ready' && /^\d+$/.test(rest)) {
          clearTimeout(timer);
          sentry = new Sentry(Number(rest), socket);
          resolve(sentry);
        } else if (!sentry && word === 'error') {
          const space = rest.indexOf(' ');
          fail(rest.slice(0, space) as ErrorCode, rest.slice(space + 1));
        } else if (sentry && word === 'signal' && /^\d+$/.test(rest) && Number(rest) >= 1 && Number(rest) <= 64) {
          sentry.emit('signal', Number(rest));
        }
      });
      // Its end is gone: the close below says so (readline passes the socket's errors on).
      socket.on('error', () => undefined);
      lines.on('error', () => undefined);
      socket.on('close', () => {
        if (!sentry) return fail('InvalidState', 'it ended before it was ready');
        sentry.ended = true;
        sentry.emit('gone');
      });
    });
  }

  private exiting?: Promise<void>;

  /** Tells it the container's exit status, with which it exits; resolves once sent (or it is gone). Once. */
  exit(status: number): Promise<void> {
    return (this.exiting ??= new Promise((resolve) => {
      const timer = setTimeout(resolve, EXIT_TIMEOUT_MS);
      this.removeAllListeners('gone');
      this.socket.end(Buffer.from([status & 0xff]), () => {
        clearTimeout(timer);
        resolve();
      });
    }));
  }
}

// The warden (src/host/vmrun-warden.c): PID 1 of the pid namespace that holds a VM's host
// processes, so that they all end when the monitor does, however it ends. The only module that
// knows the namespace's pids; it reports every process of it that ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { VmrunError } from '../errors.js';
import type { HostProcess } from '../generated/container-record.js';
import { hostProcess } from './process.js';
import { signalName } from './signals.js';

export interface WardenProgram {
  argv: string[];
  /** Its stdin and stdout are the warden's pipes to the monitor (at most one program). */
  piped?: boolean;
}

/** How a process of the namespace ended: its exit code, or the signal that killed it. */
export interface Ending {
  pid: number;
  code?: number;
  signal?: string;
}

/** How long the warden may take to start its programs, and to end with them. */
const START_TIMEOUT_MS = 10_000;
const END_TIMEOUT_MS = 10_000;

export const describeEnding = (e: Ending) => (e.signal ? `killed by ${e.signal}` : `exited with status ${e.code}`);

/**
 * Events: 'exit' (an Ending, pid in the namespace) for every process of the namespace that
 * ends; 'gone' once the warden itself has ended, with everything in its namespace.
 */
export class Warden extends EventEmitter<{ exit: [Ending]; gone: [] }> {
  /** The namespace pids of the programs, in order. */
  readonly programs: number[] = [];
  /** Endings reported so far, by namespace pid: a part may end before it is known to be one. */
  readonly ended = new Map<number, Ending>();
  private hostPid = 0;
  private gone = false;

  private constructor(private readonly child: ChildProcess, private readonly socket: Socket) {
    super();
  }

  /** The host pid of the namespace's PID 1. */
  get pid(): number {
    return this.hostPid;
  }

  /** The piped program's stdin and stdout. */
  get stdio(): { stdin: Writable; stdout: Readable } {
    return { stdin: this.child.stdin!, stdout: this.child.stdout! };
  }

  static start(helper: string, programs: WardenProgram[]): Promise<Warden> {
    const argv = programs.flatMap((p, i) => [...(i > 0 ? ['--'] : []), ...(p.piped ? ['-i'] : []), ...p.argv]);
    const piped = programs.some((p) => p.piped);
    // Its own session: a signal to the monitor's process group does not reach the VM.
    const child = spawn(helper, argv, { detached: true, stdio: [piped ? 'pipe' : 'ignore', piped ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    const socket = child.stdio[3] as Socket;
    const warden = new Warden(child, socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`it did not start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.destroy();
        child.kill('SIGKILL');
        reject(new VmrunError('InvalidState', `the VM's process warden (vmrun-warden): ${why}`));
      };
      child.on('error', (e) => fail(e.message));
      child.on('exit', () => {
        if (warden.programs.length < programs.length) fail('it ended before it had started its programs');
        warden.end();
        warden.markGone();
      });
      socket.on('error', () => undefined);
      const lines = createInterface({ input: socket });
      lines.on('error', () => undefined);
      lines.on('line', (line) => {
        const [word = '', ...rest] = line.split(' ');
        const [a, b, c] = rest.map(Number) as [number, number, number];
        if (word === 'warden' && a > 0) warden.hostPid = a;
        else if (word === 'start' && a === warden.programs.length && b > 0) warden.programs.push(b);
        else if (word === 'exit' && a > 0) {
          const ending: Ending = rest[1] === 'signal' ? { pid: a, signal: signalName(c) } : { pid: a, code: c };
          warden.ended.set(a, ending);
          warden.emit('exit', ending);
        }
        if (warden.hostPid && warden.programs.length === programs.length) {
          clearTimeout(timer);
          resolve(warden);
        }
      });
    });
  }

  /** The host process of a namespace pid, while it runs: from the warden's children, which every orphan of the namespace becomes. */
  hostProcessOf(nsPid: number): HostProcess | undefined {
    for (const pid of childrenOf(this.hostPid)) {
      if (namespacePid(pid) === nsPid) return hostProcess(pid);
    }
    return undefined;
  }

  /** Ends the warden, and with it every process of the namespace; resolves once they are gone. */
  async end(): Promise<void> {
    this.socket.destroy();
    if (this.gone) return;
    const gone = new Promise<void>((resolve) => this.once('gone', resolve));
    // Its PID 1 dies with it (PR_SET_PDEATHSIG), and the kernel kills the namespace's processes.
    const timer = setTimeout(() => this.child.kill('SIGKILL'), END_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  }

  private markGone(): void {
    this.gone = true;
    this.emit('gone');
  }
}


function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process's pid in its innermost pid namespace (the last field of NSpid). */
function namespacePid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
    return Number(line?.split(/\s+/).at(-1));
  } catch {
    return undefined;
  }
}

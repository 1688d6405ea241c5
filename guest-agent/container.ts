// The container's process in the guest: made by vmrun-exec at `create` (in the container's root,
// program found, waiting), let go at `start`, its stdio relayed to the agent channel, its end
// reported only after its output.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ProcessPlan, Stdio } from '../src/generated/agent-protocol.js';
import { relayStream } from '../src/agent/streams.js';
import { makeStdioFifos } from './fifos.js';
import { processFlags } from './process-flags.js';
import { holders, signalAll } from './processes.js';
import type { ContainerScope } from './scope.js';
import { openContainerTerminal, openGuestTerminal, pipeOutput, PTY_FD, resize, type Terminal } from './terminal.js';

export const VMRUN_EXEC = '/bin/vmrun-exec';
const FIFO_DIR = '/run/vmrun';

export interface StreamSource {
  readableStream(id: number): Readable;
  writableStream(id: number): Writable;
}

export interface Exit {
  status: number;
  signal?: number;
}

export class ContainerProcess {
  private readonly statusLines: AsyncIterator<string>;
  /** Resolves once the process has ended and all its output has been sent. */
  readonly exited: Promise<Exit>;

  private terminal?: Terminal;
  /** The container's process, when vmrun-exec holds it in namespaces of its own. */
  private heldPid?: number;
  /** What the start fd gets: any byte, or which pty of the container's devpts to take. */
  private startMessage = 'x';

  private constructor(
    private readonly child: ChildProcess,
    outputDone: Promise<unknown>,
    /** The container's, if this is its init. */
    initOf?: ContainerScope,
  ) {
    this.statusLines = lines(child.stdio[3] as Readable);
    this.exited = (async () => {
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      holders.delete(child.pid!);
      // As in a PID namespace whose init has died: the rest of the container dies with it,
      // and with them the last holders of its stdout and stderr.
      if (initOf) signalAll(constants.signals.SIGKILL, initOf);
      await outputDone;
      const signum = signal ? constants.signals[signal] : undefined;
      return signum ? { status: 128 + signum, signal: signum } : { status: code ?? 255 };
    })();
  }

  /** The pid the agent signals: vmrun-exec, or its holder, which passes signals on. */
  get pid(): number {
    return this.child.pid!;
  }

  /** The guest pid of the process that runs the container's program. */
  get containerPid(): number {
    return this.heldPid ?? this.child.pid!;
  }

  /** The process's root as the guest reaches it, through whatever mount namespace it has. */
  get root(): string {
    return `/proc/${this.containerPid}/root`;
  }

  /**
   * Creates the process in `root` up to the moment before it execs (`setup`: vmrun-exec's flags
   * for the cgroup and the filesystem); resolves once vmrun-exec
   * has made the mounts, entered the root and found the program, rejects with what it reported.
   * The container's init is `name` "init": when it ends, every other process of the guest does.
   * `containerDevpts`: the container has a devpts at /dev/pts, once vmrun-exec is ready.
   */
  static async create(name: string, scope: ContainerScope, spec: ProcessPlan, stdio: Stdio, channel: StreamSource, setup: string[] = [], containerDevpts = false): Promise<ContainerProcess> {
    const root = scope.root;
    const initOf = name === 'init' ? scope : undefined;
    if (spec.terminal) return ContainerProcess.withTerminal(initOf, root, spec, stdio, channel, setup, containerDevpts);
    // Named apart from the same process name of another container of the guest.
    const fifos = makeStdioFifos(FIFO_DIR, scope.name ? `${scope.name}-${name}` : name, {
      stdin: stdio.stdin !== undefined,
      stdout: stdio.stdout !== undefined,
      stderr: stdio.stderr !== undefined,
    });
    const child = spawnVmrunExec(root, spec, setup, fifos.child);
    fifos.closeChildEnds();
    if (fifos.stdin && stdio.stdin !== undefined) void relayStream(channel.readableStream(stdio.stdin), fifos.stdin);
    const outputs = (['stdout', 'stderr'] as const).map((s) => {
      const from = fifos[s];
      const id = stdio[s];
      if (!from || id === undefined) return Promise.resolve();
      const to = channel.writableStream(id);
      from.pipe(to);
      return finished(to);
    });
    return ContainerProcess.ready(new ContainerProcess(child, Promise.all(outputs), initOf));
  }

  /**
   * A process whose stdin and output are a terminal: stdio's stdin and stdout streams. The pty
   * of the container's devpts is opened once vmrun-exec has mounted it, and named in the
   * start message; without one, a pty of the guest's is handed over at once.
   */
  private static async withTerminal(initOf: ContainerScope | undefined, root: string, spec: ProcessPlan, stdio: Stdio, channel: StreamSource, setup: string[], containerDevpts: boolean): Promise<ContainerProcess> {
    const guest = containerDevpts ? undefined : openGuestTerminal(spec.consoleSize);
    const child = spawnVmrunExec(root, spec, setup, ['ignore', 'ignore', 'ignore'], guest && { flags: guest.flags, fd: guest.terminal.master });
    let attachOutput!: (done: Promise<unknown>) => void;
    const outputDone = new Promise((resolve) => (attachOutput = (done) => void done.then(resolve, resolve)));
    const proc = new ContainerProcess(child, outputDone, initOf);
    try {
      await ContainerProcess.ready(proc);
      let terminal = guest?.terminal;
      if (!terminal) {
        const opened = await openContainerTerminal(proc.root, spec.user.uid, spec.consoleSize, VMRUN_EXEC);
        terminal = opened.terminal;
        proc.startMessage = `pty ${opened.number}\n`;
      }
      proc.terminal = terminal;
      // A terminal has no end of input but ^D: the master stays open when stdin ends.
      if (stdio.stdin !== undefined) void relayStream(channel.readableStream(stdio.stdin), terminal.io, { end: false });
      let output: Promise<unknown> = Promise.resolve();
      if (stdio.stdout !== undefined) {
        const to = channel.writableStream(stdio.stdout);
        pipeOutput(terminal.io, to);
        output = finished(to);
      }
      attachOutput(output.finally(() => terminal.io.destroy()));
      return proc;
    } catch (e) {
      attachOutput(Promise.resolve());
      child.kill('SIGKILL');
      throw e;
    }
  }

  /** Resolves once vmrun-exec reports it is ready to exec. */
  private static async ready(proc: ContainerProcess): Promise<ContainerProcess> {
    const status = await proc.nextStatus();
    if (status !== 'ok') throw new Error(status ?? `${VMRUN_EXEC} ended before it was ready`);
    return proc;
  }

  async resize(rows: number, cols: number): Promise<void> {
    if (!this.terminal) throw new Error('the process has no terminal');
    await resize(this.terminal, rows, cols, VMRUN_EXEC);
  }

  /** Lets the process exec its program; resolves once it has, rejects if exec failed. */
  async start(): Promise<void> {
    (this.child.stdio[4] as Writable).end(this.startMessage);
    // EOF on the close-on-exec status fd, with no error before it, means the exec happened.
    const status = await this.nextStatus();
    if (status !== undefined) throw new Error(status);
  }

  /** runc's words when the process has gone, which containerd's shim looks for. */
  signal(signal: number): void {
    try {
      // A holder passes signals on, but SIGSTOP would stop the holder itself.
      process.kill(signal === constants.signals.SIGSTOP ? this.containerPid : this.pid, signal);
    } catch (e) {
      throw (e as NodeJS.ErrnoException).code === 'ESRCH' ? new Error('no such process') : e;
    }
  }

  /** vmrun-exec's next report: "ok", what failed, or undefined at EOF; "pid N" names a held process. */
  private async nextStatus(): Promise<string | undefined> {
    for (;;) {
      const line = await this.statusLines.next();
      if (line.done) return undefined;
      const held = /^pid (\d+)$/.exec(line.value);
      if (!held) return line.value.replace(/^error /, '');
      this.heldPid = Number(held[1]);
      holders.add(this.child.pid!);
    }
  }
}

/**
 * vmrun-exec for `spec` in `root`, waiting for its start: fds 0-2 as given, 3 its status fd, 4
 * its start fd, and a guest pty master at PTY_FD. The status fd comes first among the flags:
 * vmrun-exec reports there whatever fails after it, a mount included.
 */
function spawnVmrunExec(root: string, spec: ProcessPlan, setup: string[], stdio: (number | 'ignore')[], pty?: { flags: string[]; fd: number }): ChildProcess {
  const args = ['--status-fd', '3', '--start-fd', '4', ...setup, '--root', root, ...processFlags(spec), ...(pty?.flags ?? []), '--', ...spec.args];
  const fds: (number | 'ignore' | 'pipe')[] = [...stdio, 'pipe', 'pipe'];
  if (pty) fds[PTY_FD] = pty.fd;
  const env = Object.fromEntries(spec.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  return spawn(VMRUN_EXEC, args, { stdio: fds, env });
}

async function* lines(stream: Readable): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of stream.setEncoding('utf8')) {
    rest += chunk;
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
}

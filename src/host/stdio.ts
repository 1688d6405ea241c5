// A process's stdio on the host: the monitor's (the container's init) and an exec relay's fds
// 0, 1 and 2, inherited from the verb that made them. Writes must never block (a slow reader of
// stdout must not delay a kill), so pipes and sockets go through libuv's non-blocking streams,
// terminals through its tty streams made non-blocking, and files through the threadpool;
// process.stdout would write to a pipe or a terminal synchronously.
import { createReadStream, createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isatty, ReadStream, WriteStream } from 'node:tty';
import type { AgentChannel } from '../agent/channel.js';
import { relayStream } from '../agent/streams.js';
import type { Stdio } from '../generated/agent-protocol.js';

const isStream = (fd: number) => {
  const s = fstatSync(fd);
  return s.isFIFO() || s.isSocket();
};

export function inputFrom(fd: number): Readable {
  if (isatty(fd)) return new ReadStream(fd);
  return isStream(fd)
    ? new Socket({ fd, readable: true, writable: false })
    : createReadStream('', { fd, autoClose: false });
}

export function outputTo(fd: number): Writable {
  if (isatty(fd)) {
    const tty = new WriteStream(fd);
    // libuv reopened the terminal for this stream, so this changes no one else's fd.
    (tty as unknown as { _handle: { setBlocking(b: boolean): void } })._handle.setBlocking(false);
    return tty;
  }
  return isStream(fd)
    ? new Socket({ fd, readable: false, writable: true })
    : createWriteStream('', { fd, autoClose: false });
}

/** Resolves once everything written to `w` so far has been handed to the kernel. */
export function flushed(w: Writable): Promise<void> {
  return new Promise((resolve) => (w.destroyed ? resolve() : w.write('', () => resolve())));
}

export interface JoinedStdio {
  /** The streams, as a create or exec request names them. */
  stdio: Stdio;
  input: Readable;
  /** Resolves once the process's output is all out of this process's fds 1 and 2. */
  output: Promise<void>;
  /** The terminal fd 1 is, when the process has one. */
  terminalOut?: Writable;
}

/**
 * This process's fds 0-2 joined to a process's stdio on `channel`: streams 1, 2 and 3 for
 * stdin, stdout and stderr, or with a terminal, whose line discipline is in the guest, stdin
 * and one output.
 */
export function joinStdio(channel: AgentChannel, terminal: boolean): JoinedStdio {
  const input = inputFrom(0);
  void relayStream(input, channel.writableStream(1));
  let terminalOut: Writable | undefined;
  const outputs = (terminal ? [[1, 2]] : [[1, 2], [2, 3]]).map(([fd, stream]) => {
    const to = outputTo(fd!);
    if (terminal) terminalOut = to;
    return relayStream(channel.readableStream(stream!), to, { end: false }).then(() => flushed(to));
  });
  return {
    stdio: terminal ? { stdin: 1, stdout: 2, terminal } : { stdin: 1, stdout: 2, stderr: 3 },
    input,
    output: Promise.all(outputs).then(() => undefined),
    terminalOut,
  };
}

export interface WindowSize {
  rows: number;
  cols: number;
}

/**
 * The size of the terminal `out` writes to, read now (Node's WriteStream caches the size it had
 * when made, and refreshes only process.stdout's), or undefined for none (0x0, or not a terminal).
 */
export function terminalSize(out: Writable): WindowSize | undefined {
  const handle = out instanceof WriteStream ? (out as unknown as { _handle?: { getWindowSize(s: number[]): number } })._handle : undefined;
  const size = [0, 0];
  if (!handle || handle.getWindowSize(size) !== 0) return undefined;
  const [cols, rows] = size as [number, number];
  return rows > 0 && cols > 0 ? { rows, cols } : undefined;
}

/**
 * Passes the size of the terminal `out` writes to on to `send`, now and at every SIGWINCH (which
 * reaches this process when that terminal is its controlling one, as vmrun-pty makes it, or its
 * caller's, as for `vmrun run`): one size at a time, in order, only when it changed, and none
 * before `after` (the process exists).
 * `known` is the size the process was given already.
 */
export class SizeFollower {
  private last: string;
  private sending: Promise<void>;
  private readonly check = () => this.sync();

  constructor(private readonly out: Writable, private readonly send: (size: WindowSize) => Promise<void>, o: { known?: WindowSize; after?: Promise<unknown> } = {}) {
    this.last = o.known ? `${o.known.rows}x${o.known.cols}` : '';
    this.sending = (o.after ?? Promise.resolve()).then(() => undefined, () => undefined);
    process.on('SIGWINCH', this.check);
    this.sync();
  }

  /** Resolves once the terminal's size as it is now has been sent. */
  sync(): Promise<void> {
    const size = terminalSize(this.out);
    const key = size ? `${size.rows}x${size.cols}` : '';
    if (size && key !== this.last) {
      this.last = key;
      this.sending = this.sending.then(() => this.send(size)).catch(() => undefined);
    }
    return this.sending;
  }

  stop(): void {
    process.off('SIGWINCH', this.check);
  }
}

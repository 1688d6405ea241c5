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

/**
 * Calls `onResize` with the size of the terminal `out` writes to, now and whenever it changes
 * (SIGWINCH reaches this process when the terminal is its controlling one, or its caller's).
 */
export function watchTerminalSize(out: Writable, onResize: (rows: number, cols: number) => void): void {
  if (!(out instanceof WriteStream)) return;
  const report = () => {
    const [cols, rows] = out.getWindowSize();
    if (rows > 0 && cols > 0) onResize(rows, cols);
  };
  process.on('SIGWINCH', report);
  report();
}

// A process's stdio on the host: the monitor's (the container's init) and an exec relay's fds
// 0, 1 and 2, inherited from the verb that made them. Writes must never block (a slow reader of
// stdout must not delay a kill), so pipes and sockets go through libuv's non-blocking streams,
// terminals through its tty streams made non-blocking, and files through the threadpool;
// process.stdout would write to a pipe or a terminal synchronously.
import { createReadStream, createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isatty, ReadStream, WriteStream } from 'node:tty';

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

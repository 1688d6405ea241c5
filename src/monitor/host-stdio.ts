// The container's stdio on the host: the monitor's fds 0, 1 and 2, inherited from the verb that
// created it. Writes must never block the monitor (a slow reader of stdout must not delay a
// kill), so pipes and sockets go through libuv's non-blocking streams, and files through the
// threadpool; process.stdout would write to a pipe synchronously.
import { createReadStream, createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

const isStream = (fd: number) => {
  const s = fstatSync(fd);
  return s.isFIFO() || s.isSocket();
};

export function inputFrom(fd: number): Readable {
  return isStream(fd)
    ? new Socket({ fd, readable: true, writable: false })
    : createReadStream('', { fd, autoClose: false });
}

export function outputTo(fd: number): Writable {
  return isStream(fd)
    ? new Socket({ fd, readable: false, writable: true })
    : createWriteStream('', { fd, autoClose: false });
}

/** Resolves once everything written to `w` so far has been handed to the kernel. */
export function flushed(w: Writable): Promise<void> {
  return new Promise((resolve) => (w.destroyed ? resolve() : w.write('', () => resolve())));
}

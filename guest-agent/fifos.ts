// A container process's stdio are FIFOs, as under runc, where they are pipes: programs treat
// sockets differently (opening /dev/stdout fails on one). Node has no pipe(2), so each stream
// is a named FIFO: the agent keeps a non-blocking end, the process gets a plain blocking one.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { socketOnFd } from './fd-socket.js';

export interface StdioFifos {
  /** The fds the process gets as 0, 1 and 2 ('ignore' where the stream is absent). */
  child: (number | 'ignore')[];
  stdin?: Socket;
  stdout?: Socket;
  stderr?: Socket;
  /** Closes the agent's copies of the child's ends, once the child has them. */
  closeChildEnds(): void;
}

export function makeStdioFifos(dir: string, name: string, want: { stdin: boolean; stdout: boolean; stderr: boolean }): StdioFifos {
  const paths = (['stdin', 'stdout', 'stderr'] as const).filter((s) => want[s]).map((s) => `${dir}/${name}.${s}`);
  // Those of the container's init exist from boot (guest-agent/init.sh).
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) execFileSync('/bin/busybox', ['mkfifo', '-m', '600', ...missing]);
  const childFds: number[] = [];
  const own = (fd: number) => (childFds.push(fd), fd);
  const result: StdioFifos = {
    child: ['ignore', 'ignore', 'ignore'],
    closeChildEnds: () => childFds.splice(0).forEach((fd) => closeSync(fd)),
  };
  const path = (s: string) => `${dir}/${name}.${s}`;
  if (want.stdin) {
    // Opened read-write first, the agent's end needs no reader; the child's read end then opens at once.
    const agentEnd = openSync(path('stdin'), constants.O_RDWR | constants.O_NONBLOCK);
    result.stdin = socketOnFd(agentEnd, { readable: false, writable: true });
    result.child[0] = own(openSync(path('stdin'), constants.O_RDONLY));
  }
  for (const s of ['stdout', 'stderr'] as const) {
    if (!want[s]) continue;
    // Read-only, so that the agent sees EOF once every writer in the container has closed.
    const agentEnd = openSync(path(s), constants.O_RDONLY | constants.O_NONBLOCK);
    result.child[s === 'stdout' ? 1 : 2] = own(openSync(path(s), constants.O_WRONLY));
    result[s] = socketOnFd(agentEnd, { readable: true, writable: false });
  }
  for (const p of paths) unlinkSync(p);
  return result;
}

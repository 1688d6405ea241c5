// A terminal for a container process: a pty master the agent opens in the guest's own devpts
// and relays, and its peer, which vmrun-exec makes the process's stdio and controlling
// terminal (--pty-fd). As with Kata's agent, the peer is not in the container's /dev/pts.
import { execFileSync, spawn } from 'node:child_process';
import { constants, existsSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { socketOnFd } from './fd-socket.js';

const PTMX = '/dev/pts/ptmx';
/** The fd vmrun-exec gets the master on. */
export const PTY_FD = 5;

export interface Terminal {
  master: number;
  io: Socket;
}

export function openTerminal(): Terminal {
  // devpts is mounted in the guest's root the first time a terminal is asked for.
  if (!existsSync(PTMX)) execFileSync('/bin/busybox', ['sh', '-c', 'mkdir -p /dev/pts && mount -t devpts -o mode=0620,ptmxmode=0666 devpts /dev/pts']);
  const master = openSync(PTMX, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  return { master, io: socketOnFd(master, { readable: true, writable: true }) };
}

/** vmrun-exec's flags that hand it the terminal, of this size. */
export function terminalFlags(size?: { rows: number; cols: number }): string[] {
  return [...(size ? ['--winsize', `${size.rows}x${size.cols}`] : []), '--pty-fd', String(PTY_FD)];
}

/** The terminal's output until its last peer is closed, which the master reads as EIO. */
export function pipeOutput(from: Readable, to: Writable): void {
  from.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EIO' ? to.end() : to.destroy(e)));
  from.pipe(to);
}

export async function resize(t: Terminal, rows: number, cols: number, vmrunExec: string): Promise<void> {
  const child = spawn(vmrunExec, ['--resize', `${rows}x${cols}`], { stdio: [t.master, 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(err.trim() || `resize failed (${String(code)})`);
}

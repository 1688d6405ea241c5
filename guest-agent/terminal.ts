// A terminal for a container process: a pty master the agent opens and relays, and its peer,
// which vmrun-exec makes the process's stdio and controlling terminal. The pty is the
// container's own, /dev/pts/N in its devpts (so that `tty` names it), once vmrun-exec has
// mounted that; a container without a devpts mount gets one of the guest's devpts instead.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, constants, existsSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { socketOnFd } from './fd-socket.js';

const GUEST_PTMX = '/dev/pts/ptmx';
/** The fd vmrun-exec gets the master on. */
export const PTY_FD = 5;

type Size = { rows: number; cols: number } | undefined;

export interface Terminal {
  master: number;
  io: Socket;
}

/** The ptmx of the devpts mounted in the container's `root`, if vmrun-exec has mounted one. */
export const containerPtmx = (root: string) => `${root}/dev/pts/ptmx`;

function open(ptmx: string): Terminal {
  const master = openSync(ptmx, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  return { master, io: socketOnFd(master, { readable: true, writable: true }) };
}

/**
 * A pty of the container's devpts for the process running as `uid`: its number for
 * vmrun-exec's start message ("pty N"), its peer unlocked, sized and the process's own.
 */
export async function openContainerTerminal(root: string, uid: number, size: Size, vmrunExec: string): Promise<{ terminal: Terminal; number: number }> {
  const terminal = open(containerPtmx(root));
  const number = Number(await helper(vmrunExec, ['--unlock', ...(size ? [`${size.rows}x${size.cols}`] : [])], terminal.master));
  chownSync(`${root}/dev/pts/${number}`, uid, -1);
  return { terminal, number };
}

/** A pty of the guest's own devpts, for a container that mounts none, and vmrun-exec's flags for it. */
export function openGuestTerminal(size: Size): { terminal: Terminal; flags: string[] } {
  // devpts is mounted in the guest's root the first time such a terminal is asked for.
  if (!existsSync(GUEST_PTMX)) execFileSync('/bin/busybox', ['sh', '-c', 'mkdir -p /dev/pts && mount -t devpts -o mode=0620,ptmxmode=0666 devpts /dev/pts']);
  const flags = [...(size ? ['--winsize', `${size.rows}x${size.cols}`] : []), '--pty-fd', String(PTY_FD)];
  return { terminal: open(GUEST_PTMX), flags };
}

/** The terminal's output until its last peer is closed, which the master reads as EIO. */
export function pipeOutput(from: Readable, to: Writable): void {
  from.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EIO' ? to.end() : to.destroy(e)));
  from.pipe(to);
}

export async function resize(t: Terminal, rows: number, cols: number, vmrunExec: string): Promise<void> {
  await helper(vmrunExec, ['--resize', `${rows}x${cols}`], t.master);
}

/** vmrun-exec in one of its helper modes, on the master; resolves with what it printed. */
async function helper(vmrunExec: string, args: string[], master: number): Promise<string> {
  const child = spawn(vmrunExec, args, { stdio: [master, 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(err.trim() || `${args[0]} failed (${String(code)})`);
  return out.trim();
}

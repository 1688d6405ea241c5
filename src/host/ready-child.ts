// A long-lived child of a verb (the monitor, a detached exec relay) that inherits the caller's
// stdio, runs in a session of its own, and says once on fd 3, as a JSON line, whether it is
// ready: {"ok":true,...} or {"ok":false,"error":{code,message}}.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmrunError, type ErrorCode } from '../errors.js';

export interface ReadyChild {
  child: ChildProcess;
  /** What the child said besides ok. */
  reply: Record<string, unknown>;
}

/**
 * Starts `argv` with fds 0-2 inherited, fd 3 the ready pipe and `extraFds` after it; resolves
 * once it is ready, rejects with its error (after it has exited) otherwise. `what` names it.
 */
export async function startReadyChild(argv: string[], extraFds: number[], what: string): Promise<ReadyChild> {
  const [command, ...args] = argv as [string, ...string[]];
  // Its own session, so that the caller's terminal or process group signals reach it only
  // through kill.
  const child = spawn(command, args, { detached: true, stdio: ['inherit', 'inherit', 'inherit', 'pipe', ...extraFds] });
  const answer = await readAll(child.stdio[3] as Readable);
  let reply: { ok: boolean; error?: { code: ErrorCode; message: string } };
  try {
    reply = JSON.parse(answer);
  } catch {
    const [code, signal] = child.exitCode !== null ? [child.exitCode, null] : await once(child, 'exit');
    throw new VmrunError('InvalidState', `${what} ended before it was ready (${signal ?? `status ${code}`})`);
  }
  if (!reply.ok) {
    if (child.exitCode === null) await once(child, 'exit');
    throw new VmrunError(reply.error?.code ?? 'InvalidState', reply.error?.message ?? `${what} failed`);
  }
  return { child, reply };
}

const READY_FD = 3;

/** The child's side: says once whether it is ready, and lets go of the pipe. */
export function tellReady(message: { ok: true } | { ok: true; pid: number } | { ok: false; error: { code: string; message: string } }): void {
  writeSync(READY_FD, JSON.stringify(message) + '\n');
  closeSync(READY_FD);
}

/** How long a child waits for its starter to exit before it exits anyway. */
const STARTER_EXIT_WAIT_MS = 10_000;

/**
 * The child's side, before it exits: waits until `starter` (its parent's pid when it began) is no
 * longer its parent. Node reaps the children it spawned, so a child that ended while the verb was
 * still exiting would give its status to the verb, and whoever waits for the child's pid
 * (containerd's shim, conmon: subreapers that inherit it) would wait for ever.
 */
export async function outliveStarter(starter: number): Promise<void> {
  const deadline = Date.now() + STARTER_EXIT_WAIT_MS;
  while (process.ppid === starter && Date.now() < deadline) await sleep(5);
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

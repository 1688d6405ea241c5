// passt, the outbound user-mode network of a container without a network namespace. Debian's
// libvirt 9.0 has no passt backend, so vmrun starts it for one client, QEMU (which connects with
// `-netdev stream`), and it ends when QEMU goes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostProcess } from '../generated/container-record.js';
import { hostProcess } from './process.js';

/**
 * Starts passt with its socket in `dir`, which it makes for `account` (QEMU's, as libvirt runs
 * passt: the one client that must reach the socket; the folder above lets that account through);
 * resolves once it listens, with its process and socket.
 */
export async function startPasst(dir: string, account: { uid: number; gid: number }): Promise<{ passt: HostProcess; socket: string }> {
  await mkdir(dir, { mode: 0o700 });
  await chown(dir, account.uid, account.gid);
  await chmod(dir, 0o700);
  const socket = join(dir, 'passt.sock');
  // In the foreground, so that its pid is known: it drops root, and could not write a pid file here.
  const child = spawn('passt', ['--quiet', '--one-off', '--foreground', '--runas', `${account.uid}:${account.gid}`, '--socket', socket], { stdio: 'ignore', detached: true });
  child.unref();
  const passt = child.pid === undefined ? undefined : hostProcess(child.pid);
  for (let i = 0; i < 250 && !existsSync(socket); i++) {
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  if (!passt || !existsSync(socket)) throw new Error(`passt did not start listening on ${socket}`);
  return { passt, socket };
}

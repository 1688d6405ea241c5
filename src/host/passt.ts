// passt, the outbound user-mode network of a container without a network namespace. Debian's
// libvirt 9.0 has no passt backend, so vmrun starts it for one client, QEMU (which connects with
// `-netdev stream`), and it ends when QEMU goes.
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { socketAppears } from './unix-socket.js';

/**
 * passt's command line, with its socket in `dir`, which it makes for `account` (QEMU's, as
 * libvirt runs passt: the one client that must reach the socket; the folder above lets that
 * account through). The caller starts it.
 */
export async function passtProgram(dir: string, account: { uid: number; gid: number }): Promise<{ argv: string[]; socket: string }> {
  await mkdir(dir, { mode: 0o700 });
  await chown(dir, account.uid, account.gid);
  await chmod(dir, 0o700);
  const socket = join(dir, 'passt.sock');
  // In the foreground, so that its pid is known: it drops root, and could not write a pid file here.
  return { argv: ['passt', '--quiet', '--one-off', '--foreground', '--runas', `${account.uid}:${account.gid}`, '--socket', socket], socket };
}

/** Resolves once passt listens on `socket`; rejects if it does not within 5 s, or `ended` says it has gone. */
export const passtListening = (socket: string, ended: () => boolean): Promise<void> => socketAppears('passt', socket, ended);


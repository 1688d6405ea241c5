// passt, the outbound user-mode network of a container without a network namespace. Debian's
// libvirt 9.0 has no passt backend, so vmrun starts it for one client, QEMU (which connects with
// `-netdev stream`), and it ends when QEMU goes.
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmrunError } from '../errors.js';

/** passt drops root for this account, which must reach its socket. */
const NOBODY = 65534;

/**
 * passt's command line, with its socket in `dir`, which it makes for passt's account (the
 * folders above must let others through, mode 0711). The caller starts it.
 */
export async function passtProgram(dir: string): Promise<{ argv: string[]; socket: string }> {
  await mkdir(dir, { mode: 0o700 });
  await chown(dir, NOBODY, NOBODY);
  await chmod(dirname(dir), 0o711);
  const socket = join(dir, 'passt.sock');
  // In the foreground, so that its pid is known: it drops to nobody, who cannot write a pid file here.
  return { argv: ['passt', '--quiet', '--one-off', '--foreground', '--socket', socket], socket };
}

/** Resolves once passt listens on `socket`; rejects if it does not within 5 s, or `ended` says it has gone. */
export async function passtListening(socket: string, ended: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !existsSync(socket); i++) {
    if (ended()) break;
    await sleep(20);
  }
  if (!existsSync(socket)) throw new VmrunError('InvalidState', `passt did not start listening on ${socket}`);
}

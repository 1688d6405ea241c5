// The host paths a container binds in, gathered in one directory that one virtiofs share
// carries, so that the guest sees those paths and nothing else of the host. Each source is
// bind-mounted there in the monitor's own mount namespace (vmrun starts the monitor under
// `unshare --mount`): the mounts end with the monitor, QEMU and virtiofsd, and no other
// process, not even a `rm -rf` of the VM directory, ever sees them.
import { execFile } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VmrunError } from '../errors.js';
import type { HostBind } from '../oci/guest-plan.js';

const run = promisify(execFile);

/** This process's mount namespace, as /proc names it: mnt:[INODE]. */
export const mountNamespace = () => readlinkSync('/proc/self/ns/mnt');

/** Binds each source into `dir`; `callerNamespace` is the one the mounts must stay out of. */
export async function mountBinds(dir: string, binds: HostBind[], callerNamespace: string): Promise<void> {
  if (binds.length === 0) return;
  // Mounted in the caller's namespace, they would outlive a crash and lie under a recursive delete.
  if (mountNamespace() === callerNamespace) throw new Error('refusing to bind host paths in the mount namespace of vmrun create');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const b of binds) {
    const source = await stat(b.source).catch((e: NodeJS.ErrnoException) => {
      throw new VmrunError('ConfigInvalid', `${b.field}/source: ${b.source}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
    });
    const target = join(dir, b.name);
    // Single files too: Docker binds /etc/hosts from a directory that holds other data.
    if (source.isDirectory()) await mkdir(target);
    else await writeFile(target, '', { mode: 0o600 });
    await run('mount', [b.recursive ? '--rbind' : '--bind', b.source, target]);
    if (b.readonly) await run('mount', ['-o', 'remount,bind,ro', target]);
  }
}

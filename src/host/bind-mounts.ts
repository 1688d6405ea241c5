// The host paths a container binds in, gathered in one directory that one virtiofs share
// carries, so that the guest sees those paths and nothing else of the host. Each source is
// bind-mounted there in the monitor's own mount namespace (vmrun starts the monitor under
// `unshare --mount`): the mounts end with the monitor, QEMU and virtiofsd, and no other
// process, not even a `rm -rf` of the VM directory, ever sees them.
import { readlinkSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmrunError } from '../errors.js';
import type { HostBind, HostSubmount } from '../oci/guest-plan.js';
import { command } from './command.js';


/** This process's mount namespace, as /proc names it: mnt:[INODE]. */
export const mountNamespace = () => readlinkSync('/proc/self/ns/mnt');

/**
 * Binds each source into `dir`; `callerNamespace` is the one the mounts must stay out of.
 * Returns the mounts each recursive bind brought along: virtiofs shows them to the guest as
 * part of one mount, so the guest binds each again to give it its own flags, as under runc.
 */
export async function mountBinds(dir: string, binds: HostBind[], callerNamespace: string): Promise<HostSubmount[]> {
  if (binds.length === 0) return [];
  // Mounted in the caller's namespace, they would outlive a crash and lie under a recursive delete.
  if (mountNamespace() === callerNamespace) throw new VmrunError('InvalidState', 'refusing to bind host paths in the mount namespace of vmrun create');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const b of binds) {
    const source = await stat(b.source).catch((e: NodeJS.ErrnoException) => {
      throw new VmrunError('ConfigInvalid', `${b.field}/source: ${b.source}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
    });
    const target = join(dir, b.name);
    // Single files too: Docker binds /etc/hosts from a directory that holds other data.
    if (source.isDirectory()) await mkdir(target);
    else await writeFile(target, '', { mode: 0o600 });
    await command('mount', [b.recursive ? '--rbind' : '--bind', b.source, target]);
    if (b.readonly) await command('mount', ['-o', 'remount,bind,ro', target]);
  }
  const recursive = new Set(binds.filter((b) => b.recursive).map((b) => b.name));
  return recursive.size === 0 ? [] : submountsOf(await readFile('/proc/self/mountinfo', 'utf8'), dir, recursive);
}

/**
 * Detaches every mount below `dir` in this process's namespace, deepest first: the monitor's
 * binds, before it removes its own VM directory (a delete does so from outside, where they are
 * not mounts).
 */
export async function unmountBelow(dir: string): Promise<void> {
  const points = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')
    .map((line) => unescapeMountinfo(line.split(' ')[4] ?? ''))
    .filter((point) => point.startsWith(`${dir}/`))
    .sort((x, y) => y.length - x.length);
  for (const point of points) await command('umount', ['-l', point]).catch(() => undefined);
}

/** A mountinfo field without its octal escapes of space, tab, newline and backslash. */
export const unescapeMountinfo = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
const SUBMOUNT_FLAGS = new Set(['ro', 'nosuid', 'nodev', 'noexec']);

/** The mounts below `dir`/NAME for each recursive bind NAME, in mount order, with their flags. */
export function submountsOf(mountinfo: string, dir: string, names: Set<string>): HostSubmount[] {
  const found: HostSubmount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const point = fields[4] === undefined ? '' : unescapeMountinfo(fields[4]);
    if (!point.startsWith(dir + '/')) continue;
    const [name, ...rest] = point.slice(dir.length + 1).split('/');
    if (!names.has(name!) || rest.length === 0) continue;
    found.push({ name: name!, path: rest.join('/'), options: fields[5]!.split(',').filter((o) => SUBMOUNT_FLAGS.has(o)) });
  }
  return found;
}

// config.json's mount options as runc (1.1) reads them: its flags, propagation options,
// recursive attributes and extensions; anything else is data for the filesystem. vmrun-exec
// (guest-agent/vmrun-exec.c) applies the same tables in the guest.
import type { Mount } from '../generated/config.js';

/** runc's mount flags (`defaults` is not one: runc passes it on as data). */
const FLAGS = [
  'acl', 'async', 'atime', 'bind', 'dev', 'diratime', 'dirsync', 'exec', 'iversion', 'lazytime', 'loud',
  'mand', 'noacl', 'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand',
  'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow', 'rbind', 'relatime', 'remount', 'ro', 'rw',
  'silent', 'strictatime', 'suid', 'symfollow', 'sync',
];
export const PROPAGATION = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable'];
/** Applied with mount_setattr(2) over a bind's whole tree. */
const RECURSIVE = [
  'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnodiratime', 'rdiratime',
  'rrelatime', 'rnorelatime', 'rnoatime', 'ratime', 'rstrictatime', 'rnostrictatime', 'rnosymfollow', 'rsymfollow',
];
const EXTENSIONS = ['tmpcopyup'];

/** What `features` lists as mountOptions, sorted as runc sorts them. */
export const KNOWN_MOUNT_OPTIONS = [...FLAGS, ...PROPAGATION, ...RECURSIVE, ...EXTENSIONS].sort();
const KNOWN = new Set(KNOWN_MOUNT_OPTIONS);

/**
 * The data keys the guest kernel (Linux 6.1) takes for the filesystems whose parameters it
 * checks; any other key fails the mount, under runc as in the guest, so vmrun refuses it first.
 * Other types (overlay, cgroup...) go to the guest kernel as they are.
 */
const DATA_KEYS: Record<string, Set<string>> = {
  tmpfs: new Set(['size', 'nr_blocks', 'nr_inodes', 'mode', 'uid', 'gid', 'huge', 'mpol', 'inode32', 'inode64']),
  proc: new Set(['hidepid', 'gid', 'subset']),
  devpts: new Set(['uid', 'gid', 'mode', 'ptmxmode', 'newinstance', 'max']),
  sysfs: new Set(),
  mqueue: new Set(),
};

/** Each option of mount `i` that its filesystem would refuse, as `/mounts/I/options/J: why`. */
export function mountOptionProblems(m: Mount, i: number, isBind: boolean): string[] {
  const keys = isBind ? undefined : DATA_KEYS[m.type ?? ''];
  if (!keys) return []; // a bind ignores data, as the kernel does under runc
  return (m.options ?? []).flatMap((o, j) => {
    if (KNOWN.has(o) || keys.has(o.split('=')[0]!)) return [];
    return [`/mounts/${i}/options/${j}: unknown option "${o}" for a ${m.type} mount`];
  });
}

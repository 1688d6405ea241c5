// What QEMU, which runs as an account of its own (src/vm/libvirt.ts), needs of the host, and
// what vmrun's cache must be so that only root can change what vmrun executes or boots.
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { untrustedAbove } from './trusted.js';

export const KVM_DEVICE = '/dev/kvm';
/** Debian's udev rule gives /dev/kvm to this group, mode 0660; libvirt's account is a member. */
export const KVM_GROUP = 'kvm';

interface Account {
  uid: number;
  gid: number;
  groups: number[];
}

/** The entries of an account database (/etc/passwd, /etc/group), each split into its fields. */
const entries = (file: string) => readFileSync(file, 'utf8').split('\n').map((l) => l.split(':'));

/** An account's uid, primary gid and supplementary groups, from /etc/passwd and /etc/group. */
export function account(name: string): Account | undefined {
  const user = entries('/etc/passwd').find((f) => f[0] === name);
  if (!user) return undefined;
  const groups = entries('/etc/group').filter((f) => f[3]?.split(',').includes(name)).map((f) => Number(f[2]));
  return { uid: Number(user[2]), gid: Number(user[3]), groups };
}

export function groupId(name: string): number | undefined {
  const group = entries('/etc/group').find((f) => f[0] === name);
  return group ? Number(group[2]) : undefined;
}

/** Whether `mode` of a file of uid:gid lets the account read and write it. */
export function canReadWrite(file: { uid: number; gid: number; mode: number }, who: Account): boolean {
  const rw = (shift: number) => ((file.mode >> shift) & 0o6) === 0o6;
  if (who.uid === file.uid) return rw(6);
  if (who.gid === file.gid || who.groups.includes(file.gid)) return rw(3);
  return rw(0);
}

/**
 * Why QEMU's account cannot open /dev/kvm, or undefined if it can or there is none. libvirt
 * also refuses every capabilities cache probed with KVM while the account cannot, so each
 * container would probe QEMU again (4 s).
 */
export function kvmProblem(user: string): string | undefined {
  let s;
  try {
    s = statSync(KVM_DEVICE);
  } catch {
    return undefined;
  }
  const who = account(user);
  if (!who) return `the account ${user} does not exist`;
  if (canReadWrite(s, who)) return undefined;
  return `QEMU's account ${user} cannot open ${KVM_DEVICE} (mode ${(s.mode & 0o777).toString(8)}, group ${s.gid}; Debian's udev makes it group ${KVM_GROUP}, 0660)`;
}

/** /dev/kvm as Debian's udev rule makes it (a host without udev keeps the kernel's root 0600). */
export async function shareKvmDevice(): Promise<void> {
  const gid = groupId(KVM_GROUP);
  if (gid === undefined) throw new Error(`there is no group ${KVM_GROUP}`);
  const s = statSync(KVM_DEVICE);
  if (s.gid !== gid) await chown(KVM_DEVICE, s.uid, gid);
  if ((s.mode & 0o060) !== 0o060) await chmod(KVM_DEVICE, (s.mode & 0o777) | 0o060);
}

/**
 * The cache made root's (0755), or why it cannot be: a folder above it that others may
 * write, or a cache of another owner, which only an administrator should change.
 */
export async function secureCacheDir(cacheDir: string, check: boolean): Promise<{ fixed?: string; cannot?: string }> {
  const cannot = (why: string) => ({ cannot: `vmrun's cache: ${why}: vmrun executes and boots what it holds, so only root may write it and the folders above it` });
  const above = untrustedAbove(cacheDir);
  if (above) return cannot(above);
  const s = lstatSync(cacheDir, { throwIfNoEntry: false });
  if (!s) {
    if (!check) await mkdir(cacheDir, { recursive: true, mode: 0o755 });
    return {};
  }
  if (!s.isDirectory()) return cannot(`${cacheDir} is not a folder`);
  if (s.uid !== 0) return cannot(`${cacheDir} is owned by uid ${s.uid}, not root`);
  // 0755: QEMU's account reads the kernel and initramfs in it.
  if ((s.mode & 0o7777) === 0o755) return {};
  if (!check) await chmod(cacheDir, 0o755);
  return { fixed: `the cache ${cacheDir} mode 0755, writable by root only, readable by QEMU's account (its mode is ${(s.mode & 0o7777).toString(8)})` };
}

/** Why `who` cannot read `path` (a folder above it it may not pass, or the file), or undefined. */
export function unreadableBy(path: string, who: Account): string | undefined {
  const may = (s: { uid: number; gid: number; mode: number }, bit: number) => {
    const shift = who.uid === s.uid ? 6 : who.gid === s.gid || who.groups.includes(s.gid) ? 3 : 0;
    return ((s.mode >> shift) & bit) === bit;
  };
  const file = statSync(path, { throwIfNoEntry: false });
  if (!file) return `${path} does not exist`;
  if (!may(file, 4)) return `${path} is not readable by it (mode ${(file.mode & 0o777).toString(8)})`;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const s = statSync(dir);
    if (!may(s, 1)) return `${dir} does not let it through (mode ${(s.mode & 0o777).toString(8)})`;
    if (dir === '/') return undefined;
  }
}

// Debian packages and accounts the host needs. The only code that runs apt-get.
import { execa } from 'execa';
import type { Progress } from './progress.js';

/** What a host needs to run containers. */
export const HOST_PACKAGES = [
  'qemu-system-x86', // QEMU, and virtiofsd in qemu-system-common
  'libvirt-daemon-driver-qemu',
  'libvirt-daemon',
  'libvirt-clients', // virsh
  'busybox-static', // the guest's userland
  'cpio', // the initramfs
  'kmod', // depmod and modinfo for the guest kernel's modules
  'zstd', // the initramfs compression
  'lz4', // with xz-utils, zstd and gzip: the kernel's payload, unpacked for a direct (PVH) boot
  'xz-utils',
  'gcc', // the guest's process starter, vmrun-exec, is a small static C program
  'libc6-dev',
  'libseccomp-dev', // libseccomp.a, linked into vmrun-exec for linux.seccomp
  'iproute2', // ip and tc: a container's network namespace joined to its VM
  'passt', // the user-mode network of containers without a network namespace
];

export async function missingPackages(names: readonly string[]): Promise<string[]> {
  const r = await execa('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...names], { reject: false });
  const installed = new Set(
    r.stdout.split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]),
  );
  return names.filter((n) => !installed.has(n));
}

export async function installPackages(names: readonly string[], progress: Progress): Promise<void> {
  if (names.length === 0) return;
  progress.step(`installing Debian packages: ${names.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update', '-q'], { env, stdout: progress.stream, stderr: progress.stream });
  await execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...names], {
    env,
    stdout: progress.stream,
    stderr: progress.stream,
  });
}

/** libvirt's QEMU driver refuses to open without this account, which libvirt-daemon-system would make. */
export const LIBVIRT_USER = 'libvirt-qemu';

export async function userExists(name: string): Promise<boolean> {
  return (await execa('getent', ['passwd', name], { reject: false })).exitCode === 0;
}

export async function addSystemUser(name: string, progress: Progress): Promise<void> {
  progress.step(`adding the system account ${name}`);
  await execa('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
}

/** Makes `user` a member of the system group `group`, which is made if missing. */
export async function addToGroup(user: string, group: string, progress: Progress): Promise<void> {
  if ((await execa('getent', ['group', group], { reject: false })).exitCode !== 0) {
    progress.step(`adding the system group ${group}`);
    await execa('groupadd', ['--system', group]);
  }
  progress.step(`adding ${user} to the group ${group}`);
  await execa('usermod', ['--append', '--groups', group, user]);
}

import type { Command } from 'commander';
import { CAPABILITIES } from '../../oci/linux-ids.js';
import { SECCOMP_ACTIONS, SECCOMP_ARCHS, SECCOMP_FLAGS, SECCOMP_KNOWN_FLAGS, SECCOMP_OPERATORS } from '../../oci/seccomp.js';
import { SPEC_VERSION, VMRUN_VERSION } from '../../version.js';
import { verb } from '../run-verb.js';

/** The mount options vmrun-exec applies in the guest (guest-agent/vmrun-exec.c). */
const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'dev', 'diratime', 'dirsync', 'exec', 'noatime', 'nodev', 'nodiratime',
  'noexec', 'norelatime', 'nostrictatime', 'nosuid', 'private', 'rbind', 'relatime', 'ro',
  'rprivate', 'rshared', 'rslave', 'rw', 'shared', 'slave', 'strictatime', 'suid', 'sync',
];

/**
 * What this runtime supports, in the runtime-spec's features document as `runc features`
 * prints it. Each container has a whole kernel to itself, so every namespace is "supported":
 * the guest is that namespace. seccomp is applied in the guest, without SCMP_ACT_NOTIFY (no
 * agent to notify); AppArmor and SELinux are not.
 */
export function features(): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: Object.keys(CAPABILITIES),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        archs: [...SECCOMP_ARCHS],
        knownFlags: [...SECCOMP_KNOWN_FLAGS],
        supportedFlags: [...SECCOMP_FLAGS],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      'dev.vmrun.version': VMRUN_VERSION,
      'dev.vmrun.isolation': 'vm',
    },
  };
}

export function register(program: Command): void {
  program
    .command('features')
    .description('print what this runtime supports, as JSON')
    .action(
      verb(async () => {
        process.stdout.write(JSON.stringify(features(), null, 4) + '\n');
      }),
    );
}

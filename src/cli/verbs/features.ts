import type { Command } from 'commander';
import { CAPABILITIES } from '../../oci/linux-ids.js';
import { SECCOMP_ACTIONS, SECCOMP_ARCHS, SECCOMP_FLAGS, SECCOMP_KNOWN_FLAGS, SECCOMP_OPERATORS } from '../../oci/seccomp.js';
import { KNOWN_MOUNT_OPTIONS } from '../../oci/mount-options.js';
import { SPEC_VERSION, VMRUN_VERSION } from '../../version.js';
import { verb } from '../run-verb.js';

/**
 * What this runtime supports, in the runtime-spec's features document as `runc features`
 * prints it. The namespaces are made in the guest, as runc makes them on a host. seccomp is applied in the guest, without SCMP_ACT_NOTIFY (no
 * agent to notify); AppArmor and SELinux are not.
 */
export function features(): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    // runc's options, which vmrun-exec applies in the guest (src/oci/mount-options.ts).
    mountOptions: KNOWN_MOUNT_OPTIONS,
    linux: {
      // Made in the guest (network: the VM's, carried in); no time namespace.
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
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

import type { Command } from 'commander';
import { CAPABILITIES } from '../../oci/linux-ids.js';
import { KNOWN_MOUNT_OPTIONS } from '../../oci/mount-options.js';
import { SPEC_VERSION, VMRUN_VERSION } from '../../version.js';
import { verb } from '../run-verb.js';

/**
 * What this runtime supports, in the runtime-spec's features document as `runc features`
 * prints it. Each container has a whole kernel to itself, so every namespace is "supported":
 * the guest is that namespace; seccomp, AppArmor and SELinux are not applied in the guest.
 */
export function features(): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    // runc's options, which vmrun-exec applies in the guest (src/oci/mount-options.ts).
    mountOptions: KNOWN_MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: Object.keys(CAPABILITIES),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
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

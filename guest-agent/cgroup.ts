// `vmrun update`: new limits for the container's cgroup in the guest. A container created
// without limits has no cgroup yet (guest-agent/process-flags.ts): it is made now, and every
// process of the container moved in.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerProcesses } from './processes.js';
import { FIRST, type ContainerScope } from './scope.js';

/**
 * The guest's cgroup hierarchy, mounted and writable: a container's read-only cgroup mount may
 * have made it read-only, and the guest's own mount of it is writable again, which leaves the
 * container's mount read-only.
 */
export function writableCgroups(): void {
  const mount = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '' : 'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup && ';
  execFileSync('/bin/busybox', ['sh', '-c', `${mount}mount -o remount,rw /sys/fs/cgroup`]);
}

export function updateCgroup(files: Record<string, string>, scope: ContainerScope = FIRST): void {
  const dir = scope.cgroup;
  const fresh = !existsSync(dir);
  if (fresh) {
    writableCgroups();
    mkdirSync(dir);
  }
  // A cgroup made only for a device filter has no controllers yet; cpuset only when asked for.
  const cpuset = Object.keys(files).some((f) => f.startsWith('cpuset.'));
  writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', cpuset ? '+cpu +memory +pids +cpuset' : '+cpu +memory +pids');
  for (const [file, value] of Object.entries(files)) {
    try {
      writeFileSync(join(dir, file), value);
    } catch (e) {
      throw new Error(`${file}=${value}: ${(e as Error).message}`);
    }
  }
  if (!fresh) return;
  for (const { guestPid } of containerProcesses(scope)) {
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(guestPid));
    } catch {
      // it ended meanwhile
    }
  }
}

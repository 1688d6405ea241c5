// A pod member leaving the guest: its processes killed (its cgroup says which), then its cgroup
// and the folder its root was mounted on removed. Its mounts were in its own mount namespace,
// which ended with its last process.
import { readFileSync, rmdirSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { signalAll } from './processes.js';
import type { ContainerScope } from './scope.js';

/** How long a member's killed processes may take to be gone. */
const GONE_WAIT_MS = 5_000;

export async function removeMember(scope: ContainerScope): Promise<void> {
  signalAll(constants.signals.SIGKILL, scope);
  for (const end = Date.now() + GONE_WAIT_MS; Date.now() < end && populated(scope.cgroup); ) await sleep(20);
  try {
    rmdirSync(scope.cgroup);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`remove ${scope.cgroup}: ${(e as Error).message}`);
  }
  try {
    rmdirSync(scope.root);
  } catch {
    // still a mount point of a namespace that has not ended yet: left to the guest's end
  }
}

/** Whether the cgroup still has processes (the holders included), or is gone already. */
function populated(cgroup: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(`${cgroup}/cgroup.events`, 'utf8'));
  } catch {
    return false;
  }
}

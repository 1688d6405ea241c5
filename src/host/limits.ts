import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { HostLimits } from '../vm/sizing.js';

/** What this host can give one guest at most. */
export function hostLimits(): HostLimits {
  return { cpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / (1024 * 1024)) };
}

/** The host CPUs this process may run on (its affinity), as a cpuset list such as 0-3,6. */
export function ownCpus(): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
}

import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { cpusetSize, parseDefaultMemory, type HostLimits } from '../vm/sizing.js';

/**
 * What this host can give one guest at most: the CPUs this process may run on (in the monitor,
 * the container's host cgroup's cpuset) and the host's memory; and VMRUN_DEFAULT_MEMORY, unless
 * given (the monitor gets create's).
 */
export function hostLimits(defaultGuestMemoryMiB?: number): HostLimits {
  const own = ownCpus();
  return {
    cpus: (own && cpusetSize(own)) || availableParallelism(),
    memoryMiB: Math.floor(totalmem() / (1024 * 1024)),
    defaultGuestMemoryMiB: defaultGuestMemoryMiB ?? parseDefaultMemory(process.env.VMRUN_DEFAULT_MEMORY),
  };
}

/** The host CPUs this process may run on (its affinity), as a cpuset list such as 0-3,6. */
export function ownCpus(): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
}

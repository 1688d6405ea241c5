import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { parseCpuset } from '../oci/resource-update.js';
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

/** The host's online CPUs and memory nodes (a kernel without NUMA has node 0 alone), which a cpuset may name. */
export function hostTopology(): { cpus: Set<number>; nodes: Set<number> } {
  const online = (file: string, fallback: string) => {
    let list = fallback;
    try {
      list = readFileSync(file, 'utf8').trim();
    } catch {
      // no such file: the fallback
    }
    return new Set(parseCpuset(list) ?? []);
  };
  return { cpus: online('/sys/devices/system/cpu/online', `0-${availableParallelism() - 1}`), nodes: online('/sys/devices/system/node/online', '0') };
}

import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { HostLimits } from '../vm/sizing.js';
import { parseCpuset } from '../oci/resource-update.js';

/** What this host can give one guest at most. */
export function hostLimits(): HostLimits {
  return { cpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / (1024 * 1024)) };
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

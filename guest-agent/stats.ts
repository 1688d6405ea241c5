// `vmrun events`: the container's resource use, seen from inside its guest.
import { readFileSync } from 'node:fs';
import { containerProcesses } from './processes.js';
import { FIRST, type ContainerScope } from './scope.js';

/** Clock ticks per second, which /proc/<pid>/stat counts in: 100 on x86 Linux. */
const TICKS = 100;

export interface GuestStats {
  cpuNs: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
  pidsLimit?: number;
}

export function guestStats(scope: ContainerScope = FIRST): GuestStats {
  const processes = containerProcesses(scope);
  let ticks = 0;
  for (const { guestPid } of processes) {
    try {
      const stat = readFileSync(`/proc/${guestPid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // it ended while we looked
    }
  }
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  const stats: GuestStats = {
    cpuNs: (ticks * 1e9) / TICKS,
    memoryBytes: kib('MemTotal') - kib('MemAvailable'),
    memoryLimitBytes: kib('MemTotal'),
    pids: processes.length,
  };
  // A pod member shares the guest: its own use is its cgroup's.
  if (scope.name !== '') {
    const read = (file: string) => readFileSync(`${scope.cgroup}/${file}`, 'utf8').trim();
    try {
      stats.memoryBytes = Number(read('memory.current'));
      const max = read('memory.max');
      if (max !== 'max') stats.memoryLimitBytes = Math.min(Number(max), stats.memoryLimitBytes);
    } catch {
      // no memory controller in its cgroup: the guest's figures stand
    }
  }
  try {
    const max = readFileSync(`${scope.cgroup}/pids.max`, 'utf8').trim();
    if (max !== 'max') stats.pidsLimit = Number(max);
  } catch {
    // no limit: the container has no cgroup
  }
  return stats;
}

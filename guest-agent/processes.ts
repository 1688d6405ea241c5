// The guest's processes that belong to the container: every one but the agent and the kernel's.
import { readdirSync, readFileSync } from 'node:fs';

export function containerPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pid !== 2 && ppid !== 2) pids.push(pid);
    } catch {
      // it ended while we looked
    }
  }
  return pids;
}

export function signalAll(signal: number): void {
  for (const pid of containerPids()) {
    try {
      process.kill(pid, signal);
    } catch {
      // it ended already
    }
  }
}

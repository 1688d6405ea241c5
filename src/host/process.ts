// Host processes as vmrun records them: a pid plus its start time, so that a pid the kernel
// has since given to another process is never mistaken for the one vmrun started.
import { readFileSync } from 'node:fs';
import type { HostProcess } from '../generated/container-record.js';

/** Start time of a live process in clock ticks since boot (/proc/PID/stat field 22), or undefined. */
export function startTimeOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  const start = Number(fields[19]);
  return Number.isInteger(start) ? start : undefined;
}

export function hostProcess(pid: number): HostProcess | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** Whether this very process still runs (not a zombie, not a newer process with its pid). */
export function isAlive(proc: HostProcess | undefined): boolean {
  return proc !== undefined && startTimeOf(proc.pid) === proc.startTime;
}

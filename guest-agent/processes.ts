// The guest's processes that belong to a container: those of its cgroup (a member's) or of none
// of the members' (the first container's), but the agent's, the holders and the kernel's.
import { readdirSync, readFileSync } from 'node:fs';
import { FIRST, inScope, type ContainerScope } from './scope.js';

export interface GuestProcess {
  /** As the container numbers it: in its own PID namespace, if it has one (NSpid's last). */
  pid: number;
  /** The parent's, numbered so too; 0 for a parent outside the container (a holder). */
  ppid: number;
  /** As the guest numbers it, for signals and cgroups. */
  guestPid: number;
  uid: number;
  /** The command line, or [name] for a process without one. */
  cmd: string;
}

/**
 * The vmrun-exec processes that hold a container process in namespaces of its own: guest
 * processes, not the container's (guest-agent/namespaces.c).
 */
export const holders = new Set<number>();

/** A command line's characters `ps` reports: a process may have 1 MiB of args, the answer holds many. */
const CMD_CHARS = 4096;

/** The process's cgroup v2 path, from its "0::PATH" line. */
function cgroupOf(pid: number): string {
  return /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '/';
}

export function containerProcesses(scope: ContainerScope = FIRST): GuestProcess[] {
  const found: GuestProcess[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    // 1 is the guest's init.sh, which waits for the agent.
    if (!Number.isInteger(pid) || pid === 1 || pid === process.pid || holders.has(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pid === 2 || ppid === 2 || !inScope(cgroupOf(pid), scope)) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const nspid = Number(/^NSpid:.*?(\d+)$/m.exec(status)?.[1] ?? pid);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const cmd = argv.length > 0 ? argv.join(' ').slice(0, CMD_CHARS) : `[${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}]`;
      found.push({ pid: nspid, ppid, guestPid: pid, uid, cmd });
    } catch {
      // it ended while we looked
    }
  }
  // Parents by the container's numbers too; one that is not the container's is 0, as a PID 1's.
  const inner = new Map(found.map((p) => [p.guestPid, p.pid]));
  return found.map((p) => ({ ...p, ppid: inner.get(p.ppid) ?? 0 }));
}

export function signalAll(signal: number, scope: ContainerScope = FIRST): void {
  for (const { guestPid } of containerProcesses(scope)) {
    try {
      process.kill(guestPid, signal);
    } catch {
      // it ended already
    }
  }
}

// What a test harness finds of its daemons on the host: processes by their command lines, and
// mounts under a folder.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Every process as "PID ARGS". */
export function psLines(): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter(Boolean);
}

/** SIGKILLs the process of a psLines() line. */
export function killPsLine(line: string): void {
  const pid = Number(/^(\d+) /.exec(line)?.[1]);
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The entries of `dir`, none if it is gone (or never was). */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The mount points below `dir` in this process's namespace. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${dir}/`));
}

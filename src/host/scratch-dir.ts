// Setup's scratch folders, named after the process that made them: a setup killed before its
// cleanups ran leaves one behind, and the next setup that makes one there removes it.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** A new folder `parent/prefix<pid>-XXXXXX`, once the folders of `prefix` whose maker has ended are gone. */
export async function scratchDir(parent: string, prefix: string): Promise<string> {
  for (const name of await readdir(parent).catch(() => [])) {
    if (name.startsWith(prefix) && !alive(Number(name.slice(prefix.length).split('-')[0]))) {
      await rm(join(parent, name), { recursive: true, force: true });
    }
  }
  return mkdtemp(join(parent, `${prefix}${process.pid}-`));
}

/** Whether a process of this pid runs (a folder without one, from an older vmrun, is left over). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

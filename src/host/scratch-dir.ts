// Setup's scratch folders, named after the process that made them: a setup killed before its
// cleanups ran leaves one behind, and the next setup that makes one there removes it.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startTimeOf } from './process.js';

/**
 * A new folder `parent/prefix<pid>-XXXXXX`, once the folders of `prefix` whose maker no longer
 * runs are gone (a folder without a pid, from an older vmrun, is left over too).
 */
export async function scratchDir(parent: string, prefix: string): Promise<string> {
  for (const name of await readdir(parent).catch(() => [])) {
    const maker = Number(name.slice(prefix.length).split('-')[0]);
    if (name.startsWith(prefix) && (!Number.isInteger(maker) || startTimeOf(maker) === undefined)) {
      await rm(join(parent, name), { recursive: true, force: true });
    }
  }
  return mkdtemp(join(parent, `${prefix}${process.pid}-`));
}

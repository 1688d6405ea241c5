// The guest assets as create uses them: what `vmrun setup` last made ready. Kept apart from
// the code that builds them, which every container start would otherwise load.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmrunError } from '../errors.js';

export interface GuestAssets {
  kernel: string;
  initrd: string;
  /** What they were built from, for `setup --check` and logs. */
  kernelPackage: string;
  key: string;
}

/** The file in the cache that names the assets `vmrun setup` made ready. */
export const CURRENT = 'guest.json';

/** The assets `vmrun setup` last made ready, as create uses them. */
export async function readyAssets(cacheDir: string): Promise<GuestAssets> {
  try {
    const assets = JSON.parse(await readFile(join(cacheDir, CURRENT), 'utf8')) as GuestAssets;
    await Promise.all([stat(assets.kernel), stat(assets.initrd)]);
    return assets;
  } catch {
    throw new VmrunError('InvalidState', `the guest kernel and initramfs are missing from ${cacheDir}: run \`vmrun setup\``);
  }
}

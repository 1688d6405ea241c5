// The guest assets as create uses them: what `vmrun setup` last made ready. Kept apart from
// the code that builds them, which every container start would otherwise load.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmrunError } from '../errors.js';
import { checkTrusted } from '../host/trusted.js';
import type { NodeDisk } from '../vm/domain-xml.js';

export interface GuestAssets {
  kernel: string;
  initrd: string;
  /** node's disk (src/guest/node-image.ts), which every VM maps read-only. */
  node: NodeDisk;
  /** What they were built from, for `setup --check` and logs. */
  kernelPackage: string;
  key: string;
}

/** The file in the cache that names the assets `vmrun setup` made ready. */
export const CURRENT = 'guest.json';

/** The assets `vmrun setup` last made ready, as create uses them. */
export async function readyAssets(cacheDir: string): Promise<GuestAssets> {
  let assets: GuestAssets;
  try {
    assets = JSON.parse(await readFile(join(cacheDir, CURRENT), 'utf8')) as GuestAssets;
    await Promise.all([stat(assets.kernel), stat(assets.initrd)]);
    if ((await stat(assets.node.path)).size !== assets.node.bytes) throw new Error('changed');
  } catch {
    throw new VmrunError('InvalidState', `the guest kernel and initramfs are missing from ${cacheDir}: run \`vmrun setup\``);
  }
  // What names the VM's kernel and init, and the files themselves, are root's alone.
  checkTrusted(join(cacheDir, CURRENT), 'the guest assets record');
  checkTrusted(assets.kernel, 'the guest kernel');
  checkTrusted(assets.initrd, 'the guest initramfs');
  checkTrusted(assets.node.path, "the guest's node disk");
  return assets;
}

// Where vmrun's own files are, whether it runs built (dist/src/…) or from source under vitest (src/…).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== '/'; dir = dirname(dir)) {
    if (existsSync(join(dir, 'tsconfig.json'))) return dir; // dist/ holds a package.json too
  }
  throw new Error('cannot find the vmrun package around ' + import.meta.url);
}

export const PACKAGE_ROOT = packageRoot();
/** The built JavaScript; the guest agent is taken from here. */
export const DIST_DIR = join(PACKAGE_ROOT, 'dist');
export const GUEST_AGENT_SOURCES = join(PACKAGE_ROOT, 'guest-agent');

/** Host-wide cache of guest assets and QEMU capabilities (`VMRUN_CACHE` overrides). */
export const DEFAULT_CACHE_DIR = '/var/lib/vmrun';
export const cacheDir = () => process.env.VMRUN_CACHE || DEFAULT_CACHE_DIR;

// What vmrun executes or hands to QEMU from its cache must be root's alone: a file another user
// could have written, or could replace through a folder they may write, is never trusted.
import { lstatSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { VmrunError } from '../errors.js';

/** Why `path` itself may not be trusted (owner, mode, kind), or undefined if it may. */
export function untrustedFile(path: string): string | undefined {
  let s: Stats;
  try {
    s = lstatSync(path);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
  }
  if (s.isSymbolicLink()) return 'is a symbolic link';
  if (s.uid !== 0) return `is owned by uid ${s.uid}, not root`;
  if (s.mode & 0o022) return `is writable by ${writers(s.mode)} (mode ${(s.mode & 0o7777).toString(8)})`;
  return undefined;
}

/**
 * Why `path` may not be trusted: itself, or any folder above it, up to /, that is not root's
 * or that others may write. A sticky folder others may write (/tmp) is allowed above it, as
 * OpenSSH allows it: nobody but root can rename or remove root's entries there.
 */
export function untrustedPath(path: string): string | undefined {
  const full = resolve(path);
  const own = untrustedFile(full);
  return own ? `${full} ${own}` : untrustedAbove(full);
}

/** Why the folders above `path` may not be trusted, or undefined. */
export function untrustedAbove(path: string): string | undefined {
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    const s = lstatSync(dir, { throwIfNoEntry: false }) ?? { uid: 0, mode: 0o755 }; // root will make it
    if (s.uid !== 0) return `${dir} is owned by uid ${s.uid}, not root`;
    if (s.mode & 0o022 && !(s.mode & 0o1000)) return `${dir} is writable by ${writers(s.mode)} (mode ${(s.mode & 0o7777).toString(8)})`;
    if (dir === '/') return undefined;
  }
}

function writers(mode: number): string {
  return [mode & 0o020 ? 'its group' : '', mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
}

/** Throws unless `path` may be trusted; `what` names it in the error. */
export function checkTrusted(path: string, what: string): void {
  const why = untrustedPath(path);
  if (why) throw new VmrunError('InvalidState', `refusing ${what}: ${why}; run \`vmrun setup\` to make it again`);
}

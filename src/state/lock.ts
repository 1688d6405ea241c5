// A per-container lock file that serialises the verbs acting on one container. Node has no
// flock(2), so the lock is a file that names its holder (pid, start time and a nonce), made whole
// at once with link(2), which fails if the name exists. A lock whose holder has died is taken
// over, so a crashed verb never wedges a container; only the waiter that wins that lock's own
// break file (named by its nonce, made the same way) may remove it, so two waiters that find it
// stale at once never both remove a lock, nor one the other has just taken.
import { randomBytes } from 'node:crypto';
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf, VmrunError } from '../errors.js';
import type { HostProcess } from '../generated/container-record.js';
import { hostProcess, isAlive } from '../host/process.js';

export interface LockOptions {
  /** How long to wait for a live holder before giving up. */
  timeoutMs?: number;
}

type Holder = HostProcess & { nonce: string };

/** Takes the lock at path, waiting for a live holder; resolves to the function that releases it. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const me: Holder = { ...hostProcess(process.pid)!, nonce: randomBytes(8).toString('hex') };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (let wait = 5; !(await tryTake(path, me)); wait = Math.min(wait * 2, 200)) {
    if (Date.now() > deadline) {
      throw new VmrunError('ContainerLocked', `${path} is held by another vmrun process`);
    }
    await sleep(wait);
  }
  return async () => {
    // Ours still: a lock is only taken over once its holder is dead.
    const holder = await holderOf(path).catch(() => undefined);
    if (typeof holder === 'object' && holder.nonce === me.nonce) await unlink(path).catch(() => undefined);
  };
}

/** Takes the lock if it is free, removing it first when its holder is dead; false if it is held. */
async function tryTake(path: string, me: Holder): Promise<boolean> {
  for (let tries = 0; tries < 3; tries++) {
    if (await makeWhole(path, me)) return true;
    const holder = await holderOf(path);
    if (holder === undefined) continue; // released meanwhile
    if (holder === 'nameless' || isAlive(holder)) return false;
    // Whoever makes the break file of this very lock removes it; the others wait.
    const breaker = `${path}.break-${holder.nonce}`;
    if (!(await tryTake(breaker, me))) return false;
    try {
      // Still that lock: no one else may remove it while the break file is ours.
      const now = await holderOf(path);
      if (typeof now === 'object' && now.nonce === holder.nonce) await unlink(path);
    } finally {
      await unlink(breaker).catch(() => undefined);
    }
  }
  return false;
}

/** Makes the file with its content in one step: written aside, then linked to its name. */
async function makeWhole(path: string, me: Holder): Promise<boolean> {
  const aside = `${path}.${me.nonce}.new`;
  await writeFile(aside, JSON.stringify(me), { mode: 0o600 });
  try {
    await link(aside, path);
    return true;
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') throw e;
    return false;
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/**
 * The lock's holder; undefined when there is no lock; 'nameless' for a lock that names no one
 * and is younger than a second (an older vmrun's, written after it was made).
 */
async function holderOf(path: string): Promise<Holder | 'nameless' | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    if (typeof h.pid === 'number') return { ...h, nonce: String(h.nonce ?? `${h.pid}-${h.startTime}`) };
  } catch {
    // not a holder's name: judged by its age below
  }
  const s = await stat(path).catch(() => undefined);
  if (!s) return undefined;
  return Date.now() - s.mtimeMs > 1000 ? { pid: 0, startTime: 0, nonce: `nameless-${s.ino}-${s.mtimeMs}` } : 'nameless';
}

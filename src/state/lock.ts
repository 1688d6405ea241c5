// A per-container lock file that serialises the verbs acting on one container. Node has no
// flock(2), so the lock is a file made with O_EXCL that names its holder (pid and start time);
// a lock whose holder has died is taken over, so a crashed verb never wedges a container.
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf, VmrunError } from '../errors.js';
import { hostProcess, isAlive } from '../host/process.js';

export interface LockOptions {
  /** How long to wait for a live holder before giving up. */
  timeoutMs?: number;
}

/** Takes the lock at path, waiting for a live holder; resolves to the function that releases it. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  await acquire(path, opts.timeoutMs ?? 30_000);
  return () => unlink(path).catch(() => undefined);
}

async function acquire(path: string, timeoutMs: number): Promise<void> {
  const me = hostProcess(process.pid);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    try {
      const file = await open(path, 'wx', 0o600);
      await file.writeFile(JSON.stringify(me));
      await file.close();
      return;
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
    }
    if (await holderIsGone(path)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new VmrunError('ContainerLocked', `${path} is held by another vmrun process`);
    }
    await sleep(wait);
  }
}

async function holderIsGone(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return errnoOf(e) === 'ENOENT';
  }
  try {
    return !isAlive(JSON.parse(text));
  } catch {
    // A holder writes its name right after making the file: a nameless lock is either that
    // moment or a holder that died in it.
    const made = await stat(path).then((s) => s.mtimeMs, () => 0);
    return Date.now() - made > 1000;
  }
}

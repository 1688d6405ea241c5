import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';

/**
 * Writes a file whole or not at all: into a temporary name beside it, then renamed, so that a
 * reader sees the old content or the new, never a mix (and concurrent writers never collide).
 */
export async function writeFileAtomically(path: string, data: string, mode = 0o644): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, data, { mode, flush: true });
  await rename(temp, path);
}

// The host's terminal helper (src/host/vmrun-pty.c), compiled once per source into the cache:
// gcc is one of the packages `vmrun setup` installs.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { VmrunError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';

const SOURCE = join(PACKAGE_ROOT, 'src', 'host', 'vmrun-pty.c');

export async function ptyHelper(cacheDir: string): Promise<string> {
  const source = await readFile(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const dir = join(cacheDir, 'host');
  const binary = join(dir, `vmrun-pty-${hash}`);
  if (await stat(binary).then(() => true, () => false)) return binary;
  await mkdir(dir, { recursive: true });
  const partial = `${binary}.${process.pid}`;
  try {
    await execa('gcc', ['-O2', '-Wall', '-o', partial, SOURCE]);
    await rename(partial, binary);
  } catch (e) {
    await rm(partial, { force: true });
    throw new VmrunError('InvalidState', `cannot build ${SOURCE} (is gcc installed? \`vmrun setup\` installs it): ${(e as Error).message}`);
  }
  return binary;
}

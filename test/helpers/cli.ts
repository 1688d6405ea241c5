// Runs the built CLI as a user would, and makes scratch folders that tests remove.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach } from 'vitest';

export const VMRUN = fileURLToPath(new URL('../../bin/vmrun', import.meta.url));

export async function vmrun(args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = await execa(VMRUN, args, { reject: false, cwd: opts.cwd, input: opts.input ?? '' });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const scratch: string[] = [];

/** A new empty folder, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vmrun-test-'));
  scratch.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(scratch.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

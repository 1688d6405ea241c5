import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { buildNodeImage } from '../src/guest/node-image.js';

async function imageOf(dir: string, name: string, seed: string): Promise<{ file: string; bytes: number }> {
  const tree = join(dir, `${name}-tree`);
  await mkdir(tree);
  await writeFile(join(tree, 'node'), Buffer.alloc(3 * 1024 * 1024 + 5, 'n'));
  const file = join(dir, `${name}.img`);
  return { file, bytes: await buildNodeImage(tree, file, seed) };
}

describe("node's disk", () => {
  test('holds node, in whole 2 MiB pages, the same bytes from the same seed at another time, readable by all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmrun-node-image-'));
    const old = process.umask(0o002);
    try {
      const first = await imageOf(dir, 'first', 'key-1');
      await sleep(1100); // mkfs would otherwise stamp another second
      const again = await imageOf(dir, 'again', 'key-1');
      const other = await imageOf(dir, 'other', 'key-2');
      expect(first.bytes % (2 * 1024 * 1024)).toBe(0);
      expect((await stat(first.file)).size).toBe(first.bytes);
      expect((await stat(first.file)).mode & 0o777).toBe(0o644);
      expect((await readFile(again.file)).equals(await readFile(first.file))).toBe(true);
      expect((await readFile(other.file)).equals(await readFile(first.file))).toBe(false);
      const { stdout } = await execa('debugfs', ['-R', 'cat /node', first.file], { encoding: 'buffer' });
      expect(Buffer.from(stdout).equals(Buffer.alloc(3 * 1024 * 1024 + 5, 'n'))).toBe(true);
    } finally {
      process.umask(old);
    }
  });
});

import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { scratchDir } from '../src/host/scratch-dir.js';

test("a scratch folder is named after its maker, and the next one removes those whose maker ended", async () => {
  const parent = await mkdtemp(join(tmpdir(), 'vmrun-scratch-'));
  try {
    const ended = spawnSync('true').pid!;
    // A killed maker's folder, one from before the names held a pid, a running maker's, another kind.
    for (const name of [`.work-${ended}-a1b2c3`, '.work-x9y8z7', `.work-${process.ppid}-d4e5f6`, 'image-1-keep']) {
      await mkdir(join(parent, name, 'sub'), { recursive: true });
    }
    const made = await scratchDir(parent, '.work-');
    expect(made.startsWith(join(parent, `.work-${process.pid}-`))).toBe(true);
    expect((await readdir(parent)).sort()).toEqual([`.work-${process.ppid}-d4e5f6`, made.slice(parent.length + 1), 'image-1-keep'].sort());
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

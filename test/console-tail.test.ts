import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { consoleTail } from '../src/vm/console-tail.js';

describe('consoleTail', () => {
  test('gives the last non-empty lines, without control bytes, each cut short', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmrun-console-'));
    const file = join(dir, 'console.log');
    await writeFile(file, `boot\r\n\x1b[31mone\x1b[0m\n\n${'x'.repeat(500)}\nKernel panic - not syncing: Attempted to kill init!\n\n`);
    expect(await consoleTail(file, 3)).toEqual(['[31mone[0m', 'x'.repeat(160), 'Kernel panic - not syncing: Attempted to kill init!']);
  });

  test('reads only the end of a large console, and nothing of a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmrun-console-'));
    const file = join(dir, 'console.log');
    await writeFile(file, `${'first line\n'.repeat(100_000)}partial${'y'.repeat(9000)}\nlast\n`);
    expect(await consoleTail(file)).toEqual(['last']);
    expect(await consoleTail(join(dir, 'none'))).toEqual([]);
  });
});

import { lstat, mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { checkInstalled, install, THIS_COMMAND } from '../src/host/install.js';

describe('vmrun on the PATH', () => {
  let dir = '';
  let at = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmrun-install-'));
    at = join(dir, 'vmrun');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('is missing until installed, then found', async () => {
    expect(await checkInstalled(at, THIS_COMMAND)).toEqual({ missing: `${at}, a link to ${THIS_COMMAND}` });
    await install(at, THIS_COMMAND);
    expect(await readlink(at)).toBe(THIS_COMMAND);
    expect(await checkInstalled(at, THIS_COMMAND)).toEqual({});
  });

  test("leaves a link to another checkout's vmrun, and replaces one whose target is gone", async () => {
    const other = join(dir, 'other');
    await mkdir(join(other, 'bin'), { recursive: true });
    await mkdir(join(other, 'dist', 'src', 'cli'), { recursive: true });
    await writeFile(join(other, 'bin', 'vmrun'), '#!/bin/sh\n');
    await writeFile(join(other, 'dist', 'src', 'cli', 'main.js'), '');
    await symlink(join(other, 'bin', 'vmrun'), at);
    expect(await checkInstalled(at, THIS_COMMAND)).toEqual({});
    await rm(other, { recursive: true });
    expect((await checkInstalled(at, THIS_COMMAND)).missing).toBe(`${at} links to ${join(other, 'bin', 'vmrun')}, which is gone; setup links it to ${THIS_COMMAND}`);
    await install(at, THIS_COMMAND);
    expect(await readlink(at)).toBe(THIS_COMMAND);
  });

  test('leaves a file that is not a link alone, saying why', async () => {
    await writeFile(at, '#!/bin/sh\n');
    expect((await checkInstalled(at, THIS_COMMAND)).cannot).toMatch(/exists and is not a link/);
    expect((await lstat(at)).isSymbolicLink()).toBe(false);
  });
});

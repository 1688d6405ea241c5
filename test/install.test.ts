import { lstat, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
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

  test('replaces a link to another checkout', async () => {
    await symlink('/elsewhere/bin/vmrun', at);
    expect((await checkInstalled(at, THIS_COMMAND)).missing).toBe(`${at} links to /elsewhere/bin/vmrun; setup links it to ${THIS_COMMAND}`);
    await install(at, THIS_COMMAND);
    expect(await readlink(at)).toBe(THIS_COMMAND);
  });

  test('leaves a file that is not a link alone, saying why', async () => {
    await writeFile(at, '#!/bin/sh\n');
    expect((await checkInstalled(at, THIS_COMMAND)).cannot).toMatch(/exists and is not a link/);
    expect((await lstat(at)).isSymbolicLink()).toBe(false);
  });
});

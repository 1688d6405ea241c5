import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { StateStore } from '../src/state/store.js';
import { checkContainerId } from '../src/state/id.js';
import { tempDir } from './helpers/cli.js';
import { record } from './helpers/records.js';

const STORE_MODULE = new URL('../dist/src/state/store.js', import.meta.url).href;

async function store() {
  return new StateStore(join(await tempDir(), 'root'));
}

describe('state store', () => {
  test('keeps a record per container in a 0700 directory', async () => {
    const s = await store();
    await s.create(record('c1'));
    expect(await s.load('c1')).toEqual(record('c1', { created: (await s.load('c1')).created }));
    expect((await stat(s.root)).mode & 0o777).toBe(0o700);
    expect((await stat(s.dirOf('c1'))).mode & 0o777).toBe(0o700);
    expect(await s.ids()).toEqual(['c1']);
  });

  test('refuses a second create of one id', async () => {
    const s = await store();
    await s.create(record('c1'));
    await expect(s.create(record('c1'))).rejects.toMatchObject({ code: 'ContainerExists' });
  });

  test('lets exactly one of many concurrent processes create an id', async () => {
    const s = await store();
    const script = `
      const { StateStore } = await import(${JSON.stringify(STORE_MODULE)});
      await new StateStore(process.argv[1]).create(JSON.parse(process.argv[2]));`;
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        execa('node', ['--input-type=module', '-e', script, s.root, JSON.stringify(record('race'))], { reject: false }),
      ),
    );
    expect(runs.filter((r) => r.exitCode === 0)).toHaveLength(1);
    for (const r of runs.filter((r) => r.exitCode !== 0)) expect(r.stderr).toMatch(/container "race" already exists/);
  });

  test('replaces state.json atomically and leaves no temporary file', async () => {
    const s = await store();
    await s.create(record('c1'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.save(record('c1', { exitStatus: i }))));
    expect(await readdir(s.dirOf('c1'))).toEqual(['state.json']);
    expect((await s.load('c1')).exitStatus).toBeTypeOf('number');
  });

  test('says a missing container does not exist, and a damaged record is damaged', async () => {
    const s = await store();
    await expect(s.load('nosuch')).rejects.toMatchObject({ code: 'ContainerNotFound', message: 'container "nosuch" does not exist' });
    await mkdir(s.dirOf('bad'), { recursive: true });
    await writeFile(join(s.dirOf('bad'), 'state.json'), '{"id": "bad"}');
    await expect(s.load('bad')).rejects.toMatchObject({ code: 'StateCorrupt' });
    expect(await new StateStore('/nonexistent/root').ids()).toEqual([]);
  });

  test('removes a container and everything in its directory', async () => {
    const s = await store();
    await s.create(record('c1'));
    await s.remove('c1');
    expect(await s.ids()).toEqual([]);
    await expect(stat(s.dirOf('c1'))).rejects.toThrow(/ENOENT/);
  });
});

describe('container lock', () => {
  test('serialises operations on one container', async () => {
    const s = await store();
    await s.create(record('c1'));
    const events: string[] = [];
    const op = (name: string) =>
      s.locked('c1', async () => {
        events.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 30));
        events.push(`${name} out`);
      });
    await Promise.all([op('a'), op('b')]);
    // Either may take the lock first; the other must wait until it is out.
    const [first, second] = events[0] === 'a in' ? ['a', 'b'] : ['b', 'a'];
    expect(events).toEqual([`${first} in`, `${first} out`, `${second} in`, `${second} out`]);
  });

  test('takes over a lock whose holder has died, or that never named one', async () => {
    const s = await store();
    await s.create(record('c1'));
    const dead = await execa('node', ['-e', 'console.log(JSON.stringify({pid: process.pid, startTime: 1}))']);
    await writeFile(join(s.dirOf('c1'), 'lock'), dead.stdout);
    expect(await s.locked('c1', async () => 'ran')).toBe('ran');
    await writeFile(join(s.dirOf('c1'), 'lock'), '');
    const old = new Date(Date.now() - 10_000);
    const { utimes } = await import('node:fs/promises');
    await utimes(join(s.dirOf('c1'), 'lock'), old, old);
    expect(await s.locked('c1', async () => 'ran again')).toBe('ran again');
  });

  test('lets only one of many processes take over a stale lock at once', async () => {
    const s = await store();
    await s.create(record('c1'));
    const lock = join(s.dirOf('c1'), 'lock');
    const log = join(s.root, 'log');
    await writeFile(log, '');
    // Each holds the lock for a moment and logs in and out; with two holders at once the lines interleave.
    const worker = `
      const { StateStore } = await import(${JSON.stringify(STORE_MODULE)});
      const { appendFileSync } = await import('node:fs');
      const s = new StateStore(${JSON.stringify(s.root)});
      await s.locked('c1', async () => {
        appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 20));
        appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
      });`;
    const dead = await execa('node', ['-e', 'console.log(JSON.stringify({pid: process.pid, startTime: 1}))']);
    for (let round = 0; round < 8; round++) {
      await writeFile(lock, dead.stdout);
      // They start together and all find the dead holder's lock.
      await Promise.all(Array.from({ length: 6 }, () => execa('node', ['--input-type=module', '-e', worker])));
    }
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(96);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^in \d+$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace('in', 'out'));
    }
    await expect(stat(lock)).rejects.toThrow(/ENOENT/);
    // Nothing of the takeovers is left beside it.
    expect((await readdir(s.dirOf('c1'))).sort()).toEqual(['state.json']);
  }, 120_000);

  test('of a missing container says it does not exist', async () => {
    await expect((await store()).locked('nosuch', async () => 1)).rejects.toMatchObject({ code: 'ContainerNotFound' });
  });
});

describe('container ids', () => {
  test.each(['', '.', '..', '../x', 'a/b', 'a b', 'ä', 'x'.repeat(1025)])('refuses %j', (id) => {
    expect(() => checkContainerId(id)).toThrow(/invalid container id/);
  });
  test.each(['c1', 'a+b-c.d_e', 'x'.repeat(1024), '...'])('accepts %j', (id) => {
    expect(checkContainerId(id)).toBe(id);
  });
});

describe('status', () => {
  test('follows the monitor: alive keeps the phase, dead means stopped', async () => {
    const { statusOf } = await import('../src/runtime/state.js');
    const dead = { pid: process.pid, startTime: 1 };
    expect(statusOf(record('a', { phase: 'creating', monitor: undefined }))).toBe('creating');
    expect(statusOf(record('a', { phase: 'creating' }))).toBe('creating');
    expect(statusOf(record('a', { phase: 'creating', monitor: dead }))).toBe('stopped');
    expect(statusOf(record('a', { phase: 'running' }))).toBe('running');
    expect(statusOf(record('a', { phase: 'running', monitor: dead }))).toBe('stopped');
    expect(statusOf(record('a', { phase: 'created', monitor: undefined }))).toBe('stopped');
    expect(statusOf(record('a', { phase: 'stopped' }))).toBe('stopped');
  });
});

import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkSpec, checkState } from '../src/schemas.js';
import { StateStore } from '../src/state/store.js';
import { tempDir, vmrun } from './helpers/cli.js';
import { record } from './helpers/records.js';
import { editConfig, makeBundle } from './helpers/bundle.js';
import { vmLayout } from '../src/vm/layout.js';
import { MIN_MEMORY_LIMIT_BYTES } from '../src/vm/sizing.js';

describe('vmrun --version', () => {
  test('prints the version and the runtime-spec version, as runc does', async () => {
    const r = await vmrun(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^vmrun version \d+\.\d+\.\d+\nspec: 1\.\d+\.\d+$/);
  });
});

describe('vmrun features', () => {
  test('names the runtime-spec versions and runc\'s mount options, the extensions among them', async () => {
    const r = await vmrun(['features']);
    expect(r.exitCode).toBe(0);
    const f = JSON.parse(r.stdout);
    expect(f).toMatchObject({ ociVersionMin: '1.0.0', ociVersionMax: '1.3.0' });
    for (const o of ['rbind', 'rshared', 'runbindable', 'unbindable', 'rro', 'rnoexec', 'tmpcopyup', 'nosymfollow']) {
      expect(f.mountOptions).toContain(o);
    }
    expect(f.mountOptions).toEqual([...f.mountOptions].sort());
  });
});

describe('vmrun spec', () => {
  test('writes a config.json that validates, and refuses to overwrite it', async () => {
    const dir = await tempDir();
    expect(await vmrun(['spec'], { cwd: dir })).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const path = join(dir, 'config.json');
    const written = await readFile(path, 'utf8');
    const spec = JSON.parse(written);
    expect(checkSpec(spec)).toMatchObject({ ok: true });
    expect(spec.root.path).toBe('rootfs');
    const before = await stat(path);

    const again = await vmrun(['spec'], { cwd: dir });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/config\.json exists\. Remove it first/);
    expect(await readFile(path, 'utf8')).toBe(written);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
  });

  test('writes into --bundle, and says when that folder is missing', async () => {
    const dir = await tempDir();
    expect((await vmrun(['spec', '--bundle', dir])).exitCode).toBe(0);
    await stat(join(dir, 'config.json'));
    const r = await vmrun(['spec', '--bundle', join(dir, 'nope')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bundle .*nope does not exist/);
  });
});

describe('vmrun create', () => {
  test('with --pid-file in a folder that does not exist fails at once, naming it, and leaves nothing', async () => {
    const bundle = await makeBundle((spec) => void (spec.process.terminal = false));
    const root = join(await tempDir(), 'root');
    const r = await vmrun(['--root', root, 'create', '--bundle', bundle, '--pid-file', join(bundle, 'nope', 'pid'), 'p1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--pid-file .*nope\/pid: .*nope does not exist/);
    expect((await vmrun(['--root', root, 'state', 'p1'])).stderr).toMatch(/does not exist/);
  });
});

describe('vmrun create refuses, before any VM, naming the field, and leaves nothing', () => {
  const refused: [string, (bundle: string) => Promise<void>, RegExp][] = [
    ['a hostname that is not UTF-8', (b) => withRawField(b, 'hostname', Buffer.from([0x61, 0xff, 0x62])),
      /config\.json is invalid: \/hostname: not UTF-8 text \(byte 0xff at byte offset \d+\)/],
    ['an env entry that is not UTF-8', (b) => withRawField(b, 'env', Buffer.from('A=\xe2\x82', 'latin1')),
      /\/process\/env\/0: not UTF-8 text \(byte 0xe2/],
    ['a memory limit of 1 byte', (b) => editConfig(b, (s) => void (s.linux!.resources = { memory: { limit: 1 } })),
      new RegExp(`/linux/resources/memory/limit: 1 byte is too little for any process to start; vmrun accepts at least ${MIN_MEMORY_LIMIT_BYTES} \\(4 MiB\\)`)],
    ['a memory limit of 4 KiB', (b) => editConfig(b, (s) => void (s.linux!.resources = { memory: { limit: 4096 } })),
      /\/linux\/resources\/memory\/limit: 4096 bytes is too little .* at least 4194304/],
    ['an arg longer than execve takes', (b) => editConfig(b, (s) => void (s.process.args = ['echo', 'x'.repeat(200 * 1024)])),
      /\/process\/args\/1: 204801 bytes, more than the 131072 one string of execve may have/],
    ['args and env of more than execve takes', (b) => editConfig(b, (s) => void (s.process.env = Array.from({ length: 40 }, (_, i) => `V${i}=${'y'.repeat(100 * 1024)}`))),
      /\/process: args and env of \d+ bytes, more than the 2031616 execve takes in the guest/],
  ];
  test.each(refused)('%s', async (_name, change, says) => {
    const bundle = await makeBundle((spec) => void (spec.process.terminal = false));
    await change(bundle);
    const root = join(await tempDir(), 'root');
    const r = await vmrun(['--root', root, 'create', '--bundle', bundle, 'bad1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(says);
    await expect(stat(join(root, 'bad1'))).rejects.toThrow(/ENOENT/);
    await expect(stat(vmLayout(root, 'bad1').dir)).rejects.toThrow(/ENOENT/);
  });

  test('the smallest memory limit it accepts, and 64 MiB, pass validate', async () => {
    for (const limit of [MIN_MEMORY_LIMIT_BYTES, 64 * 1024 * 1024]) {
      const bundle = await makeBundle((spec) => void (spec.linux!.resources = { memory: { limit } }));
      expect(await vmrun(['validate', '--bundle', bundle])).toMatchObject({ exitCode: 0, stderr: '' });
    }
  });
});

describe('vmrun update refuses a memory limit too small for any process', () => {
  test.each([
    [['--memory', '4096'], /^--memory: 4096 bytes is too little for any process to start; vmrun accepts at least 4194304 \(4 MiB\)$/],
    [['--resources', '-'], /^--resources is invalid: \/memory\/limit: 1 byte is too little/],
  ])('%j', async (flags, says) => {
    // Refused before the container is even looked up.
    const r = await vmrun(['--root', await tempDir(), 'update', ...flags, 'nosuch'], { input: '{"memory":{"limit":1}}' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(says);
  });
});

/** Puts these bytes in config.json as the hostname, or as the process's first env entry. */
async function withRawField(bundle: string, field: 'hostname' | 'env', bytes: Buffer): Promise<void> {
  const mark = 'RAW-BYTES-HERE';
  await editConfig(bundle, (s) => void (field === 'hostname' ? (s.hostname = mark) : (s.process.env = [mark])));
  const file = join(bundle, 'config.json');
  const text = await readFile(file);
  const at = text.indexOf(mark);
  await writeFile(file, Buffer.concat([text.subarray(0, at), bytes, text.subarray(at + mark.length)]));
}

describe('vmrun state', () => {
  test('of an unknown container fails, saying it does not exist', async () => {
    const root = join(await tempDir(), 'root');
    const r = await vmrun(['--root', root, 'state', 'nosuch']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('container "nosuch" does not exist');
  });

  test('refuses an id runc would refuse', async () => {
    const r = await vmrun(['--root', await tempDir(), 'state', '../etc']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/invalid container id "\.\.\/etc"/);
  });

  test('prints runc\'s state JSON for a live container', async () => {
    const root = await tempDir();
    const rec = record('c1', { annotations: { 'org.example/key': 'value' } });
    await new StateStore(root).create(rec);
    const r = await vmrun(['--root', root, 'state', 'c1']);
    expect(r.exitCode).toBe(0);
    const state = JSON.parse(r.stdout);
    expect(checkState(state)).toMatchObject({ ok: true });
    expect(state).toEqual({
      ociVersion: '1.2.0',
      id: 'c1',
      pid: process.pid,
      status: 'created',
      bundle: rec.bundle,
      rootfs: rec.rootfs,
      created: rec.created,
      owner: '',
      annotations: { 'org.example/key': 'value' },
    });
    expect(r.stdout).toBe(JSON.stringify(state, null, 2)); // indented as runc prints it
  });

  test('prints a 50 MB annotation whole, from the record that holds it', async () => {
    const root = await tempDir();
    const big = 'x'.repeat(50 * 1024 * 1024);
    await new StateStore(root).create(record('c1', { annotations: { big, small: 'v' } }));
    const r = await vmrun(['--root', root, 'state', 'c1']);
    expect(r.exitCode).toBe(0);
    const state = JSON.parse(r.stdout);
    expect(state.annotations.small).toBe('v');
    expect(state.annotations.big.length).toBe(big.length);
    expect(state.annotations.big === big).toBe(true); // not toEqual: a 50 MB diff would swamp the report
  });

  test('says stopped, with pid 0, once the monitor is gone', async () => {
    const root = await tempDir();
    await new StateStore(root).create(record('c1', { monitor: { pid: process.pid, startTime: 1 } }));
    const state = JSON.parse((await vmrun(['--root', root, 'state', 'c1'])).stdout);
    expect(state).toMatchObject({ status: 'stopped', pid: 0 });
  });
});

describe('vmrun list', () => {
  test('prints runc\'s table and JSON', async () => {
    const root = await tempDir();
    const store = new StateStore(root);
    await store.create(record('alpha'));
    await store.create(record('beta', { monitor: undefined, phase: 'stopped' }));

    const table = await vmrun(['--root', root, 'list']);
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    expect(lines[1]).toMatch(new RegExp(`^alpha\\s+${process.pid}\\s+created\\s+/srv/bundles/x\\s+\\S+\\s+root$`));
    expect(lines[2]).toMatch(/^beta\s+0\s+stopped\s/);

    const json = JSON.parse((await vmrun(['--root', root, 'list', '--format', 'json'])).stdout);
    expect(json.map((s: { id: string; owner: string }) => [s.id, s.owner])).toEqual([['alpha', 'root'], ['beta', 'root']]);
    for (const s of json) expect(checkState(s)).toMatchObject({ ok: true });

    expect((await vmrun(['--root', root, 'list', '-q'])).stdout).toBe('alpha\nbeta');
  });

  test('of an empty or missing root prints the header only, or []', async () => {
    const root = join(await tempDir(), 'none');
    expect((await vmrun(['--root', root, 'list'])).stdout).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    expect((await vmrun(['--root', root, 'list', '--format', 'json'])).stdout).toBe('[]');
  });

  test('rejects an unknown format, naming the option', async () => {
    const r = await vmrun(['list', '--format', 'yaml']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/--format.*yaml/);
  });
});

describe('logging', () => {
  test('--log-format json writes the error as a JSON line to --log', async () => {
    const dir = await tempDir();
    const log = join(dir, 'log.json');
    const r = await vmrun(['--root', dir, '--log', log, '--log-format', 'json', 'state', 'nosuch']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('container "nosuch" does not exist');
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ level: 'error', msg: 'container "nosuch" does not exist', time: expect.any(String) }]);
    expect(Number.isNaN(Date.parse(lines[0].time))).toBe(false);
  });

  test('--log-format text writes logrus-style lines, and --debug adds the details', async () => {
    const dir = await tempDir();
    const log = join(dir, 'log.txt');
    await vmrun(['--root', dir, '--log', log, '--debug', 'state', 'nosuch']);
    const text = await readFile(log, 'utf8');
    expect(text).toMatch(/^time=\S+ level=debug msg="failure details" code=ContainerNotFound/m);
    expect(text).toMatch(/^time=\S+ level=error msg="container \\"nosuch\\" does not exist"$/m);
  });

  test('an unknown verb or flag fails, naming it', async () => {
    const verb = await vmrun(['frobnicate']);
    expect(verb.exitCode).not.toBe(0);
    expect(verb.stderr).toMatch(/frobnicate/);
    const flag = await vmrun(['--frob', 'list']);
    expect(flag.exitCode).not.toBe(0);
    expect(flag.stderr).toMatch(/--frob/);
  });
});

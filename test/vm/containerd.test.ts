// vmrun as containerd's runc: what a user of `ctr run --runc-binary vmrun` sees, through
// Debian's containerd and its containerd-shim-runc-v2.
import { readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cachedKernel, currentKernelPackage } from '../../src/guest/kernel.js';
import { cacheDir } from '../../src/paths.js';
import type { CtrResult } from '../containerd/ctr.js';
import { containerdHarness } from '../containerd/harness.js';
import { until } from './harness.js';

const ctd = containerdHarness();

/** Asserts that a ctr call succeeded, showing its stderr if not. */
function succeeded(r: CtrResult): void {
  expect(r.exitCode, r.stderr).toBe(0);
}

async function statusBecomes(id: string, status: string): Promise<string | undefined> {
  let last: string | undefined;
  await until(async () => (last = await ctd.status(id)) === status, 30_000).catch(() => undefined);
  return last;
}

/** The file a detached container's stdout and stderr go to, through ctr's --log-uri. */
function logTo(name: string) {
  const file = join(ctd.dir, name);
  return { file, flags: ['--log-uri', `file://${file}`] };
}

/** What is left of container id once its shim has had time to end (it does just after ctr). */
async function leftoversOf(...ids: string[]): Promise<string[]> {
  const left = () => ids.flatMap((id) => ctd.leftovers(id));
  await until(() => left().length === 0, 10_000).catch(() => undefined);
  return left();
}

/** The first line of file that matches, once the container has written it. */
async function waitForLine(file: string, line: string | RegExp): Promise<string> {
  const matches = (l: string) => (typeof line === 'string' ? l === line : line.test(l));
  let found: string | undefined;
  await until(async () => (found = (await readFile(file, 'utf8').catch(() => '')).split('\n').find(matches)) !== undefined, 60_000);
  return found!;
}

describe('ctr run --rm', () => {
  test("exits with the status of the container's process", async () => {
    const r = await ctd.run('t1', ['sh', '-c', 'exit 5']);
    expect(r, r.stderr).toMatchObject({ exitCode: 5, stdout: '' });
  });

  test("runs the process under the guest kernel vmrun boots, not the host's", async () => {
    const release = (await cachedKernel(cacheDir(), (await currentKernelPackage())!))?.release;
    const r = await ctd.run('t2', ['sh', '-c', 'uname -r; cat /proc/cmdline']);
    succeeded(r);
    const [uname, cmdline] = r.stdout.split('\n');
    expect(uname).toBe(release);
    expect(cmdline).toMatch(/(^| )vmrun\.guest( |$)/);
  });

  test("gives the process's stdout and stderr to ctr apart, and nothing else", async () => {
    const r = await ctd.run('t3', ['sh', '-c', 'echo out; echo err >&2; echo out2']);
    expect(r).toEqual({ exitCode: 0, stdout: 'out\nout2', stderr: 'err' });
  });

  test("passes ctr's stdin to the process, up to its end", async () => {
    const r = await ctd.run('t4', ['cat'], { input: 'hello\n' });
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: 'hello' });
  });

  test('-t gives the process a terminal', async () => {
    const r = await ctd.run('t5', ['sh', '-c', 'test -t 0 && test -t 1 && echo tty; tty'], { tty: true });
    // Under a terminal, stderr comes in stdout too.
    expect({ exitCode: r.exitCode, lines: r.stdout.split('\n') }).toEqual({ exitCode: 0, lines: ['tty', expect.stringMatching(/^\/dev\/pts\/\d+$/)] });
  });

  test('leaves no container, task, shim, VM or vmrun state behind', async () => {
    succeeded(await ctd.run('t6', ['true']));
    expect((await ctd.ctr(['containers', 'ls', '-q'])).stdout.split('\n')).not.toContain('t6');
    expect(await ctd.status('t6')).toBeUndefined();
    expect(await leftoversOf('t6')).toEqual([]);
  });
});

describe('ctr task exec', () => {
  beforeAll(async () => {
    succeeded(await ctd.run('x1', ['sleep', '600'], { detach: true }));
  });
  afterAll(() => ctd.remove('x1'));

  test("the task's pid is vmrun's sentry, the shim's child, in the container's namespaces and cgroup", async () => {
    const row = (await ctd.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.split(/\s+/)[0] === 'x1')!;
    const pid = Number(row.split(/\s+/)[1]);
    const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(readFileSync(`/proc/${ppid}/cmdline`, 'utf8')).toMatch(/containerd-shim-runc-v2\0.*-id\0x1\0/);
    expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    // The shim reads the metrics of the cgroup the pid is in.
    const metrics = await ctd.ctr(['task', 'metrics', 'x1']);
    succeeded(metrics);
    expect(metrics.stdout).toMatch(/memory\.usage_in_bytes\s+[1-9]\d*/);
  });

  test('runs a second process in the running container, with its output and status', async () => {
    const r = await ctd.exec('x1', 'e1', ['sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(r).toEqual({ exitCode: 3, stdout: 'hi', stderr: 'oops' });
    expect(await ctd.status('x1')).toBe('RUNNING');
  });

  test('-t gives the second process a terminal', async () => {
    const r = await ctd.exec('x1', 'e2', ['sh', '-c', 'test -t 0 && test -t 1 && echo tty; tty; exit 4'], { tty: true });
    // ctr resizes the terminal once the process has started; when it has ended by then, ctr
    // logs "ERRO[…] resize pty …" on the same terminal, with runc too.
    const lines = r.stdout.split('\n').filter((l) => !/^ERRO\[\d+\] resize pty/.test(l));
    expect({ exitCode: r.exitCode, lines }).toEqual({ exitCode: 4, lines: ['tty', expect.stringMatching(/^\/dev\/pts\/\d+$/)] });
    expect(await ctd.status('x1')).toBe('RUNNING');
  });
});

describe('ctr task kill', () => {
  test('sends TERM by default; the task stops with the status its trap chose, then rm removes it', async () => {
    const log = logTo('k1.log');
    const script = 'trap "exit 7" TERM; echo trapping; while :; do sleep 1; done';
    succeeded(await ctd.run('k1', ['sh', '-c', script], { detach: true, flags: log.flags }));
    await waitForLine(log.file, 'trapping');
    expect(await ctd.ctr(['task', 'kill', 'k1'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await statusBecomes('k1', 'STOPPED')).toBe('STOPPED');
    const rm = await ctd.ctr(['task', 'rm', 'k1']);
    succeeded(rm);
    expect(rm.stderr).toContain('task k1 exit with non-zero exit code 7');
    expect(await ctd.ctr(['containers', 'rm', 'k1'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await leftoversOf('k1')).toEqual([]);
  });

  test('-s KILL stops the task with status 137', async () => {
    succeeded(await ctd.run('k2', ['sleep', '600'], { detach: true }));
    expect(await ctd.ctr(['task', 'kill', '-s', 'KILL', 'k2'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await statusBecomes('k2', 'STOPPED')).toBe('STOPPED');
    const rm = await ctd.ctr(['task', 'rm', 'k2']);
    succeeded(rm);
    expect(rm.stderr).toContain('task k2 exit with non-zero exit code 137');
    expect(await ctd.ctr(['containers', 'rm', 'k2'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect((await ctd.ctr(['containers', 'ls', '-q'])).stdout.split('\n')).not.toContain('k2');
    expect(await leftoversOf('k2')).toEqual([]);
  });
});

describe('ctr task ps, pause and resume', () => {
  test("ps lists the container's processes, and only them", async () => {
    const log = logTo('p1.log');
    succeeded(await ctd.run('p1', ['sh', '-c', 'sleep 600 & echo "pids $$ $!"; wait'], { detach: true, flags: log.flags }));
    const line = await waitForLine(log.file, /^pids \d+ \d+$/);
    const ps = await ctd.ctr(['task', 'ps', 'p1']);
    expect(ps).toMatchObject({ exitCode: 0, stderr: '' });
    const [header, ...rows] = ps.stdout.split('\n');
    expect(header).toMatch(/^PID\s+INFO$/);
    // The pids the container itself knows: sh's and its sleep's.
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual(line.split(' ').slice(1).sort());
    await ctd.remove('p1');
  });

  test('pause stops the VM and makes the task PAUSED; resume makes it go on, RUNNING', async () => {
    const log = logTo('p2.log');
    succeeded(await ctd.run('p2', ['sh', '-c', 'while :; do echo tick; sleep 0.2; done'], { detach: true, flags: log.flags }));
    await waitForLine(log.file, 'tick');
    const ticks = async () => (await readFile(log.file, 'utf8')).split('\n').filter((l) => l === 'tick').length;
    expect(await ctd.ctr(['task', 'pause', 'p2'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await ctd.status('p2')).toBe('PAUSED');
    // A tick already on its way may still land; after that, none while paused.
    await new Promise((r) => setTimeout(r, 1_000));
    const paused = await ticks();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await ticks()).toBe(paused);
    expect(await ctd.ctr(['task', 'resume', 'p2'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await ctd.status('p2')).toBe('RUNNING');
    await until(async () => (await ticks()) > paused, 10_000);
    await ctd.remove('p2');
  });
});

test('several containers run at once, each in its own VM, and all go away', async () => {
  const ids = ['m1', 'm2', 'm3'];
  const started = await Promise.all(ids.map((id) => ctd.run(id, ['sleep', '600'], { detach: true })));
  started.forEach(succeeded);
  expect(await Promise.all(ids.map((id) => ctd.status(id)))).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
  const qemus = ids.map((id) => ctd.leftovers(id).filter((l) => l.includes('qemu-system')).length);
  expect(qemus).toEqual([1, 1, 1]);
  const killed = await Promise.all(ids.map((id) => ctd.ctr(['task', 'kill', '-s', 'KILL', id])));
  killed.forEach(succeeded);
  expect(await Promise.all(ids.map((id) => statusBecomes(id, 'STOPPED')))).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
  for (const id of ids) {
    succeeded(await ctd.ctr(['task', 'rm', id]));
    succeeded(await ctd.ctr(['containers', 'rm', id]));
  }
  expect(await leftoversOf(...ids)).toEqual([]);
});

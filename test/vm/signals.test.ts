// kill, signals and exit statuses, on real VMs.
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

/** `vmrun run` in the background, its stdout and stderr to be read or not. */
function runInBackground(bundle: string, id: string) {
  return vm.spawn(['run', '--bundle', bundle, id], { buffer: false, stdin: 'ignore' });
}

describe('kill', () => {
  test('KILL ends a running sleep with status 137', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    const run = runInBackground(bundle, 'k1');
    run.stdout?.resume();
    run.stderr?.resume();
    await until(async () => (await vm.vmrun(['state', 'k1'])).stdout.includes('"running"'));
    expect((await vm.vmrun(['kill', 'k1', 'KILL'])).exitCode).toBe(0);
    expect((await run).exitCode).toBe(137);
  });

  test('reaches a created container, which then stops without ever running its program', async () => {
    const bundle = await vm.bundle('sh', '-c', 'echo ran');
    const created = await vm.vmrun(['create', '--bundle', bundle, 'k0']);
    expect(created.exitCode).toBe(0);
    expect((await vm.vmrun(['kill', 'k0', 'TERM'])).exitCode).toBe(0);
    await until(async () => (await vm.state('k0')).status === 'stopped');
    expect(created.stdout).toBe('');
    expect((await vm.vmrun(['delete', 'k0'])).exitCode).toBe(0);
  });

  test('TERM (the default) reaches a trap, and the trap decides the status', async () => {
    const bundle = await vm.bundle('sh', '-c', 'trap "exit 7" TERM; echo trapping; while :; do sleep 1; done');
    const run = runInBackground(bundle, 'k2');
    run.stderr?.resume();
    const [first] = (await once(run.stdout!, 'data')) as [Buffer];
    expect(first.toString()).toBe('trapping\n');
    expect((await vm.vmrun(['kill', 'k2'])).exitCode).toBe(0);
    run.stdout!.resume();
    expect((await run).exitCode).toBe(7);
  });

  test('still works while the process floods 100 MB to a stdout nobody reads', async () => {
    const bundle = await vm.bundle('sh', '-c', 'head -c 100000000 /dev/zero; sleep 1000');
    const run = runInBackground(bundle, 'k3');
    run.stderr?.resume();
    // Wait for the flood to be under way, then stop reading: the pipe fills, the guest waits.
    await once(run.stdout!, 'readable');
    run.stdout!.pause();
    await until(async () => (await vm.vmrun(['state', 'k3'])).stdout.includes('"running"'));
    const kill = await vm.vmrun(['kill', 'k3', '9']);
    expect(kill).toMatchObject({ exitCode: 0, stderr: '' });
    let received = 0;
    run.stdout!.on('data', (chunk: Buffer) => (received += chunk.length)).resume();
    expect((await run).exitCode).toBe(137);
    expect(received).toBeGreaterThan(0);
  });

  test('names a bad signal, and --all reaches every process of the container', async () => {
    const bundle = await vm.bundle('sh', '-c', 'sleep 1000 & sleep 1000 & wait');
    const run = runInBackground(bundle, 'k4');
    run.stdout?.resume();
    run.stderr?.resume();
    await until(async () => (await vm.vmrun(['state', 'k4'])).stdout.includes('"running"'));
    const bad = await vm.vmrun(['kill', 'k4', 'SIGNOPE']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/invalid signal "SIGNOPE"/);
    // Only the sleeps die of TERM with --all: sh is PID 1 without a handler, which the kernel
    // spares, as under runc; its wait then returns 0, and so does it.
    expect((await vm.vmrun(['kill', '--all', 'k4', 'TERM'])).exitCode).toBe(0);
    expect((await run).exitCode).toBe(0);
  });

  test('run passes the exit status through', async () => {
    const bundle = await vm.bundle('sh', '-c', 'exit 42');
    const r = await vm.vmrun(['run', '--bundle', bundle, 'k5']);
    expect(r.exitCode).toBe(42);
    expect((await vm.vmrun(['state', 'k5'])).stderr).toMatch(/does not exist/);
  });
});

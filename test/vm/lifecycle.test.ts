// The container lifecycle of runc's verbs, on real VMs.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { isAlive, hostProcess } from '../../src/host/process.js';
import { vmLayout } from '../../src/vm/layout.js';
import { VMRUN } from '../helpers/cli.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const SUBREAPER = new URL('../helpers/subreaper.py', import.meta.url).pathname;

describe('a container in a VM', () => {
  test('reads stdin, writes stdout and stderr apart, and its pid exits with its status', async () => {
    const bundle = await vm.bundle('sh', '-c', 'read x; echo out $x; echo err >&2; exit 3');
    const pidFile = join(bundle, 'pid');
    const script = `echo hi | ${VMRUN} --root ${vm.root} create --bundle ${bundle} --pid-file ${pidFile} c1 && ${VMRUN} --root ${vm.root} start c1`;
    // As under containerd's shim, the pid (the sentry) is reparented to a subreaper, which sees its status.
    const r = await execa(SUBREAPER, ['sh', '-c', script], { reject: false });
    const pid = Number(await readFile(pidFile, 'utf8'));
    const lines = r.stdout.split('\n');
    expect(lines).toContain('out hi');
    expect(lines).toContain(`exited ${pid} 3`);
    expect(lines.filter((l) => /^command \d+ 0$/.test(l))).toHaveLength(1);
    expect(r.stderr.split('\n')).toContain('err');
    expect(await vm.state('c1')).toMatchObject({ status: 'stopped', pid: 0 });
    expect((await vm.vmrun(['delete', 'c1'])).exitCode).toBe(0);
    expect(vm.processesOf('c1')).toEqual([]);
    await expect(readFile(join(vm.root, 'c1', 'state.json'))).rejects.toThrow(/ENOENT/);
    await expect(readFile(vmLayout(vm.root, 'c1').consoleLog)).rejects.toThrow(/ENOENT/);
  });

  test('goes created, running, stopped; refuses what runc refuses on the way', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    const r1 = await vm.vmrun(['create', '--bundle', bundle, 'c2']);
    expect(r1).toMatchObject({ exitCode: 0, stderr: '' });
    const created = await vm.state('c2');
    expect(created.status).toBe('created');
    expect(isAlive(hostProcess(created.pid))).toBe(true);

    const again = await vm.vmrun(['create', '--bundle', bundle, 'c2']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/container "c2" already exists/);

    expect((await vm.vmrun(['start', 'c2'])).exitCode).toBe(0);
    expect((await vm.state('c2')).status).toBe('running');
    const twice = await vm.vmrun(['start', 'c2']);
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toMatch(/cannot start a container in the running state/);

    const busy = await vm.vmrun(['delete', 'c2']);
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr).toMatch(/cannot delete container c2 that is not stopped: running/);

    expect((await vm.vmrun(['kill', 'c2', 'KILL'])).exitCode).toBe(0);
    await until(async () => (await vm.state('c2')).status === 'stopped');
    const late = await vm.vmrun(['kill', 'c2']);
    expect(late.exitCode).toBe(1);
    expect(late.stderr).toMatch(/container not running/);
    const restart = await vm.vmrun(['start', 'c2']);
    expect(restart.stderr).toMatch(/cannot start a container that has stopped/);

    expect((await vm.vmrun(['delete', 'c2'])).exitCode).toBe(0);
    expect(vm.processesOf('c2')).toEqual([]);
  });

  test('delete of an unknown id fails, and succeeds with --force', async () => {
    const r = await vm.vmrun(['delete', 'nosuch']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/does not exist/);
    expect((await vm.vmrun(['delete', '--force', 'nosuch'])).exitCode).toBe(0);
  });

  test('delete --force ends a running container and leaves nothing', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'c3'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'c3'])).exitCode).toBe(0);
    expect(vm.processesOf('c3').length).toBeGreaterThanOrEqual(3); // monitor, QEMU, virtiofsd
    expect((await vm.vmrun(['delete', '--force', 'c3'])).exitCode).toBe(0);
    expect(vm.processesOf('c3')).toEqual([]);
    expect((await vm.vmrun(['state', 'c3'])).stderr).toMatch(/does not exist/);
  });

  test('a pid file that cannot be written once the VM is up fails create, and the container is gone', async () => {
    const bundle = await vm.bundle('true');
    const where = join(bundle, 'a-folder'); // rename(2) cannot put the pid file over a folder
    await mkdir(where);
    const r = await vm.vmrun(['create', '--bundle', bundle, '--pid-file', where, 'c9']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--pid-file .*a-folder: /);
    expect((await vm.vmrun(['state', 'c9'])).stderr).toMatch(/does not exist/);
    expect(vm.processesOf('c9')).toEqual([]);
  });

  test('a created container that was never started can be deleted', async () => {
    const bundle = await vm.bundle('echo', 'never');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'c4'])).exitCode).toBe(0);
    const r = await vm.vmrun(['delete', 'c4']);
    expect(r).toMatchObject({ exitCode: 0, stdout: '' });
    expect(vm.processesOf('c4')).toEqual([]);
  });
});

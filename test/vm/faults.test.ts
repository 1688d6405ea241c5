// Faults injected into running containers: a part of the VM killed, the monitor killed, a verb
// killed half-way, create failing at each of its steps. Each time the state says so within 2 s,
// every verb answers within 10 s, and after delete nothing of the container remains.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rmdirSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { CREATE_STEPS } from '../../src/faults.js';
import { hierarchies } from '../../src/host/cgroups.js';
import { isAlive } from '../../src/host/process.js';
import { vmLayout } from '../../src/vm/layout.js';
import type { ContainerRecord } from '../../src/generated/container-record.js';
import type { Spec } from '../../src/generated/config.js';
import { editConfig } from '../helpers/bundle.js';
import { VMRUN } from '../helpers/cli.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

const record = async (id: string): Promise<ContainerRecord> => JSON.parse(await readFile(join(vm.root, id, 'state.json'), 'utf8'));
const childrenOf = (pid: number) => execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean).map(Number);
const argsOf = (pid: number) => execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });

/** Nothing of the container is left: no process, no record, no VM directory. */
async function expectGone(id: string): Promise<void> {
  expect(vm.processesOf(id)).toEqual([]);
  expect(existsSync(join(vm.root, id))).toBe(false);
  expect(existsSync(vmLayout(vm.root, id).dir)).toBe(false);
}

/** Every verb answers, each within 10 s, and delete removes everything. */
async function expectVerbsAnswer(id: string, reason: RegExp): Promise<void> {
  for (const args of [['state', id], ['ps', id], ['exec', id, 'true'], ['kill', id, 'KILL'], ['pause', id], ['events', '--stats', id], ['delete', id]]) {
    const t0 = Date.now();
    const r = await vm.vmrun(args);
    expect(Date.now() - t0, args.join(' ')).toBeLessThan(10_000);
    if (args[0] === 'kill' || args[0] === 'exec') expect(r.stderr, args.join(' ')).toMatch(reason);
    if (args[0] === 'delete') expect(r.exitCode).toBe(0);
  }
  await expectGone(id);
}

/** No network namespace, and the outbound user-mode network: a passt. */
const userNetwork = (spec: Spec) => {
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
  spec.annotations = { ...spec.annotations, 'vmrun.network': 'user' };
};

/** A running container; with `user`, it has no network namespace, and so a passt. */
async function running(id: string, { user = false } = {}): Promise<ContainerRecord> {
  const bundle = await vm.bundle('sleep', '1000');
  if (user) await editConfig(bundle, userNetwork);
  expect((await vm.vmrun(['create', '--bundle', bundle, id])).exitCode).toBe(0);
  expect((await vm.vmrun(['start', id])).exitCode).toBe(0);
  return record(id);
}

/** Kills `pid`; the container is stopped within 2 s. */
async function killPart(id: string, pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  const t0 = Date.now();
  await until(async () => (await vm.state(id)).status === 'stopped', 5_000);
  expect(Date.now() - t0).toBeLessThan(2_000);
}

describe('a part of the VM killed', () => {
  const parts: [string, (r: ContainerRecord) => number, RegExp, { user?: boolean }?][] = [
    ['QEMU', (r) => r.qemu!.pid, /its QEMU .*killed by SIGKILL|VM ended/],
    ['virtiofsd', (r) => r.virtiofsd![0]!.pid, /its virtiofsd .*(killed by SIGKILL|exited)/],
    ["virtiofsd's sandboxed child", (r) => childrenOf(r.virtiofsd![0]!.pid)[0]!, /its virtiofsd .*(killed|exited)/],
    ['virsh', (r) => childrenOf(r.warden!.pid).find((p) => argsOf(p).includes('virsh'))!, /its virsh .*killed by SIGKILL/],
    ['passt', (r) => r.passt!.pid, /its passt .*killed by SIGKILL/, { user: true }],
    ['the warden', (r) => r.warden!.pid, /process warden|its (QEMU|virsh|virtiofsd)|VM ended/],
  ];
  test.each(parts)('%s: the container stops, says why, and every verb answers', async (name, pidOf, reason, opts) => {
    const id = `part-${name.replace(/\W+/g, '-')}`;
    const r = await running(id, opts);
    const pid = pidOf(r);
    expect(pid, name).toBeGreaterThan(1);
    await killPart(id, pid);
    expect((await record(id)).exitStatus).toBe(255);
    await expectVerbsAnswer(id, reason);
  });
});

/** A hook's leftover process, by its argument. */
const HOOK_SLEEP = `${4000 + (process.pid % 1000)}.5`;

describe('kill -9 of the monitor', () => {
  const setups: [string, (bundle: string, holder: number) => Promise<void>][] = [
    ['a new pid namespace, and a hook that leaves a process running', (bundle) => editConfig(bundle, (spec) => {
      spec.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `setsid sleep ${HOOK_SLEEP} </dev/null >/dev/null 2>&1 &`] }] };
    })],
    ["another process's pid namespace", (bundle, holder) => editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${holder}/ns/pid` } : n));
    })],
    ["the host's pid namespace", (bundle) => editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'pid');
    })],
  ];
  test.each(setups)('with %s: no process of the VM is left 5 s later, with no verb run', async (_name, change) => {
    // A process in a pid namespace of its own, whose namespace a container may join.
    const holder = spawn('unshare', ['--pid', '--fork', 'sleep', '1000'], { stdio: 'ignore' });
    try {
      const id = `monitor-${setups.findIndex(([n]) => n === _name)}`;
      const bundle = await vm.bundle('sleep', '1000');
      await until(() => childrenOf(holder.pid!).length > 0, 5_000);
      await change(bundle, childrenOf(holder.pid!)[0]!);
      expect((await vm.vmrun(['create', '--bundle', bundle, id])).exitCode).toBe(0);
      expect((await vm.vmrun(['start', id])).exitCode).toBe(0);
      const r = await record(id);
      const vmProcesses = [r.qemu!, ...r.virtiofsd!, r.warden!];
      process.kill(r.monitor!.pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(vmProcesses.filter(isAlive)).toEqual([]);
      expect(vm.processesOf(id)).toEqual([]);
      expect(spawnSync('pgrep', ['-f', `sleep ${HOOK_SLEEP}`]).status, "the hook's process").toBe(1);
      expect((await vm.state(id)).status).toBe('stopped');
      expect((await vm.vmrun(['delete', id])).exitCode).toBe(0);
      await expectGone(id);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('kill -9 of a verb half-way', () => {
  test('of create while the guest boots: the container is either reported truthfully and deleted whole, or not there', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    const create = vm.spawn(['create', '--bundle', bundle, 'half-create']);
    await until(async () => existsSync(join(vm.root, 'half-create', 'state.json')) && !!(await record('half-create')).qemu, 60_000);
    create.kill('SIGKILL');
    await create;
    // The monitor carries on: the container is created, as state says, or its create failed.
    await until(async () => ['created', 'stopped'].includes((await vm.state('half-create')).status), 60_000);
    const r = await record('half-create');
    if ((await vm.state('half-create')).status === 'created') expect(isAlive(r.qemu)).toBe(true);
    expect((await vm.vmrun(['delete', '--force', 'half-create'])).exitCode).toBe(0);
    await expectGone('half-create');
  });

  test('delete --force of a container still being created ends its create at once and leaves nothing', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    const create = vm.spawn(['create', '--bundle', bundle, 'forced']);
    await until(async () => existsSync(join(vm.root, 'forced', 'state.json')) && !!(await record('forced')).qemu, 60_000);
    const t0 = Date.now();
    expect((await vm.vmrun(['delete', '--force', 'forced'])).exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await create).exitCode).not.toBe(0);
    await expectGone('forced');
  });

  test('of delete: what is left is reported truthfully, and a second delete removes it', async () => {
    const r = await running('half-delete');
    const del = vm.spawn(['delete', '--force', 'half-delete']);
    await until(() => !isAlive(r.monitor) || !existsSync(join(vm.root, 'half-delete', 'state.json')), 10_000).catch(() => undefined);
    del.kill('SIGKILL');
    await del;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    if (existsSync(join(vm.root, 'half-delete', 'state.json'))) {
      // Running with its VM, or stopped without one: never a VM that state calls stopped.
      const status = (await vm.state('half-delete')).status;
      expect(isAlive(r.qemu), status).toBe(status === 'running');
      expect((await vm.vmrun(['delete', '--force', 'half-delete'])).exitCode).toBe(0);
    }
    await expectGone('half-delete');
  });
});

describe('create failing at each step', () => {
  afterAll(() => {
    for (const h of hierarchies()) if (existsSync(join(h.mountPoint, '/vmrun-test-faults'))) rmdirSync(join(h.mountPoint, '/vmrun-test-faults'));
  });
  test.each(CREATE_STEPS)('at %s: create fails with the error and leaves nothing', async (step) => {
    const id = `fault-${step}`;
    const cgroupsPath = `/vmrun-test-faults/${step}-${process.pid}`;
    const bundle = await vm.bundle('sleep', '1000');
    await editConfig(bundle, (spec) => {
      spec.linux!.cgroupsPath = cgroupsPath;
      userNetwork(spec); // a passt too
    });
    const pidFile = join(bundle, 'pid');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(VMRUN, ['--root', vm.root, 'create', '--bundle', bundle, '--pid-file', pidFile, id], {
        env: { ...process.env, VMRUN_FAULT: step }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    if (r.code === 0) await vm.vmrun(['delete', '--force', id]); // the step was never reached
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`create failed at step "${step}"`);
    await expectGone(id);
    expect(existsSync(pidFile)).toBe(false);
    for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, cgroupsPath)), h.mountPoint).toBe(false);
  });
});

// The pid `state` and --pid-file report, on the host: the sentry, in the namespaces config.json
// asks for, with the rootfs as its root, reaped by a subreaper, standing for the container's init.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import type { Spec } from '../../src/generated/config.js';
import { vmLayout } from '../../src/vm/layout.js';
import { editConfig } from '../helpers/bundle.js';
import { VMRUN } from '../helpers/cli.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const SUBREAPER = new URL('../helpers/subreaper.py', import.meta.url).pathname;
const OWN = ['pid', 'ipc', 'uts', 'mnt', 'cgroup'];

const nsOf = (pid: number | 'self', type: string) => readlinkSync(`/proc/${pid}/ns/${type}`);
const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const record = async (id: string) => JSON.parse(await readFile(join(vm.root, id, 'state.json'), 'utf8'));

/** The index of a type in the busybox fixture's linux.namespaces (vmrun spec's). */
const indexOf = (spec: Spec, type: string) => spec.linux!.namespaces!.findIndex((n) => n.type === type);

async function expectNothingLeft(id: string): Promise<void> {
  expect(vm.processesOf(id)).toEqual([]);
  await expect(readdir(join(vm.root, id))).rejects.toThrow(/ENOENT/);
  await expect(readdir(vmLayout(vm.root, id).dir)).rejects.toThrow(/ENOENT/);
}

describe("the state's pid", () => {
  test('lives in new pid, ipc, uts, mount and cgroup namespaces, as PID 1, with the rootfs as / (read-only, as config.json says) and the hostname', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    await writeFile(join(bundle, 'rootfs', 'vmrun-marker'), '');
    await editConfig(bundle, (spec) => {
      spec.hostname = 'sentry-box';
      spec.root!.readonly = true;
    });
    expect((await vm.vmrun(['create', '--bundle', bundle, 'h1'])).exitCode).toBe(0);
    const { pid } = await vm.state('h1');
    const { monitor, sentry } = await record('h1');
    expect(sentry.pid).toBe(pid);
    for (const type of OWN) expect(nsOf(pid, type), type).not.toBe(nsOf('self', type));
    // The network namespace is the monitor's, which is the container's.
    expect(nsOf(pid, 'net')).toBe(nsOf(monitor.pid, 'net'));
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^NSpid:\\s+${pid}\\s+1$`, 'm'));
    const seen = execFileSync('nsenter', ['-t', String(pid), '-m', '-u', '/bin/sh', '-c', 'ls /; hostname'], { encoding: 'utf8' }).trim().split('\n');
    expect(seen).toContain('vmrun-marker');
    expect(seen).not.toContain('work');
    expect(seen.at(-1)).toBe('sentry-box');
    // root.readonly holds there too: a tool cannot write through it.
    const write = await execa('nsenter', ['-t', String(pid), '-m', '/bin/touch', '/probe'], { reject: false });
    expect(write.stderr).toMatch(/Read-only file system/);
    expect((await vm.vmrun(['delete', '--force', 'h1'])).exitCode).toBe(0);
    await expectNothingLeft('h1');
  });

  test('joins the namespaces config.json names by path', async () => {
    const holder = spawn('unshare', ['--uts', '--ipc', 'sleep', '1000'], { stdio: 'ignore' });
    try {
      await until(() => nsOf(holder.pid!, 'uts') !== nsOf('self', 'uts'), 10_000);
      const bundle = await vm.bundle('sleep', '1000');
      await editConfig(bundle, (spec) => {
        for (const type of ['uts', 'ipc'] as const) spec.linux!.namespaces![indexOf(spec, type)] = { type, path: `/proc/${holder.pid}/ns/${type}` };
        spec.hostname = 'joined-box';
      });
      expect((await vm.vmrun(['create', '--bundle', bundle, 'h2'])).exitCode).toBe(0);
      const { pid } = await vm.state('h2');
      expect(nsOf(pid, 'uts')).toBe(nsOf(holder.pid!, 'uts'));
      expect(nsOf(pid, 'ipc')).toBe(nsOf(holder.pid!, 'ipc'));
      expect(nsOf(pid, 'pid')).not.toBe(nsOf('self', 'pid'));
      // As runc sets it in a UTS namespace it joins.
      expect(execFileSync('nsenter', ['-t', String(holder.pid), '-u', 'hostname'], { encoding: 'utf8' }).trim()).toBe('joined-box');
      expect((await vm.vmrun(['delete', '--force', 'h2'])).exitCode).toBe(0);
      await expectNothingLeft('h2');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('a path of another type fails create, naming the field, before any VM, and leaves nothing', async () => {
    const bundle = await vm.bundle('true');
    let at = -1;
    await editConfig(bundle, (spec) => {
      at = indexOf(spec, 'uts');
      spec.linux!.namespaces![at] = { type: 'uts', path: `/proc/${process.pid}/ns/ipc` };
    });
    const r = await vm.vmrun(['create', '--bundle', bundle, 'h3']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`/linux/namespaces/${at}/path: /proc/${process.pid}/ns/ipc is not a uts namespace (it is ipc)`);
    await expectNothingLeft('h3');
  });

  test('passes the signals it gets to the container, whose status it exits with, reaped by a subreaper', async () => {
    const bundle = await vm.bundle('sh', '-c', 'trap "exit 7" TERM; echo trapping; while :; do sleep 1; done');
    const pidFile = join(bundle, 'pid');
    // As containerd's shim: a subreaper, to which the sentry is reparented as an orphan.
    const reaper = execa(SUBREAPER, [VMRUN, '--root', vm.root, 'create', '--bundle', bundle, '--pid-file', pidFile, 'h4'], { reject: false });
    // The container's stdout is create's, the subreaper's.
    let out = '';
    reaper.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(async () => (await readFile(pidFile, 'utf8').catch(() => '')) !== '');
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(pid).toBe((await record('h4')).sentry.pid);
      expect(ppidOf(pid)).toBe(reaper.pid);
      expect((await vm.vmrun(['start', 'h4'])).exitCode).toBe(0);
      await until(() => out.includes('trapping\n'), 30_000);
      process.kill(pid, 'SIGTERM');
      const lines = (await reaper).stdout.split('\n');
      expect(lines).toContain(`exited ${pid} 7`);
    } finally {
      expect((await vm.vmrun(['delete', '--force', 'h4'])).exitCode).toBe(0);
    }
    await expectNothingLeft('h4');
  });

  test('kill -9 of it ends the container with status 137, as of runc init, and leaves nothing', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    const run = vm.spawn(['run', '--bundle', bundle, 'h5'], { stdin: 'ignore' });
    await until(async () => (await vm.vmrun(['state', 'h5'])).stdout.includes('"running"'));
    process.kill((await vm.state('h5')).pid, 'SIGKILL');
    expect((await run).exitCode).toBe(137);
    await expectNothingLeft('h5');
  });
});

// What a container leaves behind when a part of it dies, and ids and roots as Docker uses them.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isAlive } from '../../src/host/process.js';
import { capabilitiesCache } from '../../src/vm/libvirt.js';
import { vmLayout } from '../../src/vm/layout.js';
import { cacheDir } from '../../src/paths.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

describe('after kill -9 of the monitor', () => {
  test('state says stopped, the VM ends with it, and delete removes every file', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'r1'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'r1'])).exitCode).toBe(0);
    const { monitor, sentry, qemu, warden } = JSON.parse(await readFile(join(vm.root, 'r1', 'state.json'), 'utf8'));
    expect((await vm.state('r1')).pid).toBe(sentry.pid);
    process.kill(monitor.pid, 'SIGKILL');
    await until(async () => (await vm.state('r1')).status === 'stopped');
    expect((await vm.state('r1')).pid).toBe(0);
    // The sentry goes with the monitor (its socket's EOF), and QEMU with the warden's namespace.
    await until(() => !isAlive(sentry) && !isAlive(qemu) && !isAlive(warden), 10_000);
    expect(vm.processesOf('r1')).toEqual([]);
    const killed = await vm.vmrun(['kill', 'r1']);
    expect(killed.stderr).toMatch(/container not running/);

    expect((await vm.vmrun(['delete', 'r1'])).exitCode).toBe(0);
    expect(vm.processesOf('r1')).toEqual([]);
    await expect(readdir(vmLayout(vm.root, 'r1').dir)).rejects.toThrow(/ENOENT/);
    await expect(readdir(join(vm.root, 'r1'))).rejects.toThrow(/ENOENT/);
  });
});

describe('QEMU capabilities', () => {
  test("a new container's libvirt root is seeded from the host-wide copy, not probed again", async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'r2'])).exitCode).toBe(0);
    const hostWide = await capabilitiesCache(cacheDir());
    const own = join(vmLayout(vm.root, 'r2').libvirtRoot, 'cache/qemu/capabilities');
    const files = await readdir(own);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect((await readFile(join(own, f))).equals(await readFile(join(hostWide, f))), f).toBe(true);
    }
    expect((await vm.vmrun(['delete', '--force', 'r2'])).exitCode).toBe(0);
  });
});

describe('bad input', () => {
  test('an invalid bundle fails create, naming the field, and leaves nothing', async () => {
    const bundle = await vm.bundle('true');
    const config = join(bundle, 'config.json');
    const spec = JSON.parse(await readFile(config, 'utf8'));
    spec.process.cwd = 'relative';
    await writeFile(config, JSON.stringify(spec));
    const r = await vm.vmrun(['create', '--bundle', bundle, 'r3']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/\/process\/cwd: must match pattern/);
    await expect(readdir(join(vm.root, 'r3'))).rejects.toThrow(/ENOENT/);
    await expect(readdir(vmLayout(vm.root, 'r3').dir)).rejects.toThrow(/ENOENT/);
    expect(vm.processesOf('r3')).toEqual([]);
  });

  test('a program that does not exist fails create, as in runc, and leaves nothing', async () => {
    const bundle = await vm.bundle('/no/such/program');
    const r = await vm.vmrun(['create', '--bundle', bundle, 'r4']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/executable file not found/);
    await expect(readdir(join(vm.root, 'r4'))).rejects.toThrow(/ENOENT/);
    await expect(readdir(vmLayout(vm.root, 'r4').dir)).rejects.toThrow(/ENOENT/);
    expect(vm.processesOf('r4')).toEqual([]);
  });
});

describe("Docker's root and ids", () => {
  const docker = vmHarness({ root: '/run/containerd/runc/moby' });
  test('a 64-character id under /run/containerd/runc/moby runs', async () => {
    const id = 'a'.repeat(64);
    const bundle = await docker.bundle('sh', '-c', 'echo "$0"; exit 5', 'deep');
    const r = await docker.vmrun(['run', '--bundle', bundle, id]);
    expect(r).toMatchObject({ exitCode: 5, stdout: 'deep' });
    expect(docker.processesOf(id)).toEqual([]);
  });
});

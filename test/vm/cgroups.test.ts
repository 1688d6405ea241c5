// linux.cgroupsPath on the host: the monitor, QEMU and virtiofsd live in that cgroup, which holds
// the VM's whole footprint, and delete removes it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ownCpus } from '../../src/host/limits.js';
import { changeFiles, hierarchies, limitFiles, type HostCgroupChange } from '../../src/host/cgroups.js';
import { imageShape } from '../../src/guest/restore-image.js';
import { StateStore } from '../../src/state/store.js';
import { GUEST_OVERHEAD_MIB, MIN_GUEST_MEMORY_MIB, VMM_OVERHEAD_MIB, VMM_TASKS } from '../../src/vm/sizing.js';
import { editConfig } from '../helpers/bundle.js';
import { VMRUN } from '../helpers/cli.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const MiB = 1024 * 1024;

describe('the host cgroup', () => {
  test('holds the monitor, the sentry, QEMU and virtiofsd with the limits, and goes with delete', async () => {
    const path = `/vmrun-test/cg-${process.pid}`;
    const bundle = await vm.bundle('sleep', '100');
    await editConfig(bundle, (spec) => {
      spec.linux!.cgroupsPath = path;
      spec.linux!.resources = { memory: { limit: 512 * MiB }, cpu: { quota: 50_000, period: 100_000 }, pids: { limit: 20 } };
    });
    const created = await vm.vmrun(['--debug', 'create', '--bundle', bundle, 'cg1']);
    expect(created.exitCode).toBe(0);
    // 20 is below what QEMU, virtiofsd and the monitor need on the host: raised, and said so.
    expect(created.stderr).toContain(`/linux/resources/pids/limit: the host cgroup's pids.max is ${VMM_TASKS}, raised by ${VMM_TASKS - 20}`);
    const record = JSON.parse(await readFile(join(vm.root, 'cg1', 'state.json'), 'utf8'));
    // The sentry too: containerd's shim reads the metrics of the --pid-file pid's cgroup.
    const pids: number[] = [record.monitor.pid, record.sentry.pid, record.qemu.pid, ...record.virtiofsd.map((p: { pid: number }) => p.pid)];
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) {
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
      for (const controller of ['memory', 'cpu', 'pids', 'cpuset']) {
        expect(lines.find((l) => l.split(':')[1]!.split(',').includes(controller))).toMatch(new RegExp(`:${path}$`));
      }
    }
    const mountOf = (c: string) => hierarchies().find((h) => h.controllers.includes(c))!.mountPoint;
    const guestMiB = Math.max(512 + GUEST_OVERHEAD_MIB, MIN_GUEST_MEMORY_MIB);
    expect(Number(readFileSync(join(mountOf('memory'), path, 'memory.limit_in_bytes'), 'utf8'))).toBe((guestMiB + VMM_OVERHEAD_MIB) * MiB);
    expect(readFileSync(join(mountOf('cpu'), path, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
    expect(readFileSync(join(mountOf('pids'), path, 'pids.max'), 'utf8').trim()).toBe(String(VMM_TASKS));

    expect((await vm.vmrun(['delete', '--force', 'cg1'])).exitCode).toBe(0);
    for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, path))).toBe(false);
    // The parent it made on the way stays, as under runc; this test made it, so it goes.
    for (const h of hierarchies()) rmdirSync(join(h.mountPoint, '/vmrun-test'));
  });

  test("update mirrors the guest's new limits on the host cgroup, sized as create sizes them, and a refusal changes neither", async () => {
    const path = `/vmrun-test/cg-upd-${process.pid}`;
    const bundle = await vm.bundle('sleep', '100');
    await editConfig(bundle, (spec) => {
      spec.linux!.cgroupsPath = path;
      spec.linux!.resources = { memory: { limit: 512 * MiB }, cpu: { quota: 50_000, period: 100_000 } };
    });
    expect((await vm.vmrun(['create', '--bundle', bundle, 'cg4'])).exitCode).toBe(0);
    try {
      expect((await vm.vmrun(['start', 'cg4'])).exitCode).toBe(0);
      // The VM's guest: the restore image's, or the one 512 MiB boot cold.
      const guestMiB = (await new StateStore(vm.root).load('cg4')).guest!.memoryMiB;
      expect([imageShape().memoryMiB, 512 + GUEST_OVERHEAD_MIB]).toContain(guestMiB);
      /** The host cgroup's files for `change`, in this host's hierarchies (v1 here, v2 elsewhere), and what they hold. */
      const host = (change: HostCgroupChange) => hierarchies().flatMap((h) => changeFiles(h, change).map(([file, value]) => ({ file: join(h.mountPoint, path, file), value })));
      const hostNow = (change: HostCgroupChange) => host(change).map(({ file }) => readFileSync(file, 'utf8').trim());
      // The container's own cgroup, wherever its cgroup namespace roots its view.
      const guest = async () => (await vm.vmrun(['exec', 'cg4', 'sh', '-c', 'cd /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup) && cat memory.max cpu.max cpu.weight pids.max'])).stdout.split('\n');

      // Docker's call shape, lowering memory: the host cgroup gets the guest create would boot for 256 MiB plus QEMU's own.
      const docker = {
        memory: { limit: 256 * MiB, reservation: 0, swap: 512 * MiB, kernel: 0, kernelTCP: 0 },
        cpu: { shares: 512, quota: 20_000, period: 50_000, realtimeRuntime: 0, realtimePeriod: 0 },
        blockIO: { weight: 0 },
        pids: { limit: 300 },
      };
      expect(await vm.vmrun(['update', '--resources', '-', 'cg4'], { input: JSON.stringify(docker) })).toMatchObject({ exitCode: 0, stderr: '' });
      const lowered = { memoryBytes: (Math.max(256 + GUEST_OVERHEAD_MIB, MIN_GUEST_MEMORY_MIB) + VMM_OVERHEAD_MIB) * MiB, cpuShares: 512, cpuQuota: 20_000, cpuPeriod: 50_000, pids: 300 };
      expect(host(lowered).length).toBeGreaterThanOrEqual(4);
      expect(hostNow(lowered)).toEqual(host(lowered).map(({ value }) => value));
      expect(await guest()).toEqual([String(256 * MiB), '20000 50000', '20', '300']);

      // More than the guest has: a restored guest grows to it, a booted one does not; the host
      // cgroup holds the guest there is, and no more.
      expect((await vm.vmrun(['update', '--memory', '2g', '--cpu-quota', '30000', '--pids-limit', '20', 'cg4'])).exitCode).toBe(0);
      const grown = (await new StateStore(vm.root).load('cg4')).guest!;
      expect(grown.memoryMiB).toBe(grown.start === 'restored' ? guestMiB + 256 : guestMiB); // 192 MiB more, in 128 MiB blocks
      const raised = { memoryBytes: (Math.min(2048 + GUEST_OVERHEAD_MIB, grown.memoryMiB) + VMM_OVERHEAD_MIB) * MiB, cpuQuota: 30_000, cpuPeriod: 50_000, pids: VMM_TASKS };
      expect(hostNow(raised)).toEqual(host(raised).map(({ value }) => value));
      expect(await guest()).toEqual([String(2048 * MiB), '30000 50000', '20', '20']);

      const refused = await vm.vmrun(['update', '--memory', '300m', '--cpu-share', '1', 'cg4']);
      expect(refused).toMatchObject({ exitCode: 1, stderr: '--cpu-share: the minimum allowed cpu-shares is 2' });
      expect(hostNow(raised)).toEqual(host(raised).map(({ value }) => value));
      expect(await guest()).toEqual([String(2048 * MiB), '30000 50000', '20', '20']);
    } finally {
      expect((await vm.vmrun(['delete', '--force', 'cg4'])).exitCode).toBe(0);
    }
    for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, path))).toBe(false);
    for (const h of hierarchies()) rmdirSync(join(h.mountPoint, '/vmrun-test'));
  });

  test("a create of a taken id fails and leaves the cgroup of the container that has it as it was", async () => {
    const path = `/vmrun-test/cg-taken-${process.pid}`;
    const first = await vm.bundle('sleep', '100');
    await editConfig(first, (spec) => {
      spec.linux!.cgroupsPath = path;
      spec.linux!.resources = { memory: { limit: 512 * MiB }, cpu: { quota: 50_000, period: 100_000 } };
    });
    expect((await vm.vmrun(['create', '--bundle', first, 'cg3'])).exitCode).toBe(0);
    try {
      // What a create with the second bundle's limits would write, in this host's hierarchies (v1 here, v2 elsewhere).
      const second = await vm.bundle('sleep', '100');
      const limits = { memoryBytes: 1024 * MiB, cpuQuota: 20_000, cpuPeriod: 50_000 };
      await editConfig(second, (spec) => {
        spec.linux!.cgroupsPath = path;
        spec.linux!.resources = { memory: { limit: 1024 * MiB }, cpu: { quota: limits.cpuQuota, period: limits.cpuPeriod } };
      });
      const files = hierarchies().flatMap((h) => limitFiles(h, limits).map(([file]) => join(h.mountPoint, path, file)));
      expect(files.length).toBeGreaterThanOrEqual(2);
      const before = files.map((f) => readFileSync(f, 'utf8'));

      const again = await vm.vmrun(['create', '--bundle', second, 'cg3']);
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toMatch(/container "cg3" already exists/);
      expect(files.map((f) => readFileSync(f, 'utf8'))).toEqual(before);
      for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, path))).toBe(true);
      expect(await vm.state('cg3')).toMatchObject({ status: 'created' });
    } finally {
      expect((await vm.vmrun(['delete', '--force', 'cg3'])).exitCode).toBe(0);
    }
    for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, path))).toBe(false);
    for (const h of hierarchies()) rmdirSync(join(h.mountPoint, '/vmrun-test'));
  });

  test('with a cpuset, the VM is still restored, and the container runs on as many vCPUs', async () => {
    const path = `/vmrun-test/cg-cpus-${process.pid}`;
    const first = ownCpus()!.split(/[,-]/)[0]!;
    const bundle = await vm.bundle('nproc');
    await editConfig(bundle, (spec) => {
      spec.linux!.cgroupsPath = path;
      spec.linux!.resources = { cpu: { cpus: first } };
    });
    const log = join(await mkdtemp(join(tmpdir(), 'vmrun-cg-')), 'log');
    const r = await vm.vmrun(['--log', log, 'run', '--bundle', bundle, 'cg5']);
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: '1' });
    expect(await readFile(log, 'utf8')).toContain('restoring the VM from the restore image');
    for (const h of hierarchies()) expect(existsSync(join(h.mountPoint, path))).toBe(false);
    for (const h of hierarchies()) rmdirSync(join(h.mountPoint, '/vmrun-test'));
  });

  test("QEMU keeps the CPU affinity of vmrun's caller: libvirt widens nothing", async () => {
    const bundle = await vm.bundle('sleep', '100');
    const create = spawnSync('taskset', ['-c', '0', VMRUN, '--root', vm.root, 'create', '--bundle', bundle, 'cg2'], { stdio: 'ignore' });
    try {
      expect(create.status).toBe(0);
      const record = JSON.parse(await readFile(join(vm.root, 'cg2', 'state.json'), 'utf8'));
      for (const pid of [record.monitor.pid, record.qemu.pid]) {
        expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Cpus_allowed_list:\s+0$/m);
      }
    } finally {
      expect((await vm.vmrun(['delete', '--force', 'cg2'])).exitCode).toBe(0);
    }
  });
});

// A container's VM restored from vmrun's image of a booted guest (src/guest/restore-image.ts):
// the default where the image fits. Each restored guest must still be a machine of its own.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { StateStore } from '../../src/state/store.js';
import { ownCpus } from '../../src/host/limits.js';
import { imageShape } from '../../src/guest/restore-image.js';
import { cpusInGuest, formatCpuset } from '../../src/oci/resource-update.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const MiB = 1024 * 1024;
/** What tells one machine from another, and its clock, as the container sees them. */
const IDENTITY = 'cat /proc/sys/kernel/random/boot_id; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; hostname; date +%s';

afterEach(() => {
  delete process.env.VMRUN_BOOT;
  delete process.env.VMRUN_DEFAULT_MEMORY;
});

async function createWithLog(id: string, bundle: string): Promise<string> {
  const log = join(await mkdtemp(join(tmpdir(), 'vmrun-restore-')), 'log');
  const r = await vm.vmrun(['--log', log, 'create', '--bundle', bundle, id]);
  expect(r.exitCode, r.stderr).toBe(0);
  return log;
}

async function identity(id: string): Promise<{ bootId: string; random: string; hostname: string; clock: number }> {
  const r = await vm.vmrun(['exec', id, 'sh', '-c', IDENTITY]);
  expect(r.exitCode, r.stderr).toBe(0);
  const [bootId = '', random = '', hostname = '', clock = ''] = r.stdout.split('\n');
  return { bootId, random, hostname, clock: Number(clock) };
}

describe('a VM restored from the image', () => {
  test('is the default, and each is its own machine: boot id, random bytes, hostname and the wall clock', async () => {
    const seen = [];
    for (const [id, hostname] of [['rs1', 'first'], ['rs2', 'second']] as const) {
      const bundle = await vm.bundle('sleep', '600');
      await editConfig(bundle, (c) => {
        c.hostname = hostname;
      });
      const log = await createWithLog(id, bundle);
      expect(await readFile(log, 'utf8')).toContain('restoring the VM from the restore image');
      const record = await new StateStore(vm.root).load(id);
      expect(record.guest?.start).toBe('restored');
      const seenNow = await identity(id);
      expect(seenNow.hostname).toBe(hostname);
      // The guest's clock is the host's (date prints whole seconds), not the image's.
      expect(Math.abs(seenNow.clock - Date.now() / 1000)).toBeLessThan(3);
      expect(record.guest?.bootId).toBe(seenNow.bootId);
      seen.push(seenNow);
    }
    const host = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    expect(new Set([host, ...seen.map((s) => s.bootId)]).size).toBe(3);
    expect(seen[0]!.random).toMatch(/^[0-9a-f]{64}$/);
    expect(seen[0]!.random).not.toBe(seen[1]!.random);
    for (const id of ['rs1', 'rs2']) expect((await vm.vmrun(['delete', '--force', id])).exitCode).toBe(0);
  });

  test("serves the container's root and binds over the shares plugged in after the restore", async () => {
    const bundle = await vm.bundle('sh', '-c', 'cat /etc/passwd | head -1; cat /shared/x; echo written > /shared/y');
    const host = await mkdtemp(join(tmpdir(), 'vmrun-restore-bind-'));
    await writeFile(join(host, 'x'), 'from the host\n');
    await editConfig(bundle, (c) => {
      c.mounts = [...(c.mounts ?? []), { destination: '/shared', type: 'bind', source: host, options: ['rbind', 'rw'] }];
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'rs3']);
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: 'root:x:0:0:root:/root:/bin/sh\nfrom the host' });
    expect(await readFile(join(host, 'y'), 'utf8')).toBe('written\n');
  });
});

describe('a VM restored for a container with limits', () => {
  test('is the image, and its cgroup in the guest holds the container to memory, quota and cpuset', async () => {
    // 300 MiB: more than the limit, far less than the image's guest has.
    const script = 'nproc; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/cpuset.cpus 2>/dev/null || echo all; dd if=/dev/zero of=/dev/null bs=300M count=1 2>/dev/null; echo "dd: $?"';
    const bundle = await vm.bundle('sh', '-c', script);
    const first = ownCpus()!.split(/[,-]/)[0]!;
    await editConfig(bundle, (c) => {
      c.linux = { ...c.linux, resources: { memory: { limit: 256 * MiB }, cpu: { quota: 50_000, period: 100_000, cpus: first } } };
    });
    const log = join(await mkdtemp(join(tmpdir(), 'vmrun-restore-')), 'log');
    const r = await vm.vmrun(['--log', log, 'run', '--bundle', bundle, 'rl1']);
    // A guest of more than one vCPU holds the container to one of them: the same number as on the host where it has it.
    const { vcpus } = imageShape();
    const cpuset = vcpus > 1 ? formatCpuset(cpusInGuest([Number(first)], vcpus)) : 'all';
    expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: ['1', String(256 * MiB), '50000 100000', cpuset, 'dd: 137'].join('\n') });
    // The image's guest, whatever the limits: the default memory and a vCPU per CPU vmrun may use.
    const restored = (await readFile(log, 'utf8')).split('\n').find((l) => l.includes('restoring the VM from the restore image'));
    expect(restored).toContain(`memoryMiB=${imageShape().memoryMiB}`);
    expect(restored).toContain(`vcpus=${imageShape().vcpus}`);
  });

  test('with a memory limit above the image: the memory it needs more is plugged in and online before create returns', async () => {
    // One buffer of the image's whole memory: more than the image's guest has for a container,
    // less than the limit.
    const image = imageShape().memoryMiB;
    const script = `grep MemTotal /proc/meminfo; dd if=/dev/zero of=/dev/null bs=${image - 16}M count=1 2>/dev/null; echo "dd: $?"`;
    const bundle = await vm.bundle('sh', '-c', script);
    await editConfig(bundle, (c) => {
      c.linux = { ...c.linux, resources: { memory: { limit: (image + 256) * MiB } } };
    });
    const log = join(await mkdtemp(join(tmpdir(), 'vmrun-restore-')), 'log');
    const r = await vm.vmrun(['--log', log, 'run', '--bundle', bundle, 'rl2']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [memTotal = '', dd] = r.stdout.split('\n');
    expect(dd).toBe('dd: 0');
    // The guest: the image's, and the limit's 256 MiB and the guest's own 192 more, in 128 MiB blocks.
    expect(Number(/(\d+) kB/.exec(memTotal)![1]) / 1024).toBeGreaterThan(image + 256);
    const restored = (await readFile(log, 'utf8')).split('\n').find((l) => l.includes('restoring the VM from the restore image'));
    expect(restored).toContain(`memoryMiB=${image + 512}`);
  });
});

describe('a restored VM', () => {
  test('grows when update raises the memory limit above what it has, and the container may use it', async () => {
    const image = imageShape().memoryMiB;
    const bundle = await vm.bundle('sleep', '600');
    await editConfig(bundle, (c) => {
      c.linux = { ...c.linux, resources: { memory: { limit: 256 * MiB } } };
    });
    await createWithLog('ru1', bundle);
    try {
      expect((await vm.vmrun(['start', 'ru1'])).exitCode).toBe(0);
      const update = await vm.vmrun(['update', '--memory', `${image + 1024}m`, 'ru1']);
      expect(update, update.stderr).toMatchObject({ exitCode: 0, stderr: '' });
      // The limit and the guest's own 192 MiB more than the image, in 128 MiB blocks.
      expect((await new StateStore(vm.root).load('ru1')).guest?.memoryMiB).toBe(image + 1280);
      const script = `grep MemTotal /proc/meminfo; cat /sys/fs/cgroup/memory.max; dd if=/dev/zero of=/dev/null bs=${image + 256}M count=1 2>/dev/null; echo "dd: $?"`;
      const r = await vm.vmrun(['exec', 'ru1', 'sh', '-c', script]);
      const [memTotal = '', max, dd] = r.stdout.split('\n');
      expect(Number(/(\d+) kB/.exec(memTotal)![1]) / 1024).toBeGreaterThan(image + 1024);
      expect([max, dd]).toEqual([String((image + 1024) * MiB), 'dd: 0']);
    } finally {
      expect((await vm.vmrun(['delete', '--force', 'ru1'])).exitCode).toBe(0);
    }
  });
});

describe('a VM booted', () => {
  test('with VMRUN_BOOT=cold, saying so', async () => {
    process.env.VMRUN_BOOT = 'cold';
    const bundle = await vm.bundle('sleep', '600');
    const log = await createWithLog('rc1', bundle);
    expect(await readFile(log, 'utf8')).toMatch(/booting the VM.*notRestored="VMRUN_BOOT=cold"/);
    expect((await new StateStore(vm.root).load('rc1')).guest?.start).toBe('booted');
    const seen = await identity('rc1');
    expect(seen.hostname).toBe('vmrun');
    expect(Math.abs(seen.clock - Date.now() / 1000)).toBeLessThan(3);
    expect((await vm.vmrun(['delete', '--force', 'rc1'])).exitCode).toBe(0);
  });

  test('when the image does not fit: guests without limits are of another size (VMRUN_DEFAULT_MEMORY), saying so', async () => {
    process.env.VMRUN_DEFAULT_MEMORY = '1G';
    const bundle = await vm.bundle('sleep', '600');
    const log = await createWithLog('rc2', bundle);
    expect(await readFile(log, 'utf8')).toMatch(/booting the VM.*a guest without a memory limit has 1024 MiB here \(VMRUN_DEFAULT_MEMORY\)/);
    const record = await new StateStore(vm.root).load('rc2');
    expect(record.guest).toMatchObject({ start: 'booted', memoryMiB: 1024 });
    expect((await vm.vmrun(['delete', '--force', 'rc2'])).exitCode).toBe(0);
  });

  test('refuses a VMRUN_BOOT it does not know, naming it, before anything is made', async () => {
    process.env.VMRUN_BOOT = 'warm';
    const bundle = await vm.bundle('true');
    const r = await vm.vmrun(['create', '--bundle', bundle, 'rc3']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('VMRUN_BOOT=warm: expected cold or restore');
    expect((await vm.vmrun(['state', 'rc3'])).exitCode).not.toBe(0);
    expect(vm.processesOf('rc3')).toEqual([]);
  });
});

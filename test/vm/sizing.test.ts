// How big a container's VM is: as big as runc would let the container be, and no dearer than
// the memory the guest touches.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ownCpus } from '../../src/host/limits.js';
import { cpusetSize, parseDefaultMemory } from '../../src/vm/sizing.js';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const MiB = 1024 * 1024;
// One 600 MiB buffer, touched whole: more than the 256 MiB limitless containers once got.
const DD = 'dd if=/dev/zero of=/dev/null bs=600M count=1 2>/dev/null; echo "dd: $?"';

/** QEMU's proportional share of host memory, in MiB (what the host pays for this VM). */
const pssMiB = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;

describe('a container without a memory limit', () => {
  test('allocates as under runc, in a guest of the one default size', async () => {
    const r = await vm.vmrun(['run', '--bundle', await vm.bundle('sh', '-c', DD), 'sz1']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('dd: 0');
  });

  test('gives the host back what it frees, and its size is in the record', async () => {
    const bundle = await vm.bundle('sh', '-c', `${DD} > /dd; sleep 600`);
    expect((await vm.vmrun(['create', '--bundle', bundle, 'sz2'])).exitCode).toBe(0);
    const record = JSON.parse(await readFile(join(vm.root, 'sz2', 'state.json'), 'utf8'));
    expect(record.guest.memoryMiB).toBe(Math.min(parseDefaultMemory(process.env.VMRUN_DEFAULT_MEMORY), Math.floor(totalmem() / MiB)));
    const qemu = record.qemu.pid as number;
    const idle = pssMiB(qemu); // created: booted, its process waiting for start
    expect((await vm.vmrun(['start', 'sz2'])).exitCode).toBe(0);
    const dd = join(bundle, 'rootfs', 'dd');
    await until(() => existsSync(dd) && readFileSync(dd, 'utf8') === 'dd: 0\n');
    // The 600 MiB dd touched are reported free and discarded: back near where it was idle.
    await until(() => pssMiB(qemu) < idle + 150, 60_000);
    expect((await vm.vmrun(['delete', '--force', 'sz2'])).exitCode).toBe(0);
  });
});

describe('a container with a memory limit', () => {
  test('is still held to it', async () => {
    // 300 MiB: more than the limit, less than its guest has (a bigger mmap is refused outright).
    const bundle = await vm.bundle('sh', '-c', DD.replace('600M', '300M'));
    await editConfig(bundle, (spec) => {
      spec.linux!.resources = { memory: { limit: 256 * MiB } };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'sz3']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('dd: 137');
  });
});

describe("a container's vCPUs", () => {
  // vmrun runs on this process's CPUs (its affinity, its cpuset).
  const own = ownCpus()!;
  test('without a CPU limit are the CPUs it may run on, as nproc sees them under runc', async () => {
    const r = await vm.vmrun(['run', '--bundle', await vm.bundle('nproc'), 'sz4']);
    expect(r.exitCode).toBe(0);
    expect(Number(r.stdout)).toBe(cpusetSize(own));
  });

  // The guest boots on one vCPU and gets the others plugged in before create returns.
  const allOnline = (n: number) => (n === 1 ? '0' : `0-${n - 1}`);
  test('are all online when the container starts', async () => {
    const r = await vm.vmrun(['run', '--bundle', await vm.bundle('cat', '/sys/devices/system/cpu/online'), 'sz6']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(allOnline(cpusetSize(own)));
  });

  test('with a CPU quota are as many as it allows, all online', async () => {
    const n = cpusetSize(own);
    const bundle = await vm.bundle('sh', '-c', 'nproc; cat /sys/devices/system/cpu/online');
    await editConfig(bundle, (spec) => {
      spec.linux!.resources = { cpu: { quota: n * 100_000, period: 100_000 } };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'sz7']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${n}\n${allOnline(n)}`);
  });

  test('with linux.resources.cpu.cpus are the CPUs of that set', async () => {
    const first = own.split(/[,-]/)[0]!;
    const bundle = await vm.bundle('nproc');
    await editConfig(bundle, (spec) => {
      spec.linux!.resources = { cpu: { cpus: first } };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'sz5']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('1');
  });
});

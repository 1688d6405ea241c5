import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import {
  cpusetSize,
  DEFAULT_GUEST_MEMORY_MIB,
  GUEST_OVERHEAD_MIB,
  guestSize,
  hostPidsLimit,
  MIN_CONTAINER_MEMORY_MIB,
  MAX_VCPUS,
  MIN_GUEST_MEMORY_MIB,
  parseDefaultMemory,
  VMM_TASKS,
} from '../src/vm/sizing.js';

const host = { cpus: 4, memoryMiB: 8192, defaultGuestMemoryMiB: DEFAULT_GUEST_MEMORY_MIB };
const MiB = 1024 * 1024;

function withResources(resources: NonNullable<Spec['linux']>['resources']): Spec {
  const spec = defaultSpec();
  spec.linux!.resources = resources;
  return spec;
}

describe('guest memory', () => {
  test('without a limit is the default guest size, the same for every such container', () => {
    const size = guestSize(defaultSpec(), host);
    expect(size.memoryMiB).toBe(DEFAULT_GUEST_MEMORY_MIB);
    expect(size.containerMemoryMiB).toBe(DEFAULT_GUEST_MEMORY_MIB - GUEST_OVERHEAD_MIB);
    expect(size.reasons.join()).toMatch(/no limit set/);
    // More than the 256 MiB containers once got, so that `dd bs=1G` fits as under runc.
    expect(size.containerMemoryMiB).toBeGreaterThan(1024);
    const other = withResources({ cpu: { shares: 512 }, pids: { limit: 100 } });
    expect(guestSize(other, host).memoryMiB).toBe(size.memoryMiB);
  });

  test('treats -1 (unlimited) as no limit', () => {
    expect(guestSize(withResources({ memory: { limit: -1 } }), host).memoryMiB).toBe(DEFAULT_GUEST_MEMORY_MIB);
  });

  test('without a limit follows VMRUN_DEFAULT_MEMORY, bounded by the host', () => {
    expect(guestSize(defaultSpec(), { ...host, defaultGuestMemoryMiB: 4096 }).memoryMiB).toBe(4096);
    const small = guestSize(defaultSpec(), { ...host, memoryMiB: 1024, defaultGuestMemoryMiB: 4096 });
    expect(small.memoryMiB).toBe(1024);
  });

  test('gives the container at least its limit, rounded up to whole MiB, with the reason', () => {
    const size = guestSize(withResources({ memory: { limit: 300 * MiB + 1 } }), host);
    expect(size.containerMemoryMiB).toBe(301);
    expect(size.memoryMiB).toBe(301 + GUEST_OVERHEAD_MIB);
    expect(size.reasons.join()).toMatch(/rounded up to 301 MiB/);
  });

  test('raises a tiny limit to the minimum and lowers a huge one to what the host has', () => {
    const tiny = guestSize(withResources({ memory: { limit: 4 * MiB } }), host);
    expect(tiny.containerMemoryMiB).toBe(MIN_CONTAINER_MEMORY_MIB);
    expect(tiny.reasons.join()).toMatch(/raised to the minimum/);
    // The guest itself never gets less than it boots in.
    expect(tiny.memoryMiB).toBe(MIN_GUEST_MEMORY_MIB);
    expect(tiny.reasons.join()).toMatch(/the least it boots in/);
    const huge = guestSize(withResources({ memory: { limit: 1024 * 1024 * MiB } }), host);
    expect(huge.memoryMiB).toBe(host.memoryMiB);
    expect(huge.reasons.join()).toMatch(/lowered to/);
  });
});

describe('VMRUN_DEFAULT_MEMORY', () => {
  test('takes binary sizes, a bare number in MiB, and defaults when unset or empty', () => {
    expect(parseDefaultMemory(undefined)).toBe(DEFAULT_GUEST_MEMORY_MIB);
    expect(parseDefaultMemory(' ')).toBe(DEFAULT_GUEST_MEMORY_MIB);
    expect(parseDefaultMemory('4G')).toBe(4096);
    expect(parseDefaultMemory('4g')).toBe(4096);
    expect(parseDefaultMemory('1536M')).toBe(1536);
    expect(parseDefaultMemory('1536MiB')).toBe(1536);
    expect(parseDefaultMemory('3072')).toBe(3072);
    expect(parseDefaultMemory('1T')).toBe(1024 * 1024);
    expect(parseDefaultMemory('1048577K')).toBe(1025);
  });

  test('refuses what is not a size, or too small to boot, naming the variable', () => {
    for (const bad of ['lots', '-1G', '1.5G', '2X', '2b']) {
      expect(() => parseDefaultMemory(bad)).toThrow(/^VMRUN_DEFAULT_MEMORY: .* is not a size/);
    }
    expect(() => parseDefaultMemory('100M')).toThrow(`VMRUN_DEFAULT_MEMORY: 100M is less than the ${MIN_GUEST_MEMORY_MIB} MiB a guest boots in`);
  });
});

describe('guest vCPUs', () => {
  test('without a CPU limit are the CPUs vmrun may run on', () => {
    const size = guestSize(defaultSpec(), host);
    expect(size.vcpus).toBe(host.cpus);
    expect(size.reasons.join()).toMatch(/the CPUs vmrun may run on/);
    expect(guestSize(withResources({ cpu: { shares: 512 } }), { ...host, cpus: 3 }).vcpus).toBe(3);
  });

  test('come from quota/period, rounded up', () => {
    expect(guestSize(withResources({ cpu: { quota: 250_000, period: 100_000 } }), host).vcpus).toBe(3);
    expect(guestSize(withResources({ cpu: { quota: 50_000 } }), host).vcpus).toBe(1);
  });

  test('come from the cpuset size, the smaller of the two when both are set', () => {
    expect(guestSize(withResources({ cpu: { cpus: '0-1' } }), host).vcpus).toBe(2);
    expect(guestSize(withResources({ cpu: { cpus: '0-3', quota: 200_000, period: 100_000 } }), host).vcpus).toBe(2);
  });

  test("never exceed what QEMU's machine takes, however many CPUs the host has", () => {
    const size = guestSize(defaultSpec(), { ...host, cpus: 512 });
    expect(size.vcpus).toBe(MAX_VCPUS);
    expect(size.reasons.join()).toMatch(new RegExp(`lowered to ${MAX_VCPUS}, the most a guest has`));
  });

  test('never exceed the host', () => {
    const size = guestSize(withResources({ cpu: { quota: 1_600_000, period: 100_000 } }), host);
    expect(size.vcpus).toBe(4);
    expect(size.reasons.join()).toMatch(/lowered to the host's 4 CPUs/);
  });

  test('count cpuset lists with ranges, singles and overlaps', () => {
    expect(cpusetSize('0-3,6')).toBe(5);
    expect(cpusetSize('0-3,2-5')).toBe(6);
    expect(cpusetSize('7')).toBe(1);
    expect(cpusetSize('0-4095')).toBe(4096);
    expect(cpusetSize('')).toBe(0);
  });
});

describe('host pids limit', () => {
  test("is the spec's value, unless below the VM's own tasks: then the margin, and by how much", () => {
    expect(hostPidsLimit(VMM_TASKS + 1000)).toEqual({ pids: VMM_TASKS + 1000, raisedBy: 0 });
    expect(hostPidsLimit(VMM_TASKS)).toEqual({ pids: VMM_TASKS, raisedBy: 0 });
    expect(hostPidsLimit(20)).toEqual({ pids: VMM_TASKS, raisedBy: VMM_TASKS - 20 });
  });
});

describe("a CRI pod's sandbox", () => {
  const sandbox = (annotations: Record<string, string>) => {
    const spec = withResources({ cpu: { shares: 2 } });
    spec.annotations = { 'io.kubernetes.cri.container-type': 'sandbox', ...annotations };
    return spec;
  };

  test("is sized for the pod from containerd's annotations", () => {
    const size = guestSize(sandbox({ 'io.kubernetes.cri.sandbox-memory': String(512 * MiB), 'io.kubernetes.cri.sandbox-cpu-quota': '150000', 'io.kubernetes.cri.sandbox-cpu-period': '100000' }), host);
    expect(size).toMatchObject({ containerMemoryMiB: 512, memoryMiB: 512 + GUEST_OVERHEAD_MIB, vcpus: 2 });
    expect(size.reasons.join()).toMatch(/sized for the pod/);
  });

  test('without them, or with 0 (unlimited), gets the default guest, as a container without limits', () => {
    for (const a of [{} as Record<string, string>, { 'io.kubernetes.cri.sandbox-memory': '0', 'io.kubernetes.cri.sandbox-cpu-quota': '0', 'io.kubernetes.cri.sandbox-cpu-period': '100000' }]) {
      expect(guestSize(sandbox(a), host)).toMatchObject({ memoryMiB: DEFAULT_GUEST_MEMORY_MIB, vcpus: host.cpus });
    }
  });

  test("a workload container's annotations do not size anything", () => {
    const spec = sandbox({ 'io.kubernetes.cri.sandbox-memory': String(512 * MiB) });
    spec.annotations!['io.kubernetes.cri.container-type'] = 'container';
    expect(guestSize(spec, host).memoryMiB).toBe(DEFAULT_GUEST_MEMORY_MIB);
  });
});

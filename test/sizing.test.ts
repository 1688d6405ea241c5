import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import {
  cpusetSize,
  DEFAULT_CONTAINER_MEMORY_MIB,
  GUEST_OVERHEAD_MIB,
  guestSize,
  hostPidsLimit,
  MIN_CONTAINER_MEMORY_MIB,
  MIN_GUEST_MEMORY_MIB,
  VMM_TASKS,
} from '../src/vm/sizing.js';

const host = { cpus: 4, memoryMiB: 8192 };
const MiB = 1024 * 1024;

function withResources(resources: NonNullable<Spec['linux']>['resources']): Spec {
  const spec = defaultSpec();
  spec.linux!.resources = resources;
  return spec;
}

describe('guest memory', () => {
  test('defaults to 256 MiB for the container, plus the guest overhead', () => {
    const size = guestSize(defaultSpec(), host);
    expect(size).toMatchObject({ containerMemoryMiB: DEFAULT_CONTAINER_MEMORY_MIB, vcpus: 1 });
    expect(size.memoryMiB).toBe(DEFAULT_CONTAINER_MEMORY_MIB + GUEST_OVERHEAD_MIB);
    expect(size.reasons.join()).toMatch(/no limit set/);
  });

  test('treats -1 (unlimited) as no limit', () => {
    expect(guestSize(withResources({ memory: { limit: -1 } }), host).containerMemoryMiB).toBe(DEFAULT_CONTAINER_MEMORY_MIB);
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

describe('guest vCPUs', () => {
  test('come from quota/period, rounded up', () => {
    expect(guestSize(withResources({ cpu: { quota: 250_000, period: 100_000 } }), host).vcpus).toBe(3);
    expect(guestSize(withResources({ cpu: { quota: 50_000 } }), host).vcpus).toBe(1);
  });

  test('come from the cpuset size, the smaller of the two when both are set', () => {
    expect(guestSize(withResources({ cpu: { cpus: '0-1' } }), host).vcpus).toBe(2);
    expect(guestSize(withResources({ cpu: { cpus: '0-3', quota: 200_000, period: 100_000 } }), host).vcpus).toBe(2);
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

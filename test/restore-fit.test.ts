// Which guests the restore image serves: its own shape, and any smaller one whose limits the
// container's cgroup in the guest holds it to.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import type { GuestAssets } from '../src/guest/ready.js';
import { imageKey, whyNotRestored, type RestoreImage } from '../src/guest/restore-image.js';
import { GuestMemory } from '../src/monitor/guest-memory.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { cpusForContainer } from '../src/oci/resource-update.js';
import { MEMORY_SLOTS } from '../src/vm/domain-xml.js';
import { DEFAULT_GUEST_MEMORY_MIB, guestSize, type HostLimits } from '../src/vm/sizing.js';

const MiB = 1024 * 1024;
const host: HostLimits = { cpus: 2, memoryMiB: 24_000, defaultGuestMemoryMiB: DEFAULT_GUEST_MEMORY_MIB };
const assets: GuestAssets = {
  kernel: '/cache/vmlinux', initrd: '/cache/initrd.img', node: { path: '/cache/node.img', bytes: 96 * MiB },
  kernelPackage: 'linux-image-test', key: 'assets-key',
};
const caps = '/cache/caps/qemu-caps-key';
const open = guestSize(defaultSpec(), host);
const shape = { memoryMiB: open.memoryMiB, vcpus: open.vcpus, growsToMiB: host.memoryMiB };
const image: RestoreImage = { file: '/cache/restore/image.save', key: imageKey(assets, 'tcg', shape, caps), accel: 'tcg', ...shape };

function spec(resources: NonNullable<Spec['linux']>['resources'], annotations?: Record<string, string>): Spec {
  const s = defaultSpec();
  s.linux!.resources = resources;
  if (annotations) s.annotations = annotations;
  return s;
}
const why = (s: Spec, limits: HostLimits = host) => whyNotRestored(image, assets, 'tcg', guestSize(s, limits), caps, false);

describe('the restore image serves', () => {
  test('a guest of its own shape: a container without limits', () => {
    expect(why(defaultSpec())).toBeUndefined();
  });

  test('a smaller guest, held by its cgroup: a memory limit, a CPU quota, a cpuset, a pod sized by its annotations', () => {
    expect(guestSize(spec({ memory: { limit: 256 * MiB } }), host).memoryMiB).toBeLessThan(image.memoryMiB);
    expect(why(spec({ memory: { limit: 256 * MiB } }))).toBeUndefined();
    expect(why(spec({ memory: { limit: 4 * MiB } }))).toBeUndefined();
    expect(why(spec({ cpu: { quota: 50_000, period: 100_000 } }))).toBeUndefined();
    expect(why(spec({ cpu: { cpus: '1' } }))).toBeUndefined();
    expect(why(spec({}, { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-memory': String(512 * MiB) }))).toBeUndefined();
  });

  test('fewer CPUs to run on than at setup: a host cgroup\'s cpuset; the container gets as many vCPUs', () => {
    expect(why(spec({ cpu: { cpus: '1' } }), { ...host, cpus: 1 })).toBeUndefined();
    expect(why(defaultSpec(), { ...host, cpus: 1 })).toBeUndefined();
    expect(cpusForContainer('1', 1, 2)).toEqual([1]);
    expect(cpusForContainer('5', 1, 2)).toEqual([0]);
    expect(cpusForContainer(undefined, 1, 2)).toEqual([0]);
    expect(cpusForContainer('0-3', 1, 2)).toEqual([0]);
    expect(cpusForContainer('0-3', 2, 2)).toBeUndefined();
    expect(cpusForContainer(undefined, 2, 2)).toBeUndefined();
  });
});

describe('a guest bigger than the image', () => {
  test('is restored, and gets the rest plugged in, in whole 128 MiB blocks', () => {
    const big = guestSize(spec({ memory: { limit: image.memoryMiB * MiB } }), host);
    expect(big.memoryMiB).toBe(image.memoryMiB + 192);
    expect(why(spec({ memory: { limit: image.memoryMiB * MiB } }))).toBeUndefined();
    const memory = new GuestMemory(image.memoryMiB, image.growsToMiB, assets.node);
    expect(memory.toAdd(big.memoryMiB)).toBe(256);
    expect(memory.toAdd(image.memoryMiB + 128)).toBe(128);
    expect(memory.toAdd(image.memoryMiB)).toBe(0);
    expect(memory.toAdd(352)).toBe(0);
  });

  test('grows DIMM by DIMM, each after the last, up to what its domain allows and as many as it has slots', async () => {
    const memory = new GuestMemory(2048, 2048 + 1024, assets.node);
    const attached: string[] = [];
    const port = { dir: await mkdtemp(join(tmpdir(), 'vmrun-memory-')), attachDevice: async (file: string) => void attached.push(await readFile(file, 'utf8')) };
    await memory.plug(memory.toAdd(2048 + 200), port);
    expect(memory.sizeMiB).toBe(2048 + 256);
    expect(memory.toAdd(8192)).toBe(768); // no more than the domain's room
    await memory.plug(memory.toAdd(8192), port);
    expect(memory.sizeMiB).toBe(3072);
    expect(memory.toAdd(8192)).toBe(0);
    expect(attached.map((x) => /slot='(\d+)' base='(0x[0-9a-f]+)'/.exec(x)!.slice(1).join(' '))).toEqual(['0 0x140000000', '1 0x150000000']);
    expect(attached.map((x) => /<size unit='MiB'>(\d+)/.exec(x)![1])).toEqual(['256', '768']);
    await memory.plug(0, port);
    expect(attached).toHaveLength(2);
    const many = new GuestMemory(2048, 24_000, assets.node);
    for (let i = 0; i < MEMORY_SLOTS; i++) await many.plug(many.toAdd(many.sizeMiB + 128), port);
    expect(many.toAdd(many.sizeMiB + 128)).toBe(0);
  });

  test('up to what it may grow to: the host memory setup saw', () => {
    const small: RestoreImage = { ...image, growsToMiB: 4096 };
    expect(whyNotRestored(small, assets, 'tcg', guestSize(spec({ memory: { limit: 8192 * MiB } }), host), caps, false))
      .toBe(`the guest's ${8192 + 192} MiB are more than the restore image's guest can grow to (4096 MiB)`);
  });
});

describe('the restore image does not serve, saying why', () => {
  test('a guest without limits of another shape: VMRUN_DEFAULT_MEMORY, or more CPUs to run on than at setup', () => {
    expect(why(defaultSpec(), { ...host, defaultGuestMemoryMiB: 1024 })).toMatch(/^a guest without a memory limit has 1024 MiB here \(VMRUN_DEFAULT_MEMORY\), not the restore image's 2048 MiB$/);
    // Even with a limit: without it, the container would have had another guest.
    expect(why(spec({ memory: { limit: 256 * MiB } }), { ...host, defaultGuestMemoryMiB: 1024 })).toMatch(/VMRUN_DEFAULT_MEMORY/);
    expect(why(defaultSpec(), { ...host, cpus: 4 })).toBe("vmrun may run on 4 CPUs here, more than the restore image's guest has (2)");
  });

  test('another accelerator, a user-mode network card, or an image of other inputs', () => {
    expect(whyNotRestored(image, assets, 'kvm', open, caps, false)).toBe('the restore image is for tcg');
    expect(whyNotRestored(image, assets, 'tcg', open, caps, true)).toMatch(/user-mode network card/);
    expect(whyNotRestored(image, { ...assets, key: 'other' }, 'tcg', open, caps, false)).toMatch(/`vmrun setup` makes it again/);
    expect(whyNotRestored(undefined, assets, 'tcg', open, caps, false)).toMatch(/there is no restore image/);
  });
});

// Which guests the restore image serves: its own shape, and any smaller one whose limits the
// container's cgroup in the guest holds it to.
import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import type { GuestAssets } from '../src/guest/ready.js';
import { imageKey, memoryToAdd, whyNotRestored, type RestoreImage } from '../src/guest/restore-image.js';
import { defaultSpec } from '../src/oci/default-spec.js';
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
});

describe('a guest bigger than the image', () => {
  test('is restored, and gets the rest plugged in, in whole 128 MiB blocks', () => {
    const big = guestSize(spec({ memory: { limit: image.memoryMiB * MiB } }), host);
    expect(big.memoryMiB).toBe(image.memoryMiB + 192);
    expect(why(spec({ memory: { limit: image.memoryMiB * MiB } }))).toBeUndefined();
    expect(memoryToAdd(image, big.memoryMiB)).toBe(256);
    expect(memoryToAdd(image, image.memoryMiB + 128)).toBe(128);
    expect(memoryToAdd(image, image.memoryMiB)).toBe(0);
    expect(memoryToAdd(image, 352)).toBe(0);
  });

  test('up to what it may grow to: the host memory setup saw', () => {
    const small: RestoreImage = { ...image, growsToMiB: 4096 };
    expect(whyNotRestored(small, assets, 'tcg', guestSize(spec({ memory: { limit: 8192 * MiB } }), host), caps, false))
      .toBe(`the guest's ${8192 + 192} MiB are more than the restore image's guest can grow to (4096 MiB)`);
  });
});

describe('the restore image does not serve, saying why', () => {
  test('a guest without limits of another shape: VMRUN_DEFAULT_MEMORY, or fewer CPUs to run on', () => {
    expect(why(defaultSpec(), { ...host, defaultGuestMemoryMiB: 1024 })).toMatch(/^a guest without a memory limit has 1024 MiB here \(VMRUN_DEFAULT_MEMORY\), not the restore image's 2048 MiB$/);
    // Even with a limit: without it, the container would have had another guest.
    expect(why(spec({ memory: { limit: 256 * MiB } }), { ...host, defaultGuestMemoryMiB: 1024 })).toMatch(/VMRUN_DEFAULT_MEMORY/);
    expect(why(spec({ cpu: { quota: 50_000, period: 100_000 } }), { ...host, cpus: 1 })).toBe("vmrun may run on 1 CPUs here, not the restore image's 2");
  });

  test('another accelerator, a user-mode network card, or an image of other inputs', () => {
    expect(whyNotRestored(image, assets, 'kvm', open, caps, false)).toBe('the restore image is for tcg');
    expect(whyNotRestored(image, assets, 'tcg', open, caps, true)).toMatch(/user-mode network card/);
    expect(whyNotRestored(image, { ...assets, key: 'other' }, 'tcg', open, caps, false)).toMatch(/`vmrun setup` makes it again/);
    expect(whyNotRestored(undefined, assets, 'tcg', open, caps, false)).toMatch(/there is no restore image/);
  });
});

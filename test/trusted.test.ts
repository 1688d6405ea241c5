// What vmrun executes or boots from its cache must be root's alone: a helper another user could
// have written is built again, a guest asset is refused, a folder others may write is refused.
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { readyAssets } from '../src/guest/ready.js';
import { hostHelper } from '../src/host/helpers.js';
import { canReadWrite, secureCacheDir, unreadableBy } from '../src/host/privilege.js';
import { untrustedPath } from '../src/host/trusted.js';
import { prepareRoot } from '../src/vm/libvirt.js';
import { existsSync } from 'node:fs';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vmrun-trust-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('trusted paths', () => {
  test("root's file in root's folders (a sticky /tmp above is fine)", async () => {
    await writeFile(join(dir, 'f'), 'x', { mode: 0o644 });
    expect(untrustedPath(join(dir, 'f'))).toBeUndefined();
  });

  test('a file its group or others may write, another owner, or a link is refused', async () => {
    const f = join(dir, 'f');
    await writeFile(f, 'x', { mode: 0o644 });
    await chmod(f, 0o664);
    expect(untrustedPath(f)).toMatch(/f is writable by its group \(mode 664\)/);
    await chmod(f, 0o646);
    expect(untrustedPath(f)).toMatch(/writable by others/);
    await chmod(f, 0o644);
    await chown(f, 1000, 0);
    expect(untrustedPath(f)).toMatch(/owned by uid 1000, not root/);
  });

  test('a folder above it that others may write is refused', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'f'), 'x', { mode: 0o644 });
    await chmod(join(dir, 'sub'), 0o777);
    expect(untrustedPath(join(dir, 'sub', 'f'))).toBe(`${join(dir, 'sub')} is writable by its group and others (mode 777)`);
  });
});

describe('the cache', () => {
  test('a group-writable helper is built again; a helper folder others may write is refused', async () => {
    const first = await hostHelper(dir, 'vmrun-nsexec');
    expect((await stat(first)).mode & 0o7777).toBe(0o755);
    const size = (await stat(first)).size;
    // What someone in its group could have done to it.
    await chmod(first, 0o775);
    await writeFile(first, '#!/bin/sh\necho planted\n');
    const again = await hostHelper(dir, 'vmrun-nsexec');
    expect(again).toBe(first);
    const after = await stat(again);
    expect(after.mode & 0o7777).toBe(0o755);
    expect(after.size).toBe(size); // compiled again, not the planted file
    await chmod(join(dir, 'host'), 0o777);
    await expect(hostHelper(dir, 'vmrun-nsexec')).rejects.toThrow(/refusing the helpers' folder: .*host is writable by its group and others/);
  }, 60_000); // two gcc builds, slow on a loaded machine

  test('guest assets another user could have written are refused, naming the file', async () => {
    const kernel = join(dir, 'vmlinux');
    const initrd = join(dir, 'initrd.img');
    await writeFile(kernel, 'k', { mode: 0o644 });
    await writeFile(initrd, 'i', { mode: 0o644 });
    const node = { path: join(dir, 'node.img'), bytes: 4 };
    await writeFile(node.path, 'node', { mode: 0o644 });
    await writeFile(join(dir, 'guest.json'), JSON.stringify({ kernel, initrd, node, kernelPackage: 'p', key: 'k' }), { mode: 0o644 });
    await expect(readyAssets(dir)).resolves.toMatchObject({ kernel, initrd, node });
    await chmod(node.path, 0o664);
    await expect(readyAssets(dir)).rejects.toThrow(`refusing the guest's node disk: ${node.path} is writable by its group (mode 664)`);
    await chmod(node.path, 0o644);
    await chmod(initrd, 0o666);
    await expect(readyAssets(dir)).rejects.toThrow(`refusing the guest initramfs: ${initrd} is writable by its group and others (mode 666); run \`vmrun setup\` to make it again`);
    await chmod(initrd, 0o644);
    await chmod(join(dir, 'guest.json'), 0o664);
    await expect(readyAssets(dir)).rejects.toThrow(/refusing the guest assets record/);
  });

  test('QEMU capabilities another user could have written are not seeded into a libvirt root, and go', async () => {
    const caps = join(dir, 'caps');
    await mkdir(caps, { mode: 0o755 });
    await writeFile(join(caps, 'qemu.xml'), '<qemuCaps/>', { mode: 0o600 });
    expect(await prepareRoot(join(dir, 'root1'), caps)).toEqual({ seeded: true });
    await chmod(join(caps, 'qemu.xml'), 0o620);
    expect(await prepareRoot(join(dir, 'root2'), caps)).toEqual({ seeded: false });
    expect(existsSync(caps)).toBe(false); // the next probe's result is kept in its place
    // The root itself: QEMU's account may pass, not look in.
    expect((await stat(join(dir, 'root2'))).mode & 0o7777).toBe(0o710);
  });

  test('setup makes the cache 0755 and root-only; a cache of another owner it cannot fix', async () => {
    const cache = join(dir, 'cache');
    expect(await secureCacheDir(cache, true)).toEqual({});
    expect(await secureCacheDir(cache, false)).toEqual({});
    expect((await stat(cache)).mode & 0o7777).toBe(0o755);
    await chmod(cache, 0o775);
    expect((await secureCacheDir(cache, true)).fixed).toMatch(/mode 0755/);
    expect((await stat(cache)).mode & 0o7777).toBe(0o775); // --check changes nothing
    await secureCacheDir(cache, false);
    expect((await stat(cache)).mode & 0o7777).toBe(0o755);
    await chown(cache, 1000, 1000);
    expect((await secureCacheDir(cache, false)).cannot).toMatch(/owned by uid 1000, not root: vmrun executes and boots what it holds/);
  });
});

describe("QEMU's account", () => {
  const qemu = { uid: 999, gid: 995, groups: [994] };
  test('reads and writes /dev/kvm through a group it is in', () => {
    expect(canReadWrite({ uid: 0, gid: 0, mode: 0o600 }, qemu)).toBe(false);
    expect(canReadWrite({ uid: 0, gid: 994, mode: 0o660 }, qemu)).toBe(true);
    expect(canReadWrite({ uid: 0, gid: 0, mode: 0o666 }, qemu)).toBe(true);
  });

  test('must pass every folder above the guest kernel', async () => {
    await mkdir(join(dir, 'k'), { mode: 0o755 });
    await writeFile(join(dir, 'k', 'vmlinux'), 'k', { mode: 0o644 });
    await chmod(dir, 0o755);
    expect(unreadableBy(join(dir, 'k', 'vmlinux'), qemu)).toBeUndefined();
    await chmod(join(dir, 'k'), 0o700);
    expect(unreadableBy(join(dir, 'k', 'vmlinux'), qemu)).toBe(`${join(dir, 'k')} does not let it through (mode 700)`);
  });
});

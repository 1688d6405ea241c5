// Least privilege on the host: QEMU runs as libvirt's account inside its seccomp sandbox,
// virtiofsd keeps its own sandbox, passt runs as QEMU's account, and a read-only root stays
// read-only on the host even for a guest that gets past the container's own read-only mount.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const record = async (id: string) => JSON.parse(await readFile(join(vm.root, id, 'state.json'), 'utf8'));

/** A field of /proc/PID/status, such as Uid, Seccomp or NoNewPrivs. */
const status = (pid: number, field: string) => readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))![1]!;
const namespace = (pid: number, type: string) => readlinkSync(`/proc/${pid}/ns/${type}`);
const children = (pid: number) => execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());

describe('least privilege', () => {
  test('QEMU and passt run as libvirt-qemu; QEMU in its seccomp sandbox, virtiofsd as root in its own', async () => {
    const bundle = await vm.bundle('sleep', '600');
    // No network namespace, and the user-mode network: passt.
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
      spec.annotations = { 'vmrun.network': 'user' };
    });
    expect((await vm.vmrun(['create', '--bundle', bundle, 'p1'])).exitCode).toBe(0);
    const r = await record('p1');
    const qemu = r.qemu.pid as number;
    expect(execFileSync('ps', ['-o', 'user=', '-p', String(qemu)], { encoding: 'utf8' }).trim()).not.toBe('root');
    const account = uidOf('libvirt-qemu');
    expect(status(qemu, 'Uid').split(/\s+/).map(Number)).toEqual([account, account, account, account]);
    expect(status(qemu, 'Seccomp')).toBe('2'); // libvirt's -sandbox on
    expect(status(qemu, 'CapEff')).toBe('0000000000000000');
    expect(status(r.passt.pid, 'Uid').split(/\s+/)[0]).toBe(String(account));

    // virtiofsd (root, which it needs) forks its worker into new mount and pid namespaces
    // under a seccomp filter: as before QEMU lost root.
    expect(r.virtiofsd.length).toBeGreaterThan(0);
    for (const { pid } of r.virtiofsd as { pid: number }[]) {
      const workers = children(pid);
      expect(workers.length).toBe(1);
      const worker = workers[0]!;
      expect(status(worker, 'Uid').split(/\s+/)[0]).toBe('0');
      expect(status(worker, 'Seccomp')).toBe('2');
      expect(status(worker, 'NoNewPrivs')).toBe('1');
      expect(namespace(worker, 'mnt')).not.toBe(namespace(r.monitor.pid, 'mnt'));
      expect(namespace(worker, 'pid')).not.toBe(namespace(r.monitor.pid, 'pid'));
    }
    expect((await vm.vmrun(['delete', '--force', 'p1'])).exitCode).toBe(0);
    expect(vm.processesOf('p1')).toEqual([]);
  });

  test('a read-only root stays read-only on the host when the guest remounts or mounts the share again', async () => {
    const script = [
      'mount -o remount,rw / && echo remounted',
      'echo x > /evil && echo wrote-root',
      'mount -t virtiofs rootfs /tmp && echo mounted-again',
      'echo y > /tmp/evil2 && echo wrote-share',
      'true',
    ].join('\n');
    const bundle = await vm.bundle('sh', '-c', script);
    await editConfig(bundle, (spec) => {
      spec.root!.readonly = true;
      // Root in the guest with CAP_SYS_ADMIN: what a process that broke out of its container has.
      const caps = [...spec.process!.capabilities!.bounding!, 'CAP_SYS_ADMIN'];
      spec.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'p2']);
    expect(r.exitCode).toBe(0);
    // The guest did get past the container's own read-only root...
    expect(r.stdout).toMatch(/remounted|mounted-again/);
    // ...and still wrote nothing on the host.
    expect(r.stdout).not.toMatch(/wrote-/);
    expect(existsSync(join(bundle, 'rootfs', 'evil'))).toBe(false);
    expect(existsSync(join(bundle, 'rootfs', 'evil2'))).toBe(false);
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  test('the same guest writes a root that is not read-only (the test above can fail)', async () => {
    const bundle = await vm.bundle('sh', '-c', 'mount -t virtiofs rootfs /tmp && echo y > /tmp/evil2 && echo wrote-share');
    await editConfig(bundle, (spec) => {
      const caps = [...spec.process!.capabilities!.bounding!, 'CAP_SYS_ADMIN'];
      spec.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'p3']);
    expect(r.stdout).toContain('wrote-share');
    expect(existsSync(join(bundle, 'rootfs', 'evil2'))).toBe(true);
  });
});

// The container's namespaces inside its guest, each observation compared with runc's on the
// same bundle where runc can run it (test/run installs Debian's runc).
import { execFileSync } from 'node:child_process';
import { chmod, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Spec } from '../../src/generated/config.js';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

/** Docker's default capabilities and device rules. */
const DOCKER_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
const DOCKER_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' }, { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  ...[[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 200]].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' },
];

function dockerLike(spec: Spec): void {
  spec.process.capabilities = { bounding: DOCKER_CAPS, effective: DOCKER_CAPS, permitted: DOCKER_CAPS };
  spec.linux!.resources = { ...spec.linux!.resources, devices: DOCKER_DEVICE_RULES as never };
}

/** The classic way out of a chroot, for a process with CAP_SYS_CHROOT; then what / holds. */
const ESCAPE_C = `
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
  mkdir("/escape", 0755);
  if (chroot("/escape") != 0) { perror("chroot"); return 1; }
  for (int i = 0; i < 64; i++) chdir("..");
  if (chroot(".") != 0) { perror("chroot ."); return 1; }
  const char *traces[] = {"/agent", "/usr/bin/node", "/init", "/run/vmrun", "/container", "/lib/modules"};
  for (int i = 0; i < 6; i++) if (access(traces[i], F_OK) == 0) printf("found %s\\n", traces[i]);
  DIR *d = opendir("/");
  struct dirent *e;
  while (d && (e = readdir(d))) if (e->d_name[0] != '.') printf("/%s\\n", e->d_name);
  return 0;
}`;

/** Runs the bundle under runc (in the foreground) and returns its stdout. */
function underRunc(bundle: string, id: string): string {
  return execFileSync('runc', ['--root', join(bundle, '..', 'runc-root'), 'run', '--bundle', bundle, id], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The same bundle made twice, one for each runtime, and what each printed. */
async function bothRuntimes(id: string, args: string[], edit: (spec: Spec) => void = () => undefined, prepare: (bundle: string) => Promise<void> = async () => undefined) {
  const make = async () => {
    const bundle = await vm.bundle(...args);
    await editConfig(bundle, edit);
    await prepare(bundle);
    return bundle;
  };
  const runc = underRunc(await make(), `${id}-runc`);
  const r = await vm.vmrun(['run', '--bundle', await make(), id]);
  expect(r.stderr).toBe('');
  return { runc: runc.trimEnd(), vmrun: r.stdout, exitCode: r.exitCode };
}

describe('the container in its own namespaces in the guest', () => {
  test('is PID 1, and sees only its own processes, as under runc', async () => {
    // The shell's own glob, so that no child of it shows in the list.
    const script = 'echo "pid $$"; set -- /proc/[0-9]*; echo "$# process: $*"; tr "\\0" " " < /proc/1/cmdline; echo';
    const { runc, vmrun, exitCode } = await bothRuntimes('n1', ['sh', '-c', script]);
    expect(exitCode).toBe(0);
    expect(vmrun).toBe(runc);
    expect(vmrun.split('\n')[0]).toBe('pid 1');
    expect(vmrun.split('\n')[1]).toBe('1 process: /proc/1');
  });

  test('a chroot escape with CAP_SYS_CHROOT finds the container root, no trace of the guest', async () => {
    const compile = async (bundle: string) => {
      const src = join(bundle, 'escape.c');
      await writeFile(src, ESCAPE_C);
      execFileSync('gcc', ['-static', '-O2', '-o', join(bundle, 'rootfs', 'bin', 'escape'), src]);
    };
    const { runc, vmrun, exitCode } = await bothRuntimes('n2', ['/bin/escape'], dockerLike, compile);
    expect(exitCode).toBe(0);
    expect(vmrun).not.toMatch(/found/);
    expect(vmrun).toMatch(/^\/bin$/m);
    expect(vmrun.split('\n').sort()).toEqual(runc.split('\n').sort());
  });

  test("with Docker's device rules, mknod of /dev/mem succeeds and opening it fails, as under runc", async () => {
    const script = 'exec 2>&1; mknod /tmp/mem c 1 1 && echo made; head -c 1 /tmp/mem; echo null > /dev/null && echo "null ok"';
    const { runc, vmrun } = await bothRuntimes('n3', ['sh', '-c', script], dockerLike);
    expect(vmrun).toBe(runc);
    expect(vmrun).toMatch(/^made$/m);
    expect(vmrun).toMatch(/^head: \/tmp\/mem: Operation not permitted$/m);
    expect(vmrun).toMatch(/^null ok$/m);
  });

  test("when PID 1 exits, the child it left behind (holding its stdout) ends with it, as under runc", async () => {
    // Were the sleep to outlive PID 1, its open stdout would keep `run` waiting for 1000 s.
    const { runc, vmrun, exitCode } = await bothRuntimes('n8', ['sh', '-c', 'sleep 1000 & echo left a child']);
    expect(exitCode).toBe(0);
    expect(vmrun).toBe(runc);
    expect(vmrun).toBe('left a child');
  });

  test('a TERM to PID 1 without a handler does not end it; KILL does, and a child it left is gone', async () => {
    const bundle = await vm.bundle('sh', '-c', 'sleep 1000 & exec sleep 1001');
    const run = vm.spawn(['run', '--bundle', bundle, 'n4'], { buffer: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    await until(async () => (await vm.vmrun(['state', 'n4'])).stdout.includes('"running"'));
    const ps = await vm.vmrun(['ps', '--format', 'json', 'n4']);
    expect(JSON.parse(ps.stdout)).toHaveLength(2);
    // exec is in the same PID namespace: PID 1 is the container's.
    const seen = await vm.vmrun(['exec', 'n4', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; pidof sleep']);
    expect(seen.stdout.split('\n')[0]).toBe('sleep 1001 ');
    const sleeps = seen.stdout.split('\n')[1]!.split(' ');
    expect(sleeps).toHaveLength(2);
    expect(sleeps).toContain('1');
    expect((await vm.vmrun(['kill', 'n4', 'TERM'])).exitCode).toBe(0);
    // Still there, with its child, after the TERM; then KILL ends both.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await vm.vmrun(['exec', 'n4', 'pidof', 'sleep'])).stdout.split(' ')).toHaveLength(2);
    expect((await vm.state('n4')).status).toBe('running');
    expect((await vm.vmrun(['kill', 'n4', 'KILL'])).exitCode).toBe(0);
    expect((await run).exitCode).toBe(137);
  });

  test('exec into a read-only root runs in the container\'s root and makes nothing there; STOP and CONT reach PID 1', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    await editConfig(bundle, (spec) => (spec.root.readonly = true));
    const run = vm.spawn(['run', '--bundle', bundle, 'n9'], { buffer: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    await until(async () => (await vm.vmrun(['state', 'n9'])).stdout.includes('"running"'));
    expect(await vm.vmrun(['exec', '--cwd', '/tmp', 'n9', 'sh', '-c', 'pwd; ls /'])).toMatchObject({ exitCode: 0, stdout: '/tmp\nbin\ndev\netc\nproc\nroot\nsys\ntmp' });
    expect(await readdir(join(bundle, 'rootfs'))).not.toContain('container');
    const state = async () => (await vm.vmrun(['exec', 'n9', 'grep', '^State', '/proc/1/status'])).stdout;
    expect((await vm.vmrun(['kill', 'n9', 'STOP'])).exitCode).toBe(0);
    expect(await state()).toMatch(/T \(stopped\)/);
    expect((await vm.vmrun(['kill', 'n9', 'CONT'])).exitCode).toBe(0);
    expect(await state()).toMatch(/S \(sleeping\)/);
    expect((await vm.vmrun(['kill', 'n9', 'KILL'])).exitCode).toBe(0);
    expect((await run).exitCode).toBe(137);
  });

  test('uid and gid mappings: the container is root of its user namespace, its files owned by the mapped host ids', async () => {
    const bundle = await vm.bundle('sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/made; ls /proc/1/ns >/dev/null && echo proc');
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces!.push({ type: 'user' });
      spec.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 2000 }];
      spec.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 2000 }];
    });
    await chmod(join(bundle, 'rootfs', 'tmp'), 0o1777);
    const r = await vm.vmrun(['run', '--bundle', bundle, 'n5']);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 1000 2000', '0 1000 2000', '0', 'proc']);
    const made = await stat(join(bundle, 'rootfs', 'tmp', 'made'));
    expect([made.uid, made.gid]).toEqual([1000, 1000]);
  });

  test('a user namespace without mappings is refused before any VM boots, naming the field', async () => {
    const bundle = await vm.bundle('true');
    await editConfig(bundle, (spec) => spec.linux!.namespaces!.push({ type: 'user' }));
    const r = await vm.vmrun(['create', '--bundle', bundle, 'n6']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/\/linux\/uidMappings: a user namespace needs uidMappings/);
    expect((await vm.vmrun(['state', 'n6'])).stderr).toMatch(/does not exist/);
  });
});

describe('without namespaces in config.json', () => {
  test("the process shares the guest's: it is not PID 1", async () => {
    const bundle = await vm.bundle('sh', '-c', 'echo $$');
    await editConfig(bundle, (spec) => (spec.linux!.namespaces = []));
    const r = await vm.vmrun(['run', '--bundle', bundle, 'n7']);
    expect(r.exitCode).toBe(0);
    expect(Number(r.stdout)).toBeGreaterThan(1);
  });
});

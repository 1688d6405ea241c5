// A pod in one VM: containers that name a running container's namespaces, or whose CRI
// annotations name their sandbox, join its VM instead of booting one, each a whole container.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { vmLayout } from '../../src/vm/layout.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

/** The QEMU processes of this root's containers ids (a member has none of its own). */
const qemusOf = (...ids: string[]) => ids.flatMap((id) => vm.processesOf(id)).filter((l) => l.includes('qemu-system'));

/** A bundle running `script` whose namespaces of `types` are those of container pid `pid`'s. */
async function memberBundle(script: string, pid: number, types: string[], annotations?: Record<string, string>): Promise<string> {
  const bundle = await vm.bundle('sh', '-c', script);
  await editConfig(bundle, (spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.map((ns) => (types.includes(ns.type) ? { ...ns, path: `/proc/${pid}/ns/${ns.type === 'network' ? 'net' : ns.type}` } : ns));
    if (annotations) spec.annotations = annotations;
  });
  return bundle;
}

async function running(id: string, bundle: string): Promise<number> {
  expect((await vm.vmrun(['create', '--bundle', bundle, id])).stderr).toBe('');
  expect((await vm.vmrun(['start', id])).exitCode).toBe(0);
  return (await vm.state(id)).pid;
}

describe('containers that share namespaces share one VM', () => {
  test("a member reaches the first over localhost, in one guest, with its own PID namespace and processes", async () => {
    const first = await running('p-web', await vm.bundle('sh', '-c', 'echo served > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'));
    const member = await memberBundle('sleep 600', first, ['network', 'ipc', 'uts']);
    await running('p-side', member);
    expect(qemusOf('p-web', 'p-side')).toHaveLength(1);
    const fetched = await vm.vmrun(['exec', 'p-side', 'wget', '-qO-', 'http://127.0.0.1:8080/index.html']);
    expect(fetched).toMatchObject({ exitCode: 0, stdout: 'served' });
    const bootId = async (id: string) => (await vm.vmrun(['exec', id, 'cat', '/proc/sys/kernel/random/boot_id'])).stdout;
    expect(await bootId('p-side')).toBe(await bootId('p-web'));
    // Each lists its own processes only, numbered in its own PID namespace.
    const ps = async (id: string) => (await vm.vmrun(['ps', id])).stdout.split('\n').slice(1).map((l) => l.split(/\s+/).slice(3).join(' '));
    expect(await ps('p-web')).toEqual(['httpd -f -p 8080 -h /tmp']);
    expect(await ps('p-side')).toEqual(['sleep 600']);
    // The IPC and UTS namespaces it named are the first's: the same hostname.
    expect((await vm.vmrun(['exec', 'p-side', 'hostname'])).stdout).toBe((await vm.vmrun(['exec', 'p-web', 'hostname'])).stdout);
    // kill --all and pause act on one container.
    expect((await vm.vmrun(['pause', 'p-side'])).exitCode).toBe(0);
    expect((await vm.vmrun(['exec', 'p-web', 'wget', '-qO-', 'http://127.0.0.1:8080/index.html'])).stdout).toBe('served');
    expect((await vm.vmrun(['resume', 'p-side'])).exitCode).toBe(0);
    expect((await vm.vmrun(['kill', '--all', 'p-side', 'KILL'])).exitCode).toBe(0);
    await until(async () => (await vm.state('p-side')).status === 'stopped', 30_000);
    expect((await vm.state('p-web')).status).toBe('running');
    // Its delete leaves the first running, and nothing of the member.
    expect((await vm.vmrun(['delete', 'p-side'])).exitCode).toBe(0);
    expect(vm.processesOf('p-side')).toEqual([]);
    expect((await vm.vmrun(['exec', 'p-web', 'true'])).exitCode).toBe(0);
    expect((await vm.vmrun(['delete', '--force', 'p-web'])).exitCode).toBe(0);
    expect(vm.processesOf('p-web')).toEqual([]);
  });

  test("a member that names the first's PID namespace shares it, as a pod's shared process namespace", async () => {
    const first = await running('s-first', await vm.bundle('sleep', '601'));
    await running('s-member', await memberBundle('sleep 602', first, ['network', 'pid']));
    // Both see each other's processes, numbered as the first's namespace does (its init is 1).
    const seen = (await vm.vmrun(['exec', 's-member', 'ps', '-o', 'pid,args'])).stdout;
    expect(seen).toMatch(/^\s*1 sleep 601$/m);
    expect(seen).toMatch(/sleep 602$/m);
    // Yet each container's own processes are its cgroup's: ps of the member lists only its own.
    const own = (await vm.vmrun(['ps', 's-member'])).stdout.split('\n').slice(1).map((l) => l.split(/\s+/).slice(3).join(' '));
    expect(own).toEqual(['sleep 602']);
    for (const id of ['s-member', 's-first']) expect((await vm.vmrun(['delete', '--force', id])).exitCode).toBe(0);
  });

  test('the VM outlives the container that booted it while a member runs, and ends with the last', async () => {
    const first = await running('o-first', await vm.bundle('sleep', '600'));
    await running('o-member', await memberBundle('echo up; sleep 600', first, ['network']));
    expect((await vm.vmrun(['kill', 'o-first', 'KILL'])).exitCode).toBe(0);
    await until(async () => (await vm.state('o-first')).status === 'stopped', 30_000);
    expect((await vm.vmrun(['delete', 'o-first'])).exitCode).toBe(0);
    expect((await vm.state('o-member')).status).toBe('running');
    expect((await vm.vmrun(['exec', 'o-member', 'echo', 'still here'])).stdout).toBe('still here');
    const firstDir = vmLayout(vm.root, 'o-first').dir;
    expect(existsSync(firstDir)).toBe(true); // the VM's, kept for the member
    expect((await vm.vmrun(['delete', '--force', 'o-member'])).exitCode).toBe(0);
    await until(() => !existsSync(firstDir) && vm.processesOf('o-first').length === 0, 30_000);
    expect(execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })).not.toContain(firstDir);
  });
});

describe('a CRI pod', () => {
  const cri = (type: string, sandbox: string) => ({ 'io.kubernetes.cri.container-type': type, 'io.kubernetes.cri.sandbox-id': sandbox });

  test("members join their sandbox's VM, share its pod sysctls, and its delete kills them first", async () => {
    const sandboxBundle = await vm.bundle('sleep', '600');
    await editConfig(sandboxBundle, (spec) => {
      spec.annotations = cri('sandbox', 'c-pod');
      spec.linux!.sysctl = { 'kernel.shm_rmid_forced': '1' };
    });
    const sandbox = await running('c-pod', sandboxBundle);
    await running('c-app', await memberBundle('cat /proc/sys/kernel/shm_rmid_forced; sleep 600', sandbox, ['network', 'ipc', 'uts'], cri('container', 'c-pod')));
    expect(qemusOf('c-pod', 'c-app')).toHaveLength(1);
    expect((await vm.vmrun(['exec', 'c-app', 'cat', '/proc/sys/kernel/shm_rmid_forced'])).stdout).toBe('1');
    expect((await vm.vmrun(['delete', '--force', 'c-pod'])).exitCode).toBe(0);
    await until(async () => (await vm.state('c-app')).status === 'stopped', 30_000);
    expect((await vm.vmrun(['delete', 'c-app'])).exitCode).toBe(0);
    expect([...vm.processesOf('c-pod'), ...vm.processesOf('c-app')]).toEqual([]);
  });

  test("the pod's VM ends when its sandbox's host process dies, its members killed", async () => {
    const sandboxBundle = await vm.bundle('sleep', '600');
    await editConfig(sandboxBundle, (spec) => void (spec.annotations = cri('sandbox', 'k-pod')));
    const sandbox = await running('k-pod', sandboxBundle);
    await running('k-app', await memberBundle('sleep 600', sandbox, ['network', 'ipc', 'uts'], cri('container', 'k-pod')));
    process.kill(sandbox, 'SIGKILL');
    await until(async () => (await vm.state('k-app')).status === 'stopped', 30_000);
    await until(() => qemusOf('k-pod', 'k-app').length === 0, 30_000);
    for (const id of ['k-app', 'k-pod']) expect((await vm.vmrun(['delete', id])).exitCode).toBe(0);
    expect([...vm.processesOf('k-pod'), ...vm.processesOf('k-app')]).toEqual([]);
  });

  test('a member whose sandbox is not running fails before anything is made, naming the annotation', async () => {
    const bundle = await vm.bundle('true');
    await editConfig(bundle, (spec) => void (spec.annotations = cri('container', 'nowhere')));
    const r = await vm.vmrun(['create', '--bundle', bundle, 'c-orphan']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/io\.kubernetes\.cri\.sandbox-id: the pod's sandbox nowhere is not a running vmrun container/);
    expect((await vm.vmrun(['state', 'c-orphan'])).exitCode).not.toBe(0);
  });
});

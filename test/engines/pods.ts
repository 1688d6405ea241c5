// Containers that share namespaces by naming another's: a Podman pod (the infra container plus
// members whose config.json names the infra's network, IPC and UTS namespaces) and
// `run --network container:X` under Podman and Docker. Each case runs under runc, the
// reference, and under vmrun, with the same expected answers; under vmrun the containers must
// also be in one guest: one QEMU, one kernel (boot_id, uname -r, vmrun.id=).
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';
import { afterAll, describe, expect, test } from 'vitest';
import { cachedKernel, currentKernelPackage } from '../../src/guest/kernel.js';
import { cacheDir } from '../../src/paths.js';
import { vmLayout } from '../../src/vm/layout.js';
import { GUEST_MARK } from '../../src/vm/domain-xml.js';
import { StateStore } from '../../src/state/store.js';
import { until } from '../vm/harness.js';
import { cgroupsNamed, cli, IMAGE, mountsUnder, psLines, vmrunLeftovers, type Engine, type Runtime } from './engine.js';

const RUNTIMES: Runtime[] = ['runc', 'vmrun'];
/** Serves "hello from NAME" on 127.0.0.1:8080 only: reachable over the loopback alone. */
const SERVE_LOCAL = (name: string) => ['sh', '-c', `mkdir -p /www && echo "hello from ${name}" > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www`];
/**
 * GET http://127.0.0.1:PORT/, retried for up to 20 s while nothing listens yet. (busybox-static's
 * wget crashes with -T, so the loop bounds it.)
 */
const GET_LOCAL = (port: number) => `i=0; until wget -qO- http://127.0.0.1:${port}/ 2>/dev/null; do i=$((i+1)); [ $i -ge 200 ] && exit 1; sleep 0.1; done`;
/** What tells whose kernel a process runs on: boot_id, release, and vmrun's mark if any. */
const KERNEL = `cat /proc/sys/kernel/random/boot_id; uname -r; grep -ow ${GUEST_MARK} /proc/cmdline || true`;

interface Kernel {
  bootId: string;
  release: string;
  /** vmrun's mark on the guest's command line, or '' (src/vm/domain-xml.ts). */
  mark: string;
}

export function podCases(e: Engine): void {
  const c = (args: string[], runtime: Runtime) => cli(e, args, { runtime });
  const ok = async (args: string[], runtime: Runtime) => {
    const r = await c(args, runtime);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout.split('\n').at(-1)!;
  };

  for (const runtime of RUNTIMES) {
    describe(`podman pod with --runtime ${runtime}`, () => {
      const pod = `vmrun-pod-${runtime}`;
      let podId = '';
      let infra = '';
      let server = '';
      let client = '';
      let netns = '';
      const members = () => [infra, server, client];
      // What a failed test left, before the engine's own clean-up.
      afterAll(async () => void (await c(['pod', 'rm', '-f', '-t', '0', pod], runtime)));

      test('two containers of a pod share localhost, the hostname and /dev/shm, in one kernel', async () => {
        podId = await ok(['pod', 'create', '--name', pod], runtime);
        const run = ['run', '-d', ...e.runFlags(runtime), '--pod', pod];
        server = await ok([...run, '--name', `${pod}-server`, IMAGE, ...SERVE_LOCAL(pod)], runtime);
        client = await ok([...run, '--name', `${pod}-client`, IMAGE, 'sleep', '600'], runtime);
        infra = await ok(['pod', 'inspect', '--format', '{{.InfraContainerID}}', pod], runtime);
        netns = await ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', infra], runtime);
        expect(netns).toMatch(/^\/run\/netns\//);

        const got = await c(['exec', client, 'sh', '-c', GET_LOCAL(8080)], runtime);
        expect(got, got.stderr).toMatchObject({ exitCode: 0, stdout: `hello from ${pod}` });
        expect(await c(['exec', server, 'sh', '-c', 'hostname; echo shared > /dev/shm/mark'], runtime)).toMatchObject({ exitCode: 0, stdout: pod });
        expect(await c(['exec', client, 'sh', '-c', 'hostname; cat /dev/shm/mark'], runtime)).toMatchObject({ exitCode: 0, stdout: `${pod}\nshared` });
        // Their own PID namespaces: the pod does not share it unless --share says so.
        expect(await c(['exec', client, 'sh', '-c', 'cat /proc/1/comm'], runtime)).toMatchObject({ exitCode: 0, stdout: 'sleep' });

        const kernels = await Promise.all([server, client].map((id) => kernelOf(e, id, runtime)));
        expect(kernels[1]).toEqual(kernels[0]);
        await expectOneKernel(e, runtime, kernels[0]!, members());
      });

      test('pod stop ends every container of it, and leaves nothing of the runtime running', async () => {
        const r = await c(['pod', 'stop', '-t', '0', pod], runtime);
        expect(r.exitCode, r.stderr).toBe(0);
        const states = await Promise.all(members().map((id) => c(['inspect', '--format', '{{.State.Status}}', id], runtime)));
        expect(states.map((s) => s.stdout)).toEqual(['exited', 'exited', 'exited']);
        // Podman deletes each container from its runtime as it stops.
        if (runtime === 'vmrun') expect(await leftoversOf(e, members())).toEqual([]);
      });

      test('pod rm -f removes the pod, leaving no container, VM, netns, cgroup or mount', async () => {
        // Started again first, so that rm -f has running containers to stop.
        expect((await c(['pod', 'start', pod], runtime)).exitCode).toBe(0);
        netns = await ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', infra], runtime);
        expect(await c(['exec', client, 'sh', '-c', GET_LOCAL(8080)], runtime)).toMatchObject({ exitCode: 0, stdout: `hello from ${pod}` });
        const r = await c(['pod', 'rm', '-f', '-t', '0', pod], runtime);
        expect(r.exitCode, r.stderr).toBe(0);
        expect((await c(['pod', 'ps', '-q', '--no-trunc'], runtime)).stdout.split('\n')).not.toContain(podId);
        expect((await c(['ps', '-a', '-q', '--no-trunc'], runtime)).stdout.split('\n').filter((id) => members().includes(id))).toEqual([]);
        const left = await leftoversOf(e, members());
        expect({ left, netns: existsSync(netns), cgroups: podCgroupsInUse(podId), mounts: mountsOf(e, [podId, ...members()]) })
          .toEqual({ left: [], netns: false, cgroups: [], mounts: [] });
      });
    });
  }
}

/** `run --network container:A`, under Podman or Docker. */
export function sharedNetworkCases(e: Engine): void {
  const c = (args: string[], runtime: Runtime) => cli(e, args, { runtime });
  const detached = async (args: string[], runtime: Runtime) => {
    const r = await c(['run', '-d', ...e.runFlags(runtime), ...args], runtime);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.split('\n').at(-1)!;
  };

  for (const runtime of RUNTIMES) {
    describe(`${e.name} run --network container: with --runtime ${runtime}`, () => {
      const a = `vmrun-netowner-${runtime}`;
      const b = `vmrun-netjoiner-${runtime}`;
      let owner = '';
      let joiner = '';
      // Podman refuses to remove the owner while the joiner exists; Docker's rm -f kills at once.
      const rmNow = ['rm', '-f', ...(e.name === 'podman' ? ['-t', '0'] : [])];
      afterAll(async () => void (await c([...rmNow, b, a], runtime)));

      test("a container joined to another's network reaches its server on localhost, in one kernel", async () => {
        owner = await detached(['--name', a, IMAGE, ...SERVE_LOCAL(a)], runtime);
        joiner = await detached(['--name', b, '--network', `container:${a}`, IMAGE, 'sleep', '600'], runtime);
        const got = await c(['exec', joiner, 'sh', '-c', GET_LOCAL(8080)], runtime);
        expect(got, got.stderr).toMatchObject({ exitCode: 0, stdout: `hello from ${a}` });
        const kernels = await Promise.all([owner, joiner].map((id) => kernelOf(e, id, runtime)));
        expect(kernels[1]).toEqual(kernels[0]);
        await expectOneKernel(e, runtime, kernels[0]!, [owner, joiner]);
      });

      test('the joiner outlives the container whose network it took, with its loopback', async () => {
        expect((await c(['stop', '-t', '0', owner], runtime)).exitCode).toBe(0);
        const status = async (id: string) => (await c(['inspect', '--format', '{{.State.Status}}', id], runtime)).stdout;
        expect([await status(owner), await status(joiner)]).toEqual(['exited', 'running']);
        // Its own server on the loopback answers; the owner's is gone (refused at once).
        const script = `mkdir -p /w && echo mine > /w/index.html && httpd -p 127.0.0.1:9090 -h /w && ${GET_LOCAL(9090)}; wget -qO- http://127.0.0.1:8080/ 2>/dev/null || echo refused; ls /sys/class/net`;
        expect(await c(['exec', joiner, 'sh', '-c', script], runtime)).toMatchObject({ exitCode: 0, stdout: 'mine\nrefused\nlo' });
        // Under vmrun the owner's VM stays: it is the joiner's now, and ends with it (next test).
      });

      test('rm -f of both leaves nothing', async () => {
        for (const id of [joiner, owner]) expect((await c([...rmNow, id], runtime)).exitCode).toBe(0);
        expect({ left: await leftoversOf(e, [owner, joiner]), mounts: mountsOf(e, [owner, joiner]) }).toEqual({ left: [], mounts: [] });
      });
    });
  }
}

/** The kernel container `id`'s processes see. */
async function kernelOf(e: Engine, id: string, runtime: Runtime): Promise<Kernel> {
  const r = await cli(e, ['exec', id, 'sh', '-c', KERNEL], { runtime });
  expect(r.exitCode, r.stderr).toBe(0);
  const [bootId = '', rel = '', mark = ''] = r.stdout.split('\n');
  return { bootId, release: rel, mark };
}

/**
 * Under runc: the host's kernel. Under vmrun: the guest's, booted by one QEMU whose VM is one of
 * `ids`' (its record has the guest's boot id), the others having none.
 */
async function expectOneKernel(e: Engine, runtime: Runtime, k: Kernel, ids: string[]): Promise<void> {
  const host = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  if (runtime === 'runc') {
    expect(k).toEqual({ bootId: host, release: release(), mark: '' });
    return;
  }
  const guest = (await cachedKernel(cacheDir(), (await currentKernelPackage())!))?.release;
  expect(k.release).toBe(guest);
  expect(k.bootId).not.toBe(host);
  expect(k.mark).toBe(GUEST_MARK);
  // The guest's boot id, as its agent told the monitor of the container that made the VM.
  const store = new StateStore(e.vmrunRoot);
  const bootIds = await Promise.all(ids.map(async (id) => (await store.load(id).catch(() => undefined))?.guest?.bootId));
  const vmId = ids[bootIds.indexOf(k.bootId)];
  expect(ids).toContain(vmId);
  const qemus = ids.map((id) => psLines().filter((l) => l.includes('qemu-system') && l.includes(vmLayout(e.vmrunRoot, id).dir)).length);
  expect(qemus).toEqual(ids.map((id) => (id === vmId ? 1 : 0)));
}

/** What is left of vmrun's containers `ids` once they have had time to end (none under runc). */
async function leftoversOf(e: Engine, ids: string[]): Promise<string[]> {
  const left = () => ids.flatMap((id) => vmrunLeftovers(e.vmrunRoot, id));
  await until(() => left().length === 0, 20_000).catch(() => undefined);
  return left();
}

/**
 * The pod's cgroup folders that still hold a process or a folder (a member's). Podman (under runc
 * too) leaves the pod's own folder, empty, in the v1 hierarchies without controllers (name=systemd,
 * the unified one); those are removed here, as a user's cleanup would.
 */
function podCgroupsInUse(podId: string): string[] {
  const inUse = cgroupsNamed(podId).filter((d) => readdirSync(d, { withFileTypes: true }).some((x) => x.isDirectory()) || readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() !== '');
  for (const d of cgroupsNamed(podId)) if (!inUse.includes(d)) rmdirSync(d);
  return inUse;
}

/** Mounts under the engine's folder that name one of `ids`. */
function mountsOf(e: Engine, ids: string[]): string[] {
  return mountsUnder(e.dir).filter((m) => ids.some((id) => m.includes(id)));
}


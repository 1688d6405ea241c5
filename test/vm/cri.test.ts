// A Kubernetes pod of several containers through containerd's CRI plugin, driven with crictl as
// the kubelet would: first with runc, the reference, then with vmrun as the RuntimeClass
// handler, asserting the same behaviour of both; under vmrun, the pod's containers are also in
// one guest (one QEMU for the pod, the guest's kernel, one boot id).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cachedKernel, currentKernelPackage } from '../../src/guest/kernel.js';
import { cacheDir } from '../../src/paths.js';
import type { CtrResult } from '../containerd/ctr.js';
import { criHarness, type Handler } from '../cri/harness.js';
import { until } from './harness.js';

const cri = criHarness();
const IMAGE = { image: 'registry.k8s.io/e2e-test-images/busybox:1.29-2' };
const HTTP_GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080";

function podConfig(handler: Handler) {
  return {
    metadata: { name: `pod-${handler}`, namespace: 'vmrun-cri-test', uid: `uid-${handler}`, attempt: 0 },
    hostname: `pod-${handler}`,
    log_directory: join(cri.paths.podLogs, handler),
    linux: {
      // containerd puts pod sysctls into the sandbox's config.json only.
      sysctls: { 'kernel.shm_rmid_forced': '1' },
      // The kubelet's default: each container has a PID namespace of its own.
      security_context: { namespace_options: { pid: 1 } },
    },
  };
}

const container = (name: string, script: string) => ({
  metadata: { name },
  image: IMAGE,
  command: ['sh', '-c', script],
  log_path: `${name}.log`,
  linux: { security_context: { namespace_options: { pid: 1 } } },
});

// Serves on the pod's loopback only; traps TERM. A line on each of stdout and stderr for `logs`.
const SERVER = container('server', [
  "trap 'exit 0' TERM",
  'mkdir -p /www && echo hello-from-server > /www/index.html',
  'httpd -f -p 127.0.0.1:8080 -h /www &',
  'echo serving on 127.0.0.1:8080; echo server-stderr >&2',
  'wait',
].join('\n'));
// Fetches from the server over localhost every second; traps nothing, so stop must KILL it
// (as pid 1 of its own PID namespace, sh ignores TERM).
const CLIENT = container('client', `while :; do echo "got: $(${HTTP_GET} | tail -n 1)"; sleep 1; done`);
// An init container: does its work and exits 0 while the pod goes on.
const INIT = container('init', 'echo init done');

async function ok(r: Promise<CtrResult>): Promise<string> {
  const res = await r;
  expect(res.exitCode, res.stderr).toBe(0);
  return res.stdout;
}

/** The id, once an earlier test has made its container (so that a failure names the cause). */
function made(id: string): string {
  if (!id) throw new Error('that container was never made: an earlier test of this pod failed');
  return id;
}

async function containerStatus(id: string): Promise<{ state: string; exitCode: number }> {
  return JSON.parse(await ok(cri.crictl(['inspect', '-o', 'json', made(id)]))).status;
}

async function podState(pod: string): Promise<string> {
  return JSON.parse(await ok(cri.crictl(['inspectp', '-o', 'json', pod]))).status.state;
}

async function stateBecomes(id: string, state: string): Promise<string> {
  let last = '';
  await until(async () => (last = (await containerStatus(id)).state) === state, 30_000).catch(() => undefined);
  return last;
}

const hostBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const hostRelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

describe.each<Handler>(['runc', 'vmrun'])('a pod of two containers under %s', (handler) => {
  let pod = '';
  let server = '';
  let client = '';
  let init = '';
  const ids = () => [pod, server, client, init].filter(Boolean);
  const exec = (id: string, script: string) => cri.crictl(['exec', made(id), 'sh', '-c', script]);

  test('runp makes a READY pod with the handler', async () => {
    pod = await cri.runPod(handler, podConfig(handler));
    const status = JSON.parse(await ok(cri.crictl(['inspectp', '-o', 'json', pod])));
    expect({ state: status.status.state, handler: status.info.runtimeHandler }).toEqual({ state: 'SANDBOX_READY', handler });
  });

  test('the server starts, and an init-style member that exits 0 leaves the pod running', async () => {
    server = await cri.startContainer(pod, SERVER, podConfig(handler));
    init = await cri.startContainer(pod, INIT, podConfig(handler));
    expect(await stateBecomes(init, 'CONTAINER_EXITED')).toBe('CONTAINER_EXITED');
    expect((await containerStatus(init)).exitCode).toBe(0);
    expect(await cri.crictl(['logs', init])).toMatchObject({ exitCode: 0, stdout: 'init done' });
    expect(await podState(pod)).toBe('SANDBOX_READY');
    expect((await containerStatus(server)).state).toBe('CONTAINER_RUNNING');
  });

  test('the client reaches the server over the pod\'s localhost', async () => {
    client = await cri.startContainer(pod, CLIENT, podConfig(handler));
    expect((await containerStatus(client)).state).toBe('CONTAINER_RUNNING');
    expect(await exec(client, HTTP_GET)).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/\nhello-from-server$/) });
    // And from its own loop, in its log.
    await until(async () => (await cri.crictl(['logs', client])).stdout.includes('got: hello-from-server'), 30_000);
  });

  test("the pod's address reaches a member's server from the host", async () => {
    const ip = JSON.parse(await ok(cri.crictl(['inspectp', '-o', 'json', pod]))).status.network.ip as string;
    await ok(exec(server, 'httpd -p 8081 -h /www')); // on every address, in the background
    let body = '';
    await until(async () => (body = await fetch(`http://${ip}:8081/`).then((r) => r.text(), () => '')) !== '', 30_000).catch(() => undefined);
    expect(body.trim()).toBe('hello-from-server');
  });

  test('exec gives the output and the exit status of the command', async () => {
    // crictl itself exits 1 and names the command's status.
    const failing = await exec(server, 'echo out; echo err >&2; exit 3');
    expect(failing).toMatchObject({ exitCode: 1, stdout: 'out' });
    expect(failing.stderr.split('\n')).toEqual(['err', `execing command in container ${server}: command terminated with exit code 3`]);
    expect(await exec(client, 'echo fine')).toMatchObject({ exitCode: 0, stdout: 'fine' });
  });

  test("logs gives the container's stdout and stderr", async () => {
    const logs = await cri.crictl(['logs', made(server)]);
    expect(logs).toMatchObject({ exitCode: 0, stdout: 'serving on 127.0.0.1:8080', stderr: 'server-stderr' });
  });

  test("the pod's sysctls reach its containers", async () => {
    expect(await exec(server, 'cat /proc/sys/kernel/shm_rmid_forced')).toMatchObject({ exitCode: 0, stdout: '1' });
    expect(await exec(client, 'cat /proc/sys/kernel/shm_rmid_forced')).toMatchObject({ exitCode: 0, stdout: '1' });
  });

  test('both containers run on one kernel: the same boot id and release', async () => {
    const seen = async (id: string) => (await ok(exec(id, 'cat /proc/sys/kernel/random/boot_id; uname -r'))).split('\n');
    const [serverSees, clientSees] = [await seen(server), await seen(client)];
    expect(clientSees).toEqual(serverSees);
    if (handler === 'runc') {
      expect(serverSees).toEqual([hostBootId, hostRelease]);
    } else {
      // The guest's kernel, which vmrun boots, not the host's.
      const release = (await cachedKernel(cacheDir(), (await currentKernelPackage())!))?.release;
      expect(serverSees[0]).not.toBe(hostBootId);
      expect(serverSees[1]).toBe(release);
    }
  });

  if (handler === 'vmrun') {
    test("the pod's containers are in one guest: one QEMU for the pod", () => {
      expect(cri.vmProcesses(ids(), 'qemu-system')).toHaveLength(1);
    });
  }

  test('while the pod runs, the leak check sees its shim, network namespace, veth and iptables rules', () => {
    const left = cri.leftovers(ids());
    expect(left.some((l) => l.includes('containerd-shim-runc-v2'))).toBe(true);
    expect(left.some((l) => l.startsWith(`${cri.paths.netnsDir}/`))).toBe(true);
    expect(left.some((l) => l.startsWith('veth '))).toBe(true);
    expect(left.some((l) => l.startsWith('iptables -t nat '))).toBe(true);
  });

  test('stop ends a container that traps TERM with its status, and KILLs one that does not', async () => {
    await ok(cri.crictl(['stop', '--timeout', '10', made(server)]));
    expect(await containerStatus(server)).toMatchObject({ state: 'CONTAINER_EXITED', exitCode: 0 });
    await ok(cri.crictl(['stop', '--timeout', '2', made(client)]));
    expect(await containerStatus(client)).toMatchObject({ state: 'CONTAINER_EXITED', exitCode: 137 });
    expect(await podState(pod)).toBe('SANDBOX_READY');
  });

  test('rm removes the stopped containers from the pod', async () => {
    for (const id of [server, client, init]) await ok(cri.crictl(['rm', made(id)]));
    expect(await ok(cri.crictl(['ps', '-a', '-q', '--pod', pod]))).toBe('');
  });

  test('stopp makes the pod NOTREADY, rmp removes it, and nothing of it is left', async () => {
    await ok(cri.crictl(['stopp', pod]));
    expect(await podState(pod)).toBe('SANDBOX_NOTREADY');
    await ok(cri.crictl(['rmp', pod]));
    expect((await ok(cri.crictl(['pods', '-q']))).split('\n')).not.toContain(pod);
    await until(() => cri.leftovers(ids()).length === 0, 20_000).catch(() => undefined);
    expect(cri.leftovers(ids())).toEqual([]);
  });
});

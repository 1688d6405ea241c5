// Which VM a new container joins: its CRI sandbox's, or that of the running container whose
// namespaces its config.json names (compared by device and inode), or none.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import { hostProcess } from '../src/host/process.js';
import { command } from '../src/host/command.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { podHostOf } from '../src/runtime/pod.js';
import { StateStore } from '../src/state/store.js';
import { record } from './helpers/records.js';

let store: StateStore;
/** Stands in for a running container's sentry: a process in network and IPC namespaces of its own. */
let sentry: ChildProcess;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vmrun-pod-')); // for the whole file
  store = new StateStore(join(dir, 'root'));
  sentry = spawn('unshare', ['--net', '--ipc', 'sleep', '60'], { stdio: 'ignore' });
  await once(sentry, 'spawn');
  await new Promise((r) => setTimeout(r, 200)); // unshare has exec'd sleep
  const alive = { sentry: hostProcess(sentry.pid!), phase: 'running' as const };
  await store.create(record('box', alive));
  await store.create(record('member', { ...alive, pod: { host: 'box', name: 'aaaaaaaaaaaa' } }));
  await store.create(record('gone', { sentry: hostProcess(sentry.pid!), phase: 'stopped' }));
});
afterAll(async () => {
  sentry.kill();
  await rm(dir, { recursive: true, force: true });
});

function naming(paths: Partial<Record<'network' | 'ipc' | 'uts' | 'pid', string>>, annotations?: Record<string, string>): Spec {
  const spec = defaultSpec();
  spec.linux!.namespaces = spec.linux!.namespaces!.map((ns) => (paths[ns.type as keyof typeof paths] ? { ...ns, path: paths[ns.type as keyof typeof paths] } : ns));
  if (annotations) spec.annotations = annotations;
  return spec;
}

describe('a container without annotations', () => {
  test('naming no namespace of another gets a VM of its own', async () => {
    expect(await podHostOf(store, defaultSpec())).toBeUndefined();
  });

  test("naming a running container's network namespace joins its VM, and shares the IPC namespace it names too", async () => {
    expect(await podHostOf(store, naming({ network: `/proc/${sentry.pid}/ns/net` }))).toMatchObject({ record: { id: 'box' }, share: [] });
    expect(await podHostOf(store, naming({ network: `/proc/${sentry.pid}/ns/net`, ipc: `/proc/${sentry.pid}/ns/ipc` }))).toMatchObject({ record: { id: 'box' }, share: ['ipc'] });
  });

  test('finds the namespace by device and inode, whatever path names it (a /run/netns bind)', async () => {
    const file = join(dir, 'netns');
    await writeFile(file, '');
    await command('mount', ['--bind', `/proc/${sentry.pid}/ns/net`, file]);
    try {
      expect((await podHostOf(store, naming({ network: file })))?.record.id).toBe('box');
    } finally {
      await command('umount', [file]);
    }
  });

  test("naming the host's own network namespace, which no container has, gets a VM of its own", async () => {
    expect(await podHostOf(store, naming({ network: '/proc/self/ns/net' }))).toBeUndefined();
  });
});

describe('CRI annotations', () => {
  const cri = (type: string, sandbox?: string) => ({ 'io.kubernetes.cri.container-type': type, ...(sandbox && { 'io.kubernetes.cri.sandbox-id': sandbox }) });

  test("a workload container joins its sandbox's VM; a sandbox gets one of its own", async () => {
    expect((await podHostOf(store, naming({}, cri('container', 'box'))))?.record.id).toBe('box');
    expect((await podHostOf(store, naming({}, { 'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.cri-o.SandboxID': 'box' })))?.record.id).toBe('box');
    expect(await podHostOf(store, naming({ network: `/proc/${sentry.pid}/ns/net` }, cri('sandbox', 'box')))).toBeUndefined();
  });

  test("a member's sandbox that is itself a member means that one's VM", async () => {
    expect((await podHostOf(store, naming({}, cri('container', 'member'))))?.record.id).toBe('box');
  });

  test('a sandbox that is not a running vmrun container is an error naming the annotation', async () => {
    await expect(podHostOf(store, naming({}, cri('container', 'nothere')))).rejects.toThrow(/io\.kubernetes\.cri\.sandbox-id: the pod's sandbox nothere is not a running vmrun container/);
    await expect(podHostOf(store, naming({}, cri('container', 'gone')))).rejects.toThrow(/sandbox gone is not a running/);
    await expect(podHostOf(store, naming({}, cri('container')))).rejects.toThrow(/names no sandbox/);
  });
});

// containerd with vmrun as its runc (ctr's --runc-binary), for one test file: before it, a private containerd and a
// busybox image made here (no registry); after it, every container removed, containerd stopped,
// and a check that nothing of containerd, its shims or vmrun's VMs is left on the host.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { vmLayout } from '../../src/vm/layout.js';
import { VMRUN } from '../helpers/cli.js';
import { until } from '../vm/harness.js';
import { ctr, killCtrCalls, type CtrOptions, type CtrResult } from './ctr.js';
import { startContainerd, type Daemon } from './daemon.js';
import { killPsLine, mountsUnder, psLines } from '../helpers/host-scan.js';

export const NAMESPACE = 'vmrun-test';
export const IMAGE = 'docker.io/library/busybox:local';
const BUSYBOX_IMAGE = fileURLToPath(new URL('busybox-image', import.meta.url));
/** Where containerd 1.6's shims put their sockets, whatever containerd's own state folder. */
const SHIM_SOCKETS = '/run/containerd/s';

export interface ContainerdHarness {
  address: string;
  /** A scratch folder, removed after the file. */
  dir: string;
  /** vmrun's --root as the shim passes it: ctr's --runc-root, then the namespace. */
  runtimeRoot: string;
  /** ctr against this containerd, in this namespace. */
  ctr(args: string[], opts?: CtrOptions): Promise<CtrResult>;
  /** `ctr run --rm` (or -d) of the busybox image with vmrun as the runtime. */
  run(id: string, cmd: string[], opts?: { detach?: boolean; tty?: boolean; input?: string; flags?: string[] }): Promise<CtrResult>;
  /** `ctr task exec` in the running container id. */
  exec(id: string, execId: string, cmd: string[], opts?: { tty?: boolean; input?: string }): Promise<CtrResult>;
  /** Kills and deletes the task of container id, then removes the container. */
  remove(id: string): Promise<void>;
  /** The task's STATUS in `ctr task ls` (RUNNING, PAUSED, STOPPED…), undefined without a task. */
  status(id: string): Promise<string | undefined>;
  /** What remains on the host of container id: processes and files of its shim and its VM. */
  leftovers(id: string): string[];
}

export function containerdHarness(): ContainerdHarness {
  let base = '';
  let daemon: Daemon | undefined;
  const ids = new Set<string>();
  const h: ContainerdHarness = {
    address: '',
    dir: '',
    runtimeRoot: '',
    ctr: (args, opts = {}) => ctr(['--address', h.address, '--namespace', NAMESPACE, ...args], {
      ...opts, env: { CONTAINERD_SNAPSHOTTER: daemon!.snapshotter, ...opts.env },
    }),
    run: (id, cmd, opts = {}) => {
      ids.add(id);
      const flags = [opts.detach ? '-d' : '--rm', ...(opts.tty ? ['-t'] : []), ...(opts.flags ?? [])];
      const args = ['run', ...flags, '--runc-binary', VMRUN, '--runc-root', join(base, 'runc'), '--fifo-dir', join(base, 'fifo'), IMAGE, id, ...cmd];
      return h.ctr(args, { tty: opts.tty, input: opts.input, ready: () => runningSoon(id) });
    },
    exec: (id, execId, cmd, opts = {}) => {
      const args = ['task', 'exec', ...(opts.tty ? ['-t'] : []), '--fifo-dir', join(base, 'fifo'), '--exec-id', execId, id, ...cmd];
      return h.ctr(args, { tty: opts.tty, input: opts.input });
    },
    remove: async (id) => {
      await h.ctr(['task', 'rm', '-f', id], { timeoutMs: 60_000 });
      await h.ctr(['containers', 'rm', id], { timeoutMs: 30_000 });
    },
    status: async (id) => {
      const ls = await h.ctr(['task', 'ls']);
      return ls.stdout.split('\n').map((l) => l.split(/\s+/)).find(([task]) => task === id)?.[2];
    },
    leftovers: (id) => {
      const vmDir = vmLayout(h.runtimeRoot, id).dir;
      const shim = `-namespace ${NAMESPACE} -id ${id} -address ${h.address}`;
      const monitor = (l: string) => l.includes('monitor/main.js') && l.includes(`"root":"${h.runtimeRoot}"`) && l.includes(`"id":"${id}"`);
      const processes = psLines().filter((l) => l.includes(vmDir) || l.includes(shim) || monitor(l));
      const paths = [
        join(h.runtimeRoot, id),
        vmDir,
        join(base, 'state', 'io.containerd.runtime.v2.task', NAMESPACE, id),
        join(SHIM_SOCKETS, createHash('sha256').update(join(h.address, NAMESPACE, id)).digest('hex')),
        ...cgroupsOf(id),
      ].filter((p) => existsSync(p));
      return [...processes, ...paths];
    },
  };

  /** Polls gently: each ctr costs CPU that the VM being booted under TCG needs. */
  const runningSoon = async (id: string) => {
    for (let i = 0; i < 240 && (await h.status(id)) !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 500));
  };

  beforeAll(async () => {
    // Short: the socket's path must fit in a sockaddr_un.
    base = h.dir = await mkdtemp(join(tmpdir(), 'vmrun-ctd-'));
    h.runtimeRoot = join(base, 'runc', NAMESPACE);
    daemon = await startContainerd(base);
    h.address = daemon.address;
    const tarball = join(base, 'busybox.tar');
    execFileSync(BUSYBOX_IMAGE, [tarball]);
    const imported = await h.ctr(['images', 'import', '--index-name', IMAGE, tarball]);
    if (imported.exitCode !== 0) throw new Error(`ctr images import: ${imported.stderr}`);
  });

  afterAll(async () => {
    if (!daemon) {
      // containerd never started: only the scratch folder to remove.
      if (base) await rm(base, { recursive: true, force: true });
      return;
    }
    killCtrCalls();
    // Whatever a failed test left: its task killed and deleted, then its container removed.
    const containers = (await h.ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    for (const id of containers) {
      ids.add(id);
      await h.remove(id);
    }
    // A shim ends by itself once its task is deleted.
    await until(() => !psLines().some((l) => l.includes(`-address ${h.address}`)), 20_000).catch(() => undefined);
    await daemon.stop();

    const left = [...new Set([...[...ids].flatMap((id) => h.leftovers(id)), ...psLines().filter((l) => l.includes(base))])];
    const mounts = mountsUnder(base);
    // Leave the host clean even so, then fail.
    for (const line of left) killPsLine(line);
    for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
    for (const path of left.filter((l) => l.startsWith('/'))) {
      if (path.startsWith('/sys/fs/cgroup/')) removeCgroup(path);
      else await rm(path, { recursive: true, force: true });
    }
    namespaceCgroups().forEach(removeCgroup); // made for the first container, as runc does
    await rm(base, { recursive: true, force: true });
    expect({ left, mounts }).toEqual({ left: [], mounts: [] });
  });
  return h;
}


/** The namespace's cgroup folders: /sys/fs/cgroup/vmrun-test, or one per v1 hierarchy. */
function namespaceCgroups(): string[] {
  const hierarchies = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  return hierarchies.map((d) => join(d, NAMESPACE)).filter((d) => existsSync(d));
}

/** ctr gives a container the cgroupsPath /<namespace>/<id>. */
function cgroupsOf(id: string): string[] {
  return namespaceCgroups().map((d) => join(d, id)).filter((d) => existsSync(d));
}

function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone
  }
}

// Kubernetes' view of vmrun without a cluster, for one test file: before it, a containerd of its
// own with the CRI plugin, two runtime handlers (runc, the reference, and vmrun, both through
// containerd's runc shim), a CNI bridge network of its own, and the images critest and the tests
// need, built here without a registry; after it, every pod removed, containerd stopped, and a
// check that nothing of it is left on the host: no shim, QEMU, virtiofsd or vmrun monitor, no
// network namespace, mount, veth, iptables rule, cgroup or runtime state.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { vmLayout } from '../../src/vm/layout.js';
import { VMRUN } from '../helpers/cli.js';
import { killCtrCalls, runClient, type CtrOptions, type CtrResult } from '../containerd/ctr.js';
import { startContainerd, type Daemon } from '../containerd/daemon.js';
import { until } from '../vm/harness.js';
import { configToml, conflist, criPaths, crictlYaml, NAMESPACE, type CriPaths } from './config.js';
import { bridgePorts, claimNetwork, networkRules, type NetworkSlot } from './network.js';
import { killPsLine, listDir, mountsUnder, psLines } from '../helpers/host-scan.js';

export type Handler = 'runc' | 'vmrun';

const BUILD_IMAGES = fileURLToPath(new URL('images/build-images', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Where containerd 1.6's shims put their sockets, whatever containerd's own state folder. */
const SHIM_SOCKETS = '/run/containerd/s';
/** libcni's cache of each attachment's result: <network>-<container id>-<interface>. */
const CNI_RESULTS = '/var/lib/cni/results';

/**
 * cri-tools v1.32.0's crictl and critest: $VMRUN_CRI_TOOLS, else ../shared/tools beside the
 * checkout (where CI has them).
 */
export function criTools(): { dir: string; crictl: string; critest: string } {
  const dir = resolve(process.env.VMRUN_CRI_TOOLS ?? join(REPO, '..', 'shared', 'tools'));
  const tools = { dir, crictl: join(dir, 'crictl'), critest: join(dir, 'critest') };
  for (const t of [tools.crictl, tools.critest]) {
    if (!existsSync(t)) throw new Error(`${t} is missing: set VMRUN_CRI_TOOLS to a folder with cri-tools v1.32.0's crictl and critest`);
  }
  return tools;
}

/** The image cache: built once per machine and per version of test/cri/images. */
export function criImages(): string {
  return execFileSync(BUILD_IMAGES, [join(tmpdir(), 'vmrun-cri-images')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export interface CriHarness {
  paths: CriPaths;
  net: NetworkSlot;
  tools: ReturnType<typeof criTools>;
  /** crictl against this containerd (default deadline 120 s: a VM boots in `start`). */
  crictl(args: string[], opts?: CtrOptions): Promise<CtrResult>;
  /** Writes value as JSON into the scratch folder; its path. */
  json(name: string, value: unknown): Promise<string>;
  /** `crictl runp --runtime handler`: the pod's id. Throws with crictl's stderr on failure. */
  runPod(handler: Handler, config: object): Promise<string>;
  /** `crictl create` then `crictl start`: the container's id. Throws with crictl's stderr on failure. */
  startContainer(pod: string, config: object, podConfig: object): Promise<string>;
  /** What is left on the host of these pods and containers (all this file's when not given). */
  leftovers(ids?: string[]): string[];
  /** The host processes whose command line holds the VM folder of one of these containers. */
  vmProcesses(ids: string[], name: 'qemu-system' | 'virtiofsd'): string[];
}

export function criHarness(): CriHarness {
  let daemon: Daemon | undefined;
  let files = 0;
  const h: CriHarness = {
    paths: criPaths(''),
    net: undefined as unknown as NetworkSlot,
    tools: undefined as unknown as CriHarness['tools'],
    crictl: (args, opts = {}) => runClient(h.tools.crictl, ['--config', h.paths.crictlYaml, ...args], { timeoutMs: 120_000, ...opts }),
    json: async (name, value) => {
      const path = join(h.paths.dir, `${++files}-${name}.json`);
      await writeFile(path, JSON.stringify(value));
      return path;
    },
    runPod: async (handler, config) => {
      const r = await h.crictl(['runp', '--runtime', handler, await h.json('pod', config)]);
      if (r.exitCode !== 0) throw new Error(`crictl runp --runtime ${handler}: ${r.stderr}`);
      return r.stdout;
    },
    startContainer: async (pod, config, podConfig) => {
      const created = await h.crictl(['create', pod, await h.json('container', config), await h.json('pod', podConfig)]);
      if (created.exitCode !== 0) throw new Error(`crictl create: ${created.stderr}`);
      const started = await h.crictl(['start', created.stdout]);
      if (started.exitCode !== 0) throw new Error(`crictl start: ${started.stderr}`);
      return created.stdout;
    },
    leftovers: (ids = knownIds()) => {
      const p = h.paths;
      const vmDirs = ids.map((id) => vmLayout(p.vmrunRoot, id).dir);
      const shim = `-address ${p.address}`;
      const monitor = (l: string) => l.includes('monitor/main.js') && l.includes(`"root":"${p.vmrunRoot}"`) && ids.some((id) => l.includes(`"id":"${id}"`));
      const processes = psLines().filter((l) => vmDirs.some((d) => l.includes(d)) || (l.includes(shim) && ids.some((id) => l.includes(`-id ${id}`))) || monitor(l));
      const paths = ids.flatMap((id) => [
        join(p.vmrunRoot, id),
        join(p.runcRoot, id),
        vmLayout(p.vmrunRoot, id).dir,
        join(p.dir, 'state', 'io.containerd.runtime.v2.task', NAMESPACE, id),
        join(SHIM_SOCKETS, createHash('sha256').update(join(p.address, NAMESPACE, id)).digest('hex')),
        ...cniResults(h.net.name, id),
        ...cgroupsOf(id),
      ]).filter((path) => existsSync(path));
      const netns = listDir(p.netnsDir).map((n) => join(p.netnsDir, n));
      const veths = bridgePorts(h.net).map((v) => `veth ${v} on ${h.net.bridge}`);
      const rules = networkRules(h.net).map((r) => `iptables -t ${r.table} ${r.rule}`);
      return [...processes, ...paths, ...netns, ...veths, ...rules, ...mountsUnder(p.dir).map((m) => `mount ${m}`)];
    },
    vmProcesses: (ids, name) => {
      const dirs = ids.map((id) => `${vmLayout(h.paths.vmrunRoot, id).dir}/`);
      return psLines().filter((l) => l.includes(name) && dirs.some((d) => l.includes(d)));
    },
  };

  /** Every pod and container id containerd has logged (it logs each at info level). */
  const knownIds = () => [...new Set(readText(join(h.paths.dir, 'containerd.log')).match(/\b[0-9a-f]{64}\b/g) ?? [])];

  beforeAll(async () => {
    h.tools = criTools();
    const archive = criImages();
    // Short: the socket's path must fit in a sockaddr_un.
    const dir = await mkdtemp(join(tmpdir(), 'vmrun-cri-'));
    h.paths = criPaths(dir);
    h.net = claimNetwork();
    const p = h.paths;
    execFileSync('mkdir', ['-p', p.netDir, p.podLogs, join(dir, 'run', 'runc'), join(dir, 'run', 'vmrun'), join(dir, 'opt')]);
    await writeFile(join(p.netDir, '10-vmrun-cri.conflist'), conflist(p, h.net));
    await writeFile(p.crictlYaml, crictlYaml(p));
    daemon = await startContainerd(dir, { config: configToml(p, VMRUN, 'overlayfs') });
    if (daemon.snapshotter !== 'overlayfs') {
      // overlayfs mounts do not work here (an overlay root, say): the native snapshotter.
      await daemon.stop();
      daemon = await startContainerd(dir, { config: configToml(p, VMRUN, 'native') });
    }
    const imported = await runClient('ctr', ['--address', p.address, '-n', NAMESPACE, 'images', 'import', '--snapshotter', daemon.snapshotter, archive], { timeoutMs: 120_000 });
    if (imported.exitCode !== 0) throw new Error(`ctr images import ${archive}: ${imported.stderr}`);
  });

  afterAll(async () => {
    const p = h.paths;
    if (!p.dir) return;
    if (!h.net) {
      // No network slot was free: nothing but the scratch folder was made.
      await rm(p.dir, { recursive: true, force: true });
      return;
    }
    killCtrCalls();
    if (daemon) {
      // Whatever a failed test left, through CRI as the kubelet would: pods, then containers.
      await h.crictl(['rmp', '--all', '--force'], { timeoutMs: 300_000 });
      await h.crictl(['rm', '--all', '--force'], { timeoutMs: 120_000 });
      // A shim ends by itself once its pod is removed.
      await until(() => !psLines().some((l) => l.includes(`-address ${p.address}`)), 20_000).catch(() => undefined);
      await daemon.stop();
    }
    const ids = knownIds();
    const left = [...new Set([...h.leftovers(ids), ...psLines().filter((l) => l.includes(p.dir))])];
    // Leave the host clean even so, then fail.
    if (left.length > 0) await forceClean(ids, left);
    h.net.release();
    await rm(p.dir, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  async function forceClean(ids: string[], left: string[]): Promise<void> {
    const p = h.paths;
    for (const id of listDir(p.vmrunRoot)) execFileSync(VMRUN, ['--root', p.vmrunRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 60_000 });
    for (const line of left) killPsLine(line);
    for (const m of mountsUnder(p.dir).reverse()) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    for (const id of ids) {
      cgroupsOf(id).forEach(removeCgroup);
      for (const f of cniResults(h.net.name, id)) await rm(f, { force: true });
      await rm(vmLayout(p.vmrunRoot, id).dir, { recursive: true, force: true });
    }
  }

  return h;
}

function cniResults(network: string, id: string): string[] {
  return listDir(CNI_RESULTS).filter((f) => f.startsWith(`${network}-${id}-`)).map((f) => join(CNI_RESULTS, f));
}

/** The container's cgroup in each hierarchy: containerd names it <parent>/<id>, the parent
 * being the namespace (k8s.io), or the pod's cgroup_parent (critest's /test.slice). */
function cgroupsOf(id: string): string[] {
  const hierarchies = ['/sys/fs/cgroup', ...listDir('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  return hierarchies.flatMap((hy) => [NAMESPACE, 'test.slice'].map((parent) => join(hy, parent, id))).filter((d) => existsSync(d));
}

function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}


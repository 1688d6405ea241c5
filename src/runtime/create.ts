// `vmrun create`: check the bundle, record the container, and start its monitor, which boots
// the VM and creates the container's process in it. Returns once the container is created.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { VmrunError } from '../errors.js';
import { faultPoint } from '../faults.js';
import { readyAssets } from '../guest/ready.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { Hook, Hooks, Spec } from '../generated/config.js';
import type { AccelChoice } from '../host/accel.js';
import { writeFileAtomically } from '../host/atomic-file.js';
import { hostHelper } from '../host/helpers.js';
import { startReadyChild, type ReadyChild } from '../host/ready-child.js';
import type { LogFormat } from '../log.js';
import type { MonitorArgs } from '../monitor/main.js';
import { mountNamespace } from '../host/bind-mounts.js';
import { checkNamespacePaths } from '../host/namespaces.js';
import { createCgroup, removeCgroup, type HostCgroupLimits } from '../host/cgroups.js';
import { hostLimits } from '../host/limits.js';
import { guestSize, hostPidsLimit, VMM_OVERHEAD_MIB, type HostLimits } from '../vm/sizing.js';
import { loadBundle } from '../oci/bundle.js';
import { guestPlan } from '../oci/guest-plan.js';
import { networkNamespace } from '../oci/network-mode.js';
import { unhonouredFields } from '../oci/unhonoured.js';
import { DIST_DIR } from '../paths.js';
import { checkContainerId } from '../state/id.js';
import { vmLayout } from '../vm/layout.js';
import { admitQemu } from '../vm/libvirt.js';
import { controlRequest } from '../monitor/control.js';
import type { RuntimeContext } from './context.js';
import { podHostOf } from './pod.js';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  /** Where the master of the process's terminal is sent (process.terminal). */
  consoleSocket?: string;
  /** `vmrun run`: a terminal may then be the caller's own. */
  foreground?: boolean;
  accel: AccelChoice;
  cacheDir: string;
  logFile?: string;
  logFormat: LogFormat;
  debug: boolean;
}

const MONITOR_MAIN = join(DIST_DIR, 'src', 'monitor', 'main.js');
/** util-linux's, which Debian always has: it execs the monitor in place, so the pid stays. */
const UNSHARE = '/usr/bin/unshare';
const NSENTER = '/usr/bin/nsenter';

/**
 * How the monitor is started: in a mount namespace of its own (host/bind-mounts.ts), and in the
 * container's network namespace: the one config.json names (checked by checkNamespacePaths), or
 * a new one when it names none, so that /proc/<state pid>/ns/net is the container's, as under
 * runc. With no network namespace in config.json, the monitor stays in vmrun's and the VM gets
 * no network interface.
 */
export function monitorLauncher(spec: Spec): string[] {
  const netns = networkNamespace(spec);
  const unshare = [UNSHARE, '--mount', '--propagation', 'private', ...(netns && !netns.path ? ['--net'] : [])];
  return netns?.path ? [NSENTER, `--net=${netns.path}`, ...unshare] : unshare;
}

/**
 * VMRUN_BOOT: `cold` boots the VM even where the restore image fits (src/guest/restore-image.ts);
 * unset, empty or `restore`, the default.
 */
export function coldBootAsked(value = process.env.VMRUN_BOOT): boolean {
  if (value === undefined || value === '' || value === 'restore') return false;
  if (value === 'cold') return true;
  throw new VmrunError('InvalidArgument', `VMRUN_BOOT=${value}: expected cold or restore`);
}

/** Creates the container; resolves with its monitor, a child of this process. */
export async function createContainer(ctx: RuntimeContext, id: string, o: CreateOptions): Promise<ChildProcess> {
  checkContainerId(id);
  const bundle = await loadBundle(o.bundle);
  const host = hostLimits(); // VMRUN_DEFAULT_MEMORY checked before anything is made
  coldBootAsked();
  checkNamespacePaths(bundle.spec);
  const pod = await podHostOf(ctx.store, bundle.spec);
  await checkTerminal(!!bundle.spec.process.terminal, o);
  if (o.pidFile) await checkPidFile(o.pidFile);
  await readyAssets(o.cacheDir);
  warnUnhonoured(ctx, [...unhonouredFields(bundle.spec), ...guestPlan(bundle.spec).ignored]);
  const layout = vmLayout(ctx.store.root, id);
  const cgroupsPath = bundle.spec.linux?.cgroupsPath;
  let cgroups: string[] | undefined;
  const record: ContainerRecord = {
    recordVersion: 1,
    id,
    ociVersion: bundle.spec.ociVersion,
    bundle: bundle.dir,
    rootfs: bundle.rootfs,
    created: new Date().toISOString(),
    owner: userInfo().username,
    annotations: bundle.spec.annotations,
    hooks: recordedHooks(bundle.spec.hooks),
    phase: 'creating',
    vmDir: layout.dir,
    ...(pod && { pod: { host: pod.record.id, name: basename(layout.dir), share: pod.share } }),
  };
  await ctx.store.create(record);
  try {
    faultPoint('reserved');
    return await ctx.store.locked(id, async () => {
      // Only once the id is ours: a create of a taken id must not touch its container's cgroup.
      if (cgroupsPath) {
        cgroups = await createCgroup(cgroupsPath, hostCgroupLimits(ctx, bundle.spec, host));
        await ctx.store.save({ ...record, cgroups });
      }
      faultPoint('cgroup');
      // A directory left by an earlier container of this id (root and id hash alike) goes first:
      // its VM's processes ended with its monitor (src/host/warden.ts).
      await rm(layout.dir, { recursive: true, force: true });
      // Others may pass through the base (passt, which runs as nobody, needs to), not look in.
      await mkdir(dirname(layout.dir), { recursive: true, mode: 0o711 });
      await chmod(dirname(layout.dir), 0o711);
      await mkdir(layout.dir, { mode: 0o700 });
      await admitQemu(layout.dir); // QEMU runs as an account of its own (src/vm/libvirt.ts)
      const launcher = monitorLauncher(bundle.spec);
      faultPoint('monitor');
      const terminal = await consoleHelper(o.cacheDir, o.consoleSocket, bundle.spec.process.consoleSize);
      const { child: monitor, reply } = await startMonitor(ctx, id, o, join(layout.dir, 'monitor.log'), [...terminal, ...launcher], host, cgroups);
      // The sentry's pid, which stands for the container's init. Whole or not at all, as runc
      // writes it: a reader never sees half a pid.
      if (o.pidFile) await writePidFile(o.pidFile, String(reply.pid ?? monitor.pid), monitor, layout.controlSocket);
      return monitor;
    });
  } catch (e) {
    await rm(layout.dir, { recursive: true, force: true });
    // The monitor, which was in it, has exited by now (startMonitor waits for that on failure).
    if (cgroups) await removeCgroup(cgroups);
    await ctx.store.remove(id);
    throw e;
  }
}

/** The pid, or if it cannot be written, the container destroyed first (its monitor gone), as runc does. */
async function writePidFile(path: string, pid: string, monitor: ChildProcess, controlSocket: string): Promise<void> {
  try {
    faultPoint('pid-file');
    await writeFileAtomically(path, pid);
  } catch (e) {
    const exited = monitor.exitCode === null && monitor.signalCode === null ? once(monitor, 'exit') : Promise.resolve();
    await controlRequest(controlSocket, { op: 'destroy' }).catch(() => monitor.kill('SIGKILL'));
    const timer = setTimeout(() => monitor.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    throw new VmrunError('InvalidArgument', `--pid-file ${path}: ${(e as Error).message}`);
  }
}

/** The pid file's folder exists, so that the pid can be written once the VM is up. */
async function checkPidFile(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new VmrunError('InvalidArgument', `--pid-file ${path}: ${dir} ${s ? 'is not a directory' : 'does not exist'}`);
}

/**
 * With --console-socket, vmrun-pty first, which gives the monitor (or an exec relay) a new
 * terminal as fds 0-2, of consoleSize's size, and sends its master to the socket.
 */
export async function consoleHelper(cacheDir: string, consoleSocket?: string, size?: { height?: number; width?: number }): Promise<string[]> {
  if (!consoleSocket) return [];
  const sized = size?.height && size.width && size.height <= 0xffff && size.width <= 0xffff ? ['--size', `${size.height}x${size.width}`] : [];
  return [await hostHelper(cacheDir, 'vmrun-pty'), ...sized, consoleSocket];
}

/** runc's rules for a terminal: it goes to a console socket unless the caller stays for it. */
export async function checkTerminal(terminal: boolean, o: { consoleSocket?: string; foreground?: boolean }): Promise<void> {
  if (o.consoleSocket && !terminal) {
    throw new VmrunError('InvalidArgument', '--console-socket: cannot use console socket if the process has no terminal (process.terminal is false)');
  }
  if (terminal && !o.consoleSocket && !o.foreground) {
    throw new VmrunError('InvalidArgument', 'cannot allocate tty if vmrun will detach without setting console socket (process.terminal is true)');
  }
  if (o.consoleSocket) {
    const s = await stat(o.consoleSocket).catch(() => undefined);
    if (!s?.isSocket()) throw new VmrunError('InvalidArgument', `--console-socket ${o.consoleSocket}: not a unix socket`);
  }
}

/**
 * One warning for all of them, never a silent difference: in the --log file, as runc warns;
 * without one only with --debug, as stderr may be the container's own (conmon, containerd's shim).
 */
function warnUnhonoured(ctx: RuntimeContext, fields: string[]): void {
  if (fields.length === 0) return;
  ctx.log.warn(`config.json fields vmrun does not apply: ${fields.join('; ')}`);
}

/** The hooks, with only the fields the runtime-spec gives them. */
function recordedHooks(hooks: Hooks | undefined): ContainerRecord['hooks'] {
  if (!hooks) return undefined;
  return Object.fromEntries(Object.entries(hooks).map(([kind, list]: [string, Hook[]]) => [
    // Only the fields the runtime-spec defines, and no undefined ones: the record is validated.
    kind, list.map(({ path, args, env, timeout }) => JSON.parse(JSON.stringify({ path, args, env, timeout })) as Hook),
  ]));
}

/**
 * What the VM's host cgroup holds: the whole guest plus what QEMU, virtiofsd, virsh and the
 * monitor use beside it (measured under TCG: about 200 MiB), config.json's CPU values, and its
 * pids limit, raised (with a warning) only when below what the VM's own tasks need.
 */
function hostCgroupLimits(ctx: RuntimeContext, spec: Spec, host: HostLimits): HostCgroupLimits {
  const cpu = spec.linux?.resources?.cpu ?? {};
  const limits: HostCgroupLimits = { cpuQuota: cpu.quota && cpu.quota > 0 ? cpu.quota : undefined, cpuPeriod: cpu.period || undefined, cpuShares: cpu.shares || undefined, cpus: cpu.cpus || undefined };
  const limit = spec.linux?.resources?.memory?.limit;
  if (limit && limit > 0) limits.memoryBytes = (guestSize(spec, host).memoryMiB + VMM_OVERHEAD_MIB) * 1024 * 1024;
  const pids = spec.linux?.resources?.pids?.limit;
  if (pids && pids > 0) {
    const { pids: max, raisedBy } = hostPidsLimit(pids);
    limits.pids = max;
    if (raisedBy > 0) {
      ctx.log.warn(`/linux/resources/pids/limit: the host cgroup's pids.max is ${max}, raised by ${raisedBy} for the VM's own tasks (QEMU, virtiofsd, virsh, the monitor); the guest holds the container to ${pids}`);
    }
  }
  return limits;
}

async function startMonitor(ctx: RuntimeContext, id: string, o: CreateOptions, ownLog: string, launcher: string[], host: HostLimits, cgroups: string[] = []): Promise<ReadyChild> {
  const args: MonitorArgs = {
    root: ctx.store.root, id, accel: o.accel, cacheDir: o.cacheDir, callerMountNamespace: mountNamespace(), cgroups,
    defaultGuestMemoryMiB: host.defaultGuestMemoryMiB, coldBoot: coldBootAsked(),
    logFile: o.logFile ?? ownLog, logFormat: o.logFormat, debug: o.debug,
  };
  // fds 4 and 5: vmrun's own namespaces, where the monitor runs hooks (src/monitor/monitor.ts).
  const namespaces = [openSync('/proc/self/ns/net', 'r'), openSync('/proc/self/ns/mnt', 'r')];
  try {
    const argv = [...launcher, process.execPath, MONITOR_MAIN, JSON.stringify(args)];
    return await startReadyChild(argv, namespaces, `the container's monitor (see ${o.logFile ?? ownLog})`);
  } finally {
    namespaces.forEach((fd) => closeSync(fd));
  }
}

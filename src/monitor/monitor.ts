// The monitor: one host process per container that owns its VM for the VM's whole life. It holds
// the libvirt root open, speaks to the agent, relays the container's stdio (its own fds 0-2),
// forwards the signals it gets, answers verbs on its control socket, and exits with the
// container's exit status once the output is out and the VM is gone.
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentChannel } from '../agent/channel.js';
import { ProtocolError } from '../agent/frames.js';
import { Cleanups } from '../cleanups.js';
import { VmrunError } from '../errors.js';
import { faultPoint, type CreateStep } from '../faults.js';
import { describeEnding, type Ending } from '../host/warden.js';
import type { ContainerRecord } from '../generated/container-record.js';
type Phase = ContainerRecord['phase'];
import type { ControlRequest } from '../generated/control.js';
import { readyAssets } from '../guest/ready.js';
import { hookState, runHooks, type HookKind, type HookState, type RuntimeNamespaces } from '../runtime/hooks.js';
import { hostHelper } from '../host/helpers.js';
import type { AccelChoice } from '../host/accel.js';
import { hostLimits, ownCpus } from '../host/limits.js';
import { hostProcess } from '../host/process.js';
import type { Logger } from '../log.js';
import { loadBundle } from '../oci/bundle.js';
import { BINDS_TAG, guestPlan, withSubmounts, type HostBind } from '../oci/guest-plan.js';
import type { GuestPlan } from '../generated/agent-protocol.js';
import { mountBinds, unmountBelow } from '../host/bind-mounts.js';
import { passtListening, passtProgram } from '../host/passt.js';
import { connectWhenListening, socketAppears } from '../host/unix-socket.js';
import { networkNamespace } from '../oci/network-mode.js';
import { cpusForContainer, formatCpuset } from '../oci/resource-update.js';
import type { StateStore } from '../state/store.js';
import { domainXml, ROOTFS_TAG, sharePath } from '../vm/domain-xml.js';
import { GuestMemory, type MemoryPort } from './guest-memory.js';
import { consoleTail } from '../vm/console-tail.js';
import { layoutOf, type VmLayout } from '../vm/layout.js';
import { capabilitiesCache, EMULATOR, EmbeddedDriver, keepCapabilities, prepareRoot, qemuIds, sealShare, VIRTIOFSD, virtiofsdArgv, type VmProcess } from '../vm/libvirt.js';
import { freshSeed, readyImage, restorableXml, whyNotRestored } from '../guest/restore-image.js';
import { guestSize, sizingResources } from '../vm/sizing.js';
import { joinStdio, SizeFollower, terminalSize } from '../host/stdio.js';
import { FORWARDED_SIGNALS } from '../host/signals.js';
import { agentChannel, type AgentLink } from './agent-link.js';
import { GuestNetwork, nicOf } from './guest-network.js';
import { connectPod, graftMember, isCriSandbox, releaseMember } from './pod.js';
import { PodMembers } from './pod-members.js';
import { StreamIds } from './stream-bridge.js';
import { containerUsesEmbeddedDns } from './dns-relay.js';
import { serveControl } from './control.js';
import { ExecSessions } from './exec-sessions.js';
import { Sentry, sentryArgs } from './sentry.js';
import { guestMemoryFor, initialBandwidth, onlineCount, planUpdate, type CpuBandwidth, type GuestShape } from './update.js';
import { changeCgroup, leaveCgroup, removeCgroup } from '../host/cgroups.js';

export interface MonitorOptions {
  store: StateStore;
  id: string;
  accel: AccelChoice;
  cacheDir: string;
  callerMountNamespace: string;
  /** VMRUN_DEFAULT_MEMORY as `vmrun create` read it. */
  defaultGuestMemoryMiB: number;
  /** VMRUN_BOOT=cold as `vmrun create` read it: boot even where the restore image fits. */
  coldBoot: boolean;
  log: Logger;
}

/**
 * vmrun's own network and mount namespaces, which `vmrun create` hands the monitor as fds 4
 * and 5: hooks run there, as under runc, while the monitor lives in the container's.
 */
const RUNTIME_NETNS_FD = 4;
const runtimeNamespaces = async (cacheDir: string): Promise<RuntimeNamespaces> => ({
  net: `/proc/${process.pid}/fd/${RUNTIME_NETNS_FD}`, mnt: `/proc/${process.pid}/fd/5`, nsexec: await hostHelper(cacheDir, 'vmrun-nsexec'),
});

/** The PCI slots of a restored VM's shares: below passt's card (src/vm/domain-xml.ts), above what libvirt gives out first. */
const SHARE_SLOTS = [0x1e, 0x1d];

/** How long a guest may take from `virsh create` to its agent's hello (TCG is slow). */
const BOOT_TIMEOUT_MS = 120_000;
/** How long a broken agent channel waits to hear which part of the VM ended first. */
const LOSS_GRACE_MS = 1000;
/** How long a part's clean exit waits for QEMU's end, which it may only have followed. */
const FOLLOWER_GRACE_MS = 500;

/** Which phase may follow which: the container's lifecycle, as runc's. */
const NEXT_PHASES: Record<Phase, Phase[]> = {
  creating: ['created', 'stopped'],
  created: ['running', 'stopped'],
  running: ['paused', 'stopped'],
  paused: ['running', 'stopped'],
  stopped: [],
};

/** The most of a `vmrun debug … virsh` command's output the monitor passes on. */
const MAX_VIRSH_OUTPUT = 4 * 1024 * 1024;

/** How long a stopping container's output may take to be out, once the guest has said it ended. */
const OUTPUT_TIMEOUT_MS = 10_000;

export class Monitor {
  private channel?: AgentChannel;
  private execs?: ExecSessions;
  /** The pod members that joined this container's VM. */
  private members?: PodMembers;
  /** Whether the container was paused by freezing its cgroup in the guest, not its whole VM. */
  private frozen = false;
  /** Deleted while pod members still use its VM, which then ends with the last of them. */
  private detached = false;
  /** The VM's network: the namespace's interfaces carried into it at start. */
  private network?: GuestNetwork;
  /** Resolves once the init's output is out of the monitor's fds 1 and 2. */
  private output: Promise<void> = Promise.resolve();
  /** The size of the init's terminal (the host's), followed into the guest. */
  private terminalSize?: SizeFollower;
  private stopping?: Promise<number>;
  /** The container's init on the host (src/monitor/sentry.ts). */
  private sentry?: Sentry;
  /** What undoes each step of the create, run when the container stops or its create fails. */
  private readonly cleanups: Cleanups;
  /** The parts of the VM whose end ends the container, by their pid in the warden's namespace. */
  private readonly parts = new Map<number, string>();
  /** Rejects when a part of the container is lost while it is created, failing the create. */
  private readonly lost: Promise<never>;
  private loseCreate!: (e: Error) => void;
  /** Control requests that change the container, one at a time. */
  private transitions: Promise<unknown> = Promise.resolve();
  /** Record writes, one at a time, in order. */
  private saving: Promise<void> = Promise.resolve();
  readonly done: Promise<number>;
  private finish!: (status: number) => void;

  private constructor(
    private readonly o: MonitorOptions,
    private record: ContainerRecord,
    private readonly layout: VmLayout,
    /** Where hooks run: vmrun's own namespaces. */
    private readonly namespaces: RuntimeNamespaces,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.cleanups = new Cleanups(o.log);
    this.lost = new Promise((_, reject) => (this.loseCreate = reject));
    this.lost.catch(() => undefined); // raced against each step of the create
  }

  private driver!: EmbeddedDriver;
  /** The VM's guest as it is now, and the container's CPU bandwidth: `update` works from them. */
  private shape!: GuestShape;
  /** A restored guest's memory, which grows by what is plugged in. */
  private memory?: GuestMemory;
  private bandwidth!: CpuBandwidth;

  /** The pid `state` and --pid-file report, once the container is created. */
  get pid(): number {
    return this.sentry!.pid;
  }

  /** The container's init on the host, once it is ready: its signals go to the container. */
  private adopt(sentry: Sentry): void {
    this.sentry = sentry;
    sentry.on('signal', (signal) => void this.forward(signal));
    sentry.on('gone', () => this.sentryGone());
    if (sentry.ended) this.sentryGone();
  }

  /** Boots the VM and creates the container in it; on failure, leaves nothing behind. */
  static async create(o: MonitorOptions): Promise<Monitor> {
    const record = await o.store.load(o.id);
    const layout = layoutOf(record.vmDir);
    const bundle = await loadBundle(record.bundle);
    const { plan, binds } = guestPlan(bundle.spec, bundle.dir);
    // A pod member boots nothing: no assets, no size of its own.
    if (record.pod) return Monitor.createMember(o, record, layout, bundle, plan, binds);
    const assets = await readyAssets(o.cacheDir);
    // Here, in the container's host cgroup: its cpuset bounds the vCPUs.
    const hostHas = hostLimits(o.defaultGuestMemoryMiB);
    const size = guestSize(bundle.spec, hostHas);
    const nic = nicOf(bundle.spec, layout, `/proc/self/fd/${RUNTIME_NETNS_FD}`, o.log);
    const caps = await capabilitiesCache(o.cacheDir);
    const image = o.coldBoot ? undefined : await readyImage(o.cacheDir);
    const notRestored = o.coldBoot ? 'VMRUN_BOOT=cold' : whyNotRestored(image, assets, o.accel.accel, size, caps, nic?.kind === 'user');
    const restore = notRestored === undefined ? image : undefined;
    const monitor = new Monitor(o, record, layout, await runtimeNamespaces(o.cacheDir));
    // A restored guest is the image's, with memory plugged in when its limit needs more; its
    // cgroup holds the container to smaller limits.
    if (restore) monitor.memory = new GuestMemory(restore.memoryMiB, restore.growsToMiB, assets.node);
    const added = monitor.memory?.toAdd(size.memoryMiB) ?? 0;
    const shape = restore ? { memoryMiB: restore.memoryMiB + added, vcpus: restore.vcpus } : { memoryMiB: size.memoryMiB, vcpus: size.vcpus };
    monitor.shape = { ...shape, hostCgroup: (record.cgroups ?? []).length > 0 };
    const containerCpus = cpusForContainer(sizingResources(bundle.spec).cpu?.cpus, hostHas.cpus, shape.vcpus);
    if (containerCpus) plan.cgroup = { ...plan.cgroup, 'cpuset.cpus': formatCpuset(containerCpus) };
    monitor.bandwidth = initialBandwidth(bundle.spec.linux?.resources?.cpu);
    // Only a namespace of the container's own has a resolver of its own (Docker's) to reach.
    const embeddedDns = nic?.kind === 'tap' ? () => containerUsesEmbeddedDns(bundle.spec, bundle.dir, bundle.rootfs) : async () => false;
    monitor.network = new GuestNetwork(nic, layout.dir, networkNamespace(bundle.spec)?.path, embeddedDns, {
      channel: () => monitor.channel!, attachDevice: (file) => monitor.driver.attachDevice(file), cleanups: monitor.cleanups,
      record: (carried) => monitor.update({ carried }), log: o.log,
    });
    const step = <T>(name: CreateStep, work: Promise<T>): Promise<T> => monitor.guard(name, work);
    try {
      // Started first, to start while the VM is prepared and boots: create checked its
      // namespace paths (src/host/namespaces.ts), so it fails only if the host cannot do it.
      const starting = Sentry.start(await hostHelper(o.cacheDir, 'vmrun-sentry'), sentryArgs(bundle.spec, record.rootfs, layout.dir));
      monitor.starting = starting;
      starting.catch(() => undefined); // awaited once the VM is created

      // `vmrun create` made the VM directory (src/runtime/create.ts).
      await mkdir(layout.shares, { mode: 0o700 });
      await symlink(bundle.rootfs, join(layout.shares, ROOTFS_TAG));
      // Always there: pod members that join this VM later come in through it.
      await mkdir(join(layout.shares, BINDS_TAG), { mode: 0o700 });
      plan.mounts = withSubmounts(plan.mounts, await mountBinds(join(layout.shares, BINDS_TAG), binds, o.callerMountNamespace));
      const { seeded } = await prepareRoot(layout.libvirtRoot, caps);
      const xmlFile = join(layout.dir, 'domain.xml');
      const domain = {
        id: o.id, bundle: bundle.dir, rootfs: bundle.rootfs, accel: o.accel.accel, layout, nic, cpuset: ownCpus(),
        kernel: assets.kernel, initrd: assets.initrd, node: assets.node, emulator: EMULATOR, virtiofsd: VIRTIOFSD,
      };
      await writeFile(xmlFile, restore
        ? restorableXml({ ...domain, shape: restore }, bundle.spec)
        : domainXml(bundle.spec, { ...domain, size, shares: [BINDS_TAG] }));

      // A restored VM's shares are plugged in after the restore, each served by a virtiofsd of vmrun's.
      const shares = restore ? [ROOTFS_TAG, BINDS_TAG].map((tag) => ({ tag, socket: join(layout.dir, `fs-${tag}.sock`) })) : [];
      const passt = nic?.kind === 'user' ? await passtProgram(dirname(nic.socket), qemuIds()) : undefined;
      const others = [...(passt ? [{ argv: passt.argv }] : []), ...shares.map(({ tag, socket }) => ({ argv: virtiofsdArgv(sharePath(layout, tag), socket) }))];
      await monitor.openDriver(await EmbeddedDriver.open(layout.libvirtRoot, await hostHelper(o.cacheDir, 'vmrun-warden'), others));
      faultPoint('warden');
      const programs = monitor.driver.warden.programs.slice(1);
      if (passt) {
        const nsPid = programs[0]!;
        monitor.watch('passt', nsPid);
        await step('passt', passtListening(passt.socket, () => monitor.driver.warden.ended.has(nsPid)));
        await monitor.update({ passt: monitor.driver.warden.hostProcessOf(nsPid) });
      }
      const ownVirtiofsd = programs.slice(passt ? 1 : 0);
      for (const nsPid of ownVirtiofsd) monitor.watch('virtiofsd', nsPid);
      await step('domain', Promise.all(shares.map(({ socket }, i) => socketAppears('virtiofsd', socket, () => monitor.driver.warden.ended.has(ownVirtiofsd[i]!)))));

      const t0 = Date.now();
      const created = restore ? monitor.driver.restoreDomain(restore.file, xmlFile) : monitor.driver.createDomain(xmlFile);
      // Logged while virsh starts QEMU: the first log line loads the logger.
      const vm = { accel: o.accel.accel, reason: o.accel.reason, ...shape };
      if (restore) o.log.info({ ...vm, image: restore.file }, 'restoring the VM from the restore image');
      else o.log.info({ ...vm, notRestored }, 'booting the VM');
      if (restore) o.log.debug("the image's guest, whose cgroup holds the container to its limits");
      else for (const reason of size.reasons) o.log.debug(reason);
      await step('domain', created);
      const tCreated = Date.now();
      const { qemu, virtiofsd: libvirtVirtiofsd } = await monitor.driver.processes();
      const virtiofsd = [...libvirtVirtiofsd, ...ownVirtiofsd.map((nsPid) => ({ nsPid, host: monitor.driver.warden.hostProcessOf(nsPid) }))];
      if (qemu) monitor.watch('QEMU', qemu);
      for (const fs of libvirtVirtiofsd) monitor.watch('virtiofsd', fs);
      const plugged = (async () => {
        await monitor.memory?.plug(added, monitor.memoryPort());
        for (const [i, { tag, socket }] of shares.entries()) await monitor.driver.plugShare(tag, socket, SHARE_SLOTS[i]!);
      })();
      plugged.catch(() => undefined); // awaited with the hello
      monitor.adopt(await step('sentry', starting));
      await monitor.update({
        monitor: hostProcess(process.pid), sentry: hostProcess(monitor.pid), accel: o.accel.accel,
        qemu: qemu?.host, virtiofsd: virtiofsd.flatMap((p) => (p.host ? [p.host] : [])),
        guest: { ...shape, start: restore ? 'restored' : 'booted' },
      });
      if (!seeded) await keepCapabilities(layout.libvirtRoot, caps);

      // prestart and createRuntime hooks (runc's order) run while the guest boots; the container's
      // process is made only once they have succeeded.
      const hooksDone = step('hooks', monitor.runHooks('prestart', 'creating').then(() => monitor.runHooks('createRuntime', 'creating')));
      const [channel] = await Promise.all([step('agent', monitor.connectAgent()), hooksDone, step('domain', plugged)]);
      // First of all, a restored guest becomes a machine of its own, its shares there.
      if (restore) await step('agent', channel.request({ op: 'restored', clockMs: Date.now(), seed: freshSeed(), shares: shares.length, ...(added > 0 && { memoryMiB: shape.memoryMiB }) }));
      const tHello = Date.now();
      // Beside the process's create, off its path; done before the container is created.
      // A restored guest has them all online already.
      const plugging = restore ? Promise.resolve() : monitor.plugCpus(channel, size.vcpus);
      const result = await monitor.createProcess(channel, plan, step);
      // Its mount points made, a read-only root becomes read-only on the host too.
      if (bundle.spec.root?.readonly) await step('process', sealShare(await hostHelper(o.cacheDir, 'vmrun-seal'), monitor.record.virtiofsd ?? [], sharePath(layout, ROOTFS_TAG)));
      const tProcess = Date.now();
      await step('process', plugging);
      o.log.info({ libvirtMs: tCreated - t0, helloMs: tHello - tCreated, createMs: tProcess - tHello, cpusMs: Date.now() - tHello, guest: result?.boot }, 'container created');
      const bootId = typeof result?.bootId === 'string' && /^[0-9a-f-]{36}$/.test(result.bootId) ? result.bootId : undefined;
      if (bootId) await monitor.update({ guest: { ...monitor.record.guest!, bootId } });
      return await monitor.ready(channel, step);
    } catch (e) {
      throw await monitor.failed(e as Error);
    }
  }

  /**
   * A pod member: no VM of its own, but its pod's, whose host's monitor passes its requests on
   * to the agent (src/monitor/pod.ts). The rest is as for a container with a VM of its own.
   */
  private static async createMember(o: MonitorOptions, record: ContainerRecord, layout: VmLayout, bundle: Awaited<ReturnType<typeof loadBundle>>, plan: GuestPlan, binds: HostBind[]): Promise<Monitor> {
    const pod = record.pod!;
    const host = await o.store.load(pod.host);
    const monitor = new Monitor(o, record, layout, await runtimeNamespaces(o.cacheDir));
    monitor.shape = { memoryMiB: host.guest?.memoryMiB ?? 1, vcpus: host.guest?.vcpus ?? 1, hostCgroup: (record.cgroups ?? []).length > 0 };
    monitor.bandwidth = initialBandwidth(bundle.spec.linux?.resources?.cpu);
    const step = <T>(name: CreateStep, work: Promise<T>): Promise<T> => monitor.guard(name, work);
    try {
      const starting = Sentry.start(await hostHelper(o.cacheDir, 'vmrun-sentry'), sentryArgs(bundle.spec, record.rootfs, layout.dir));
      monitor.starting = starting;
      starting.catch(() => undefined);
      const graft = await hostHelper(o.cacheDir, 'vmrun-graft');
      const joined = await step('domain', graftMember(graft, layout, host, pod.name, bundle.rootfs, plan, binds, o.callerMountNamespace));
      // The pod's host lets go of it when its channel closes; before that, a failed create does.
      monitor.cleanups.push("its folder of the pod's share", () => (monitor.failing ? releaseMember(graft, host, pod.name) : Promise.resolve()));
      if (pod.share?.length) joined.share = pod.share;
      const channel = await step('agent', connectPod(host, pod.name, monitor.agentLink()));
      monitor.channel = channel;
      monitor.cleanups.push("the channel to the pod's VM", () => channel.close());
      monitor.adopt(await step('sentry', starting));
      await monitor.update({ monitor: hostProcess(process.pid), sentry: hostProcess(monitor.pid), accel: host.accel, ...(host.guest && { guest: host.guest }) });
      await step('hooks', monitor.runHooks('prestart', 'creating').then(() => monitor.runHooks('createRuntime', 'creating')));
      await monitor.createProcess(channel, joined, step);
      o.log.info({ pod: pod.host }, "container created in its pod's VM");
      return await monitor.ready(channel, step);
    } catch (e) {
      throw await monitor.failed(e as Error);
    }
  }

  /** The container's process, created in the guest with its stdio joined to the monitor's. */
  private async createProcess(channel: AgentChannel, plan: GuestPlan, step: <T>(name: CreateStep, work: Promise<T>) => Promise<T>): Promise<{ boot?: unknown; bootId?: unknown } | undefined> {
    const { stdio, output, terminalOut } = joinStdio(channel, !!plan.process.terminal);
    this.output = output;
    // The host terminal's size, as the engine (or vmrun-pty, from consoleSize) set it.
    const winsize = terminalOut && terminalSize(terminalOut);
    if (winsize) plan.process.consoleSize = winsize;
    const result = (await step('process', channel.request({ op: 'create', plan, stdio }))) as { boot?: unknown; bootId?: unknown } | undefined;
    // Its size from now on: engines set it on the master after create, and later resize it.
    if (terminalOut) this.terminalSize = new SizeFollower(terminalOut, ({ rows, cols }) => this.resize(rows, cols), { known: plan.process.consoleSize });
    return result;
  }

  /** The last steps of a create: its hooks, the sockets verbs reach it on, and the phase. */
  private async ready(channel: AgentChannel, step: <T>(name: CreateStep, work: Promise<T>) => Promise<T>): Promise<Monitor> {
    await step('hooks', this.runHooks('createContainer', 'creating'));
    await step('control', this.serve(channel));
    for (const signal of FORWARDED_SIGNALS) process.on(signal, () => void this.forward(constants.signals[signal]));
    await step('ready', this.setPhase('created'));
    return this;
  }

  /** A create failed: everything undone, the sentry told, poststop hooks run; returns the error. */
  private async failed(e: Error): Promise<Error> {
    const why = e instanceof ProtocolError ? await this.whyChannelClosed(e) : e;
    this.failing = true;
    await this.cleanups.run();
    // Last, as when a container stops: its status goes to the sentry once the VM is gone.
    await (await this.starting?.catch(() => undefined))?.exit(255);
    await this.runHooks('poststop', 'stopped').catch((h: Error) => this.o.log.warn(h.message));
    return why;
  }

  /**
   * The agent channel broke during the create: what ended the VM, if that is known within a
   * moment, and the last lines of its console, which say what the guest saw.
   */
  private async whyChannelClosed(e: ProtocolError): Promise<Error> {
    const loss = await Promise.race([this.lost.catch((l: Error) => l), sleep(LOSS_GRACE_MS)]);
    const tail = await consoleTail(this.layout.consoleLog);
    const said = loss instanceof Error ? loss.message : `the container's VM failed: ${e.message}`;
    return new VmrunError('InvalidState', tail.length ? `${said}; its console ended with: ${tail.join(' | ')}` : said);
  }

  /** The sentry, while it starts. */
  private starting?: Promise<Sentry>;

  /** Set once the create has failed: what ends from then on is being cleaned up. */
  private failing = false;

  /** `work`, unless a part of the container is lost first; then VMRUN_FAULT's check for the step. */
  private async guard<T>(name: CreateStep, work: Promise<T>): Promise<T> {
    work.catch(() => undefined); // the loss is what is reported
    const value = await Promise.race([work, this.lost]);
    faultPoint(name);
    return value;
  }

  /** Holds the VM's root: its warden's namespace ends with the cleanups. */
  private async openDriver(driver: EmbeddedDriver): Promise<void> {
    this.driver = driver;
    this.cleanups.push('the VM and its processes', async () => {
      await driver.destroyDomain();
      await driver.close();
    });
    await this.update({ warden: hostProcess(driver.warden.pid) });
    driver.warden.on('exit', (ending) => {
      const name = this.parts.get(ending.pid);
      if (name) this.partEnded(name, ending);
    });
    driver.warden.on('gone', () => this.lose("its VM's process warden (vmrun-warden) ended"));
    this.watch('virsh', driver.virshPid);
  }

  /** A process of the VM whose end ends the container; it may have ended already. */
  private watch(name: string, part: VmProcess | number): void {
    const nsPid = typeof part === 'number' ? part : part.nsPid;
    this.parts.set(nsPid, name);
    const ended = this.driver.warden.ended.get(nsPid);
    if (ended) this.partEnded(name, ended);
  }

  /**
   * A part has ended. One that exits cleanly (virtiofsd does when QEMU's end closes its socket)
   * is reported a moment later, so that QEMU's end, reported first, is the reason given.
   */
  private partEnded(name: string, ending: Ending): void {
    const why = `its ${name} (pid ${ending.pid} in the VM's process namespace) ${describeEnding(ending)}`;
    if (name === 'QEMU' || ending.code !== 0) this.lose(why);
    else setTimeout(() => this.lose(why), FOLLOWER_GRACE_MS).unref();
  }

  /**
   * A part of the container is gone: a create fails, a created container stops with 255 (the
   * status of a VM that ended without saying how its process did). Once the container is
   * stopping, parts end as they are meant to.
   */
  private lose(why: string): void {
    if (this.stopping || this.failing) return;
    if (this.record.phase === 'creating') this.loseCreate(new VmrunError('InvalidState', `the container's VM failed: ${why}`));
    else void this.stop(255, why, { waitForOutput: false, lost: true });
  }

  /** The control and exec sockets, from which verbs reach the container. */
  private async serve(channel: AgentChannel): Promise<void> {
    const control = await serveControl(this.layout.controlSocket, (r) => this.handle(r));
    this.cleanups.push('the control socket', async () => {
      control.close();
      await rm(this.layout.controlSocket, { force: true });
    });
    const ids = new StreamIds();
    this.execs = new ExecSessions(channel, () => this.checkCanExec(), this.o.log, ids);
    const execs = this.execs;
    this.cleanups.push('the exec socket', () => execs.close());
    await execs.serve(this.layout.execSocket);
    if (this.record.pod) return;
    // Containers that join this VM later (a pod's) come in here.
    const graft = await hostHelper(this.o.cacheDir, 'vmrun-graft');
    const members = new PodMembers(channel, ids, (name) => releaseMember(graft, this.record, name), this.o.log);
    this.members = members;
    this.cleanups.push("the pod's members", async () => {
      members.close();
      await rm(this.layout.podSocket, { force: true });
    });
    await members.serve(this.layout.podSocket);
  }

  /** The hooks of one kind, on the host, with the state as it is now; rejects if one fails. */
  private runHooks(kind: HookKind, status: HookState['status']): Promise<void> {
    // As runc gives them its init's pid: the sentry's.
    return runHooks(kind, this.record.hooks, hookState(this.record, status, status === 'stopped' ? 0 : (this.sentry?.pid ?? process.pid)), this.namespaces);
  }

  private async connectAgent(): Promise<AgentChannel> {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    // QEMU makes the socket a moment after `create` returns.
    const socket = await connectWhenListening(this.layout.agentSocket, deadline, () => this.bootFailed('its agent socket never appeared'));
    const channel = agentChannel(socket, this.agentLink());
    this.channel = channel;
    this.cleanups.push('the agent channel', () => channel.close());
    const hello = channel.hello('vmrun-monitor');
    const timeout = sleep(Math.max(0, deadline - Date.now())).then(() => {
      throw this.bootFailed(`the guest did not answer within ${BOOT_TIMEOUT_MS / 1000} s`);
    });
    await Promise.race([hello, timeout]).catch((e: Error) => {
      if (e.message.startsWith('no common protocol version')) throw this.bootFailed(`${e.message}: its agent is of another vmrun; run \`vmrun setup\``);
      throw e;
    });
    return channel;
  }

  /** What plugging memory in needs: the VM's directory and its driver. */
  private memoryPort(): MemoryPort {
    return { dir: this.layout.dir, attachDevice: (file) => this.driver.attachDevice(file) };
  }

  /**
   * Plugs `mib` more into the running guest, and waits until it is online. The shape and the
   * record follow the plug, which stays even if the guest is slow to online it.
   */
  private async growMemory(channel: AgentChannel, mib: number): Promise<void> {
    const memory = this.memory!;
    await memory.plug(mib, this.memoryPort());
    this.shape = { ...this.shape, memoryMiB: memory.sizeMiB };
    await this.update({ guest: { ...this.record.guest!, memoryMiB: memory.sizeMiB } });
    await channel.request({ op: 'memory', memoryMiB: memory.sizeMiB }).catch((e: Error) => {
      throw new VmrunError('InvalidState', `the guest's memory, grown to ${memory.sizeMiB} MiB, did not come online: ${e.message}; the host cgroup has the new limits, the container's cgroup in the guest the old ones`);
    });
  }

  /**
   * The vCPUs of the guest's shape beyond the one it booted on (src/vm/domain-xml.ts), plugged
   * in and brought online by the agent. Failing leaves the container fewer CPUs, not none:
   * logged, and `update` maps cpusets onto those the guest has.
   */
  private async plugCpus(channel: AgentChannel, vcpus: number): Promise<void> {
    if (vcpus <= 1) return;
    const warn = (why: string) => {
      if (!this.failing) this.o.log.warn(`the container gets fewer CPUs than the ${vcpus} it may use: ${why}`);
    };
    // After a failed plug the agent still onlines what did arrive, without waiting for more.
    const t0 = Date.now();
    const plugged = await this.driver.setVcpus(vcpus).then(() => vcpus, (e: Error) => (warn(e.message), 1));
    const t1 = Date.now();
    const result = await channel.request({ op: 'cpus', count: plugged }).catch((e: Error) => void warn(e.message));
    this.o.log.debug({ setvcpusMs: t1 - t0, onlineMs: Date.now() - t1 }, 'vCPUs plugged in');
    if (!result) return;
    const online = onlineCount(result, vcpus);
    if (online === undefined) return warn(`the guest's agent answered ${String(JSON.stringify(result)).slice(0, 60)}, not a count of CPUs online`);
    if (online < plugged) warn(`the guest has ${online} online`);
    this.shape = { ...this.shape, vcpus: online };
  }

  /** What the monitor does with what its agent (or its pod's host) sends. */
  private agentLink(): AgentLink {
    return {
      log: this.o.log,
      stop: (status, why) => void this.stop(status, why),
      lose: (why) => this.lose(why),
      execExited: (m) => void (this.members?.exited(m) || this.execs?.exited(m)),
      dns: () => this.network?.dnsRelay,
    };
  }

  private bootFailed(why: string): VmrunError {
    return new VmrunError('InvalidState', `the container's VM did not start: ${why}; its console is in ${this.layout.consoleLog}`);
  }

  private async resize(rows: number, cols: number): Promise<void> {
    await this.channel?.request({ op: 'resize', process: 'init', rows, cols }).catch((e: Error) => this.o.log.debug(`resize: ${e.message}`));
  }

  private checkCanExec(): void {
    if (this.stopping) throw new VmrunError('InvalidState', 'cannot exec in a stopped container');
    if (this.record.phase === 'paused') throw new VmrunError('InvalidState', 'cannot exec in a paused container');
  }

  /** Answers a verb; those that change the container wait for each other, in order. */
  private handle(r: ControlRequest): Promise<Record<string, unknown> | undefined> {
    switch (r.op) {
      case 'start':
      case 'pause':
      case 'resume':
      case 'update': {
        const run = this.transitions.then(() => this.transition(r));
        this.transitions = run.catch(() => undefined);
        return run;
      }
      default:
        return this.query(r);
    }
  }

  private async transition(r: ControlRequest): Promise<Record<string, unknown> | undefined> {
    const channel = this.channel!;
    switch (r.op) {
      case 'start':
        if (this.record.phase !== 'created') throw this.notIn(`cannot start a container that is ${this.record.phase}`);
        await this.network?.carry();
        await this.runHooks('startContainer', 'created').catch((e: Error) => {
          void this.stop(255, e.message, { waitForOutput: false }); // after this answer goes out
          throw e;
        });
        // The process starts with its terminal's size as it is now.
        await this.terminalSize?.sync();
        await channel.request({ op: 'start' });
        await this.setPhase('running');
        // As runc's start, which returns once they have run; their failure is only logged.
        await this.runHooks('poststart', 'running').catch((e: Error) => this.o.log.warn(e.message));
        return undefined;
      case 'pause':
      case 'resume': {
        const [from, to] = r.op === 'pause' ? ['running', 'paused'] as const : ['paused', 'running'] as const;
        if (this.stopping) throw this.notIn('container not running');
        if (this.record.phase !== from) throw new VmrunError('InvalidState', `container not ${from}`);
        // A VM of its own stops whole; a container that shares one has its cgroup frozen.
        if (r.op === 'pause') this.frozen = !this.driver || (this.members?.count ?? 0) > 0;
        if (!this.frozen) await (r.op === 'pause' ? this.driver.suspend() : this.driver.resume());
        else await channel.request({ op: 'freeze', frozen: r.op === 'pause' });
        await this.setPhase(to);
        return undefined;
      }
      case 'update': {
        if (this.stopping) throw this.notIn('container not running');
        const hostHas = hostLimits(this.o.defaultGuestMemoryMiB);
        // A restored guest grows for a limit above what it has, planned as if it had grown; not
        // while paused, as its kernel could not online what is plugged in.
        const limit = r.resources.memory?.limit ?? 0;
        const grow = limit > 0 && this.memory && this.record.phase !== 'paused' ? this.memory.toAdd(guestMemoryFor(limit, hostHas)) : 0;
        const plan = planUpdate(r.resources, this.bandwidth, { ...this.shape, memoryMiB: this.shape.memoryMiB + grow }, hostHas);
        // The host cgroup first: it is what may refuse (a cpuset its parent does not allow), and
        // then nothing has changed. Growing the guest may still fail after it; its error says so.
        const hostNotes = await changeCgroup(this.record.cgroups ?? [], plan.host);
        if (grow > 0) await this.growMemory(channel, grow);
        if (Object.keys(plan.guest).length > 0) await channel.request({ op: 'update', cgroup: plan.guest });
        this.bandwidth = plan.bandwidth;
        return { notes: [...plan.notes, ...hostNotes] };
      }
      default:
        throw new VmrunError('InvalidArgument', `${r.op} is not a transition`);
    }
  }

  private async query(r: ControlRequest): Promise<Record<string, unknown> | undefined> {
    const channel = this.channel!;
    switch (r.op) {
      case 'kill': {
        if (this.stopping) throw this.notIn('container not running');
        const sent = channel.request({ op: 'signal', process: 'init', signal: r.signal, all: r.all ?? false });
        // A frozen guest takes the signal when it thaws, as a frozen cgroup's processes do.
        if (this.record.phase === 'paused') sent.catch(() => undefined);
        else await sent;
        return undefined;
      }
      case 'stats':
        if (this.record.phase === 'paused') throw new VmrunError('InvalidState', 'cannot read the resource use of a paused container');
        return (await channel.request({ op: 'stats' })) as Record<string, unknown>;
      case 'ps':
        if (this.record.phase === 'paused') throw new VmrunError('InvalidState', 'cannot list the processes of a paused container');
        return (await channel.request({ op: 'ps' })) as Record<string, unknown>;
      case 'resize':
        await this.resize(r.rows, r.cols);
        return undefined;
      case 'destroy': {
        // A CRI pod's VM ends with its sandbox, its members killed first, as runc's shim expects;
        // any other VM outlives the container that booted it while members use it, as their
        // namespaces outlive it under runc: it ends with the last, and cleans up after itself.
        const members = this.members?.count ?? 0;
        if (members > 0 && isCriSandbox(this.record)) this.members!.killAll();
        else if (members > 0) this.detached = true;
        void this.stop(137, 'destroyed', { waitForOutput: false });
        return this.detached ? { members } : undefined;
      }
      case 'virsh': {
        if (this.stopping) throw this.notIn('container not running');
        if (!this.driver) throw new VmrunError('InvalidArgument', `the container is in the VM of container ${this.record.pod?.host}: debug that one`);
        // Bounded: the answer is one line of the control socket.
        const output = await this.driver.run(r.args);
        return { output: output.length > MAX_VIRSH_OUTPUT ? `${output.slice(0, MAX_VIRSH_OUTPUT)}\n[cut at ${MAX_VIRSH_OUTPUT} characters]` : output };
      }
      default:
        throw new VmrunError('InvalidArgument', `${r.op} is not a query`);
    }
  }

  /** runc's words for a container that cannot take the verb, with why it stopped if a part was lost. */
  private notIn(words: string): VmrunError {
    return new VmrunError('InvalidState', this.record.stopReason ? `${words}: ${this.record.stopReason}` : words);
  }

  private async forward(signal: number): Promise<void> {
    // A container that is gone or going has no process to take it, as under runc.
    await this.channel?.request({ op: 'signal', process: 'init', signal }).catch((e: Error) => this.o.log.debug(`signal ${signal} not passed on: ${e.message}`));
  }

  /** The sentry was killed (kill -9): the container ends as runc's does when its init is SIGKILLed. */
  private sentryGone(): void {
    if (this.record.phase === 'creating') this.lose('its host process (vmrun-sentry) was killed');
    else void this.stop(137, 'its host process (vmrun-sentry) was killed', { waitForOutput: false });
  }

  /**
   * Ends the container once: its output out, the record stopped, every cleanup run, then the
   * status to the sentry. `lost`: a part of the container ended, which the record keeps.
   */
  private stop(status: number, why: string, { waitForOutput = true, lost = false } = {}): Promise<number> {
    this.stopping ??= (async () => {
      if (lost) this.o.log.warn({ status }, `stopping: ${why}`);
      else this.o.log.info({ status }, `stopping: ${why}`);
      if (waitForOutput) await Promise.race([this.output, sleep(OUTPUT_TIMEOUT_MS)]);
      await this.setPhase('stopped', { exitStatus: status, ...(lost && { stopReason: why.slice(0, 1000) }) })
        .catch((e: Error) => this.o.log.warn(`recording the stop: ${e.message}`));
      if (this.members?.count && !lost) {
        // The VM stays for the pod's members: the container's own processes go, its status out,
        // and its namespace's interfaces, which the engine takes out of the namespace now.
        await this.channel?.request({ op: 'signal', process: 'init', signal: constants.signals.SIGKILL, all: true }).catch(() => undefined);
        await this.network?.release();
        await this.sentry?.exit(status);
        // A CRI pod's VM ends with its sandbox's process: its members are killed, as runc's shim
        // and the kubelet expect of a pod whose sandbox is gone.
        if (isCriSandbox(this.record)) this.members.killAll();
        this.o.log.info({ members: this.members.count }, "the VM stays for the pod's members");
        await this.members.empty();
      }
      await this.cleanups.run();
      await this.sentry?.exit(status);
      // Deleted while its VM served members: what delete would have removed goes now.
      if (this.detached) {
        await unmountBelow(this.layout.dir);
        await rm(this.layout.dir, { recursive: true, force: true }).catch((e: Error) => this.o.log.warn(e.message));
        await leaveCgroup(this.record.cgroups ?? []);
        await removeCgroup(this.record.cgroups ?? []).catch((e: Error) => this.o.log.warn(e.message));
      }
      this.finish(status);
      return status;
    })();
    return this.stopping;
  }

  /** Moves the container to `to`, if its lifecycle allows it from where it is; a stopped container stays stopped. */
  private async setPhase(to: Phase, change: Partial<ContainerRecord> = {}): Promise<void> {
    const from = this.record.phase;
    if (!NEXT_PHASES[from].includes(to)) throw this.notIn(`the container is ${from}, not to become ${to}`);
    await this.update({ ...change, phase: to });
  }

  /** Changes the record, and saves it after any earlier change. */
  private update(change: Partial<ContainerRecord>): Promise<void> {
    this.record = { ...this.record, ...change };
    if (this.detached) return Promise.resolve(); // its record is gone
    const record = this.record;
    const saved = this.saving.then(() => this.o.store.save(record));
    this.saving = saved.catch(() => undefined);
    return saved;
  }
}

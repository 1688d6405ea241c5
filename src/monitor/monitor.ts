// The monitor: one host process per container that owns its VM for the VM's whole life. It holds
// the libvirt root open, speaks to the agent, relays the container's stdio (its own fds 0-2),
// forwards the signals it gets, answers verbs on its control socket, and exits with the
// container's exit status once the output is out and the VM is gone.
import { once } from 'node:events';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { connect, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentChannel } from '../agent/channel.js';
import { VmrunError } from '../errors.js';
import type { Event } from '../generated/agent-protocol.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { ControlRequest } from '../generated/control.js';
import { readyAssets } from '../guest/ready.js';
import { hookState, runHooks, type HookKind, type HookState, type RuntimeNamespaces } from '../runtime/hooks.js';
import { hostHelper } from '../host/helpers.js';
import type { AccelChoice } from '../host/accel.js';
import { hostLimits, ownCpus } from '../host/limits.js';
import { hostProcess } from '../host/process.js';
import type { Logger } from '../log.js';
import { loadBundle } from '../oci/bundle.js';
import { BINDS_TAG, guestPlan, withSubmounts } from '../oci/guest-plan.js';
import { mountBinds } from '../host/bind-mounts.js';
import { startPasst } from '../host/passt.js';
import { joinInterfaces, namespaceNetwork, separateInterface, userNetwork } from '../host/network.js';
import { sameNamespace } from '../host/namespaces.js';
import { networkMode, networkNamespace } from '../oci/network-mode.js';
import type { Spec } from '../generated/config.js';
import type { StateStore } from '../state/store.js';
import { domainXml, ROOTFS_TAG, sharePath, tapInterfaceXml, type Nic } from '../vm/domain-xml.js';
import { layoutOf, type VmLayout } from '../vm/layout.js';
import { capabilitiesCache, EMULATOR, EmbeddedDriver, keepCapabilities, prepareRoot, qemuIds, sealShare, vmProcesses, VIRTIOFSD, waitGone } from '../vm/libvirt.js';
import { guestSize } from '../vm/sizing.js';
import { joinStdio, watchTerminalSize } from '../host/stdio.js';
import { FORWARDED_SIGNALS } from '../host/signals.js';
import { serveControl } from './control.js';
import { ExecSessions } from './exec-sessions.js';
import { Sentry, sentryArgs } from './sentry.js';

export interface MonitorOptions {
  store: StateStore;
  id: string;
  accel: AccelChoice;
  cacheDir: string;
  callerMountNamespace: string;
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

/** How long the agent may take to make the container's process (0.3 s under TCG). */
const CREATE_TIMEOUT_MS = 60_000;

/** How long a guest may take from `virsh create` to its agent's hello (TCG is slow). */
const BOOT_TIMEOUT_MS = 120_000;

/**
 * The VM's network cards. Tap names are unique in the namespace, which other containers may
 * share, and at most 15 bytes (the prefix and a number); a user-mode card has a MAC of its own.
 */
function nicOf(spec: Spec, layout: VmLayout, log: Logger): Nic | undefined {
  const hash = basename(layout.dir);
  let mode = networkMode(spec);
  // vmrun's own network namespace (Docker's --network host names it by a path of its own) is
  // never carried into a guest, which would take the host's interfaces off it.
  if (mode === 'namespace' && sameNamespace('/proc/self/ns/net', `/proc/self/fd/${RUNTIME_NETNS_FD}`)) {
    log.info("the container's network namespace is vmrun's own: it gets an outbound user-mode network instead of its interfaces");
    mode = 'user';
  }
  switch (mode) {
    case 'namespace': return { kind: 'tap', tapPrefix: `vm${hash.slice(0, 10)}` };
    case 'user': return { kind: 'user', mac: `52:54:00:${hash.slice(0, 6).match(/../g)!.join(':')}`, socket: join(layout.dir, 'passt', 'passt.sock') };
    case 'none': return undefined;
  }
}

export class Monitor {
  private channel?: AgentChannel;
  /** The namespace interfaces joined to the VM's taps at start. */
  private carried?: string[];
  private control?: Server;
  private execs?: ExecSessions;
  /** Resolves once the init's output is out of the monitor's fds 1 and 2. */
  private output: Promise<void> = Promise.resolve();
  private stopping?: Promise<number>;
  /** The container's init on the host (src/monitor/sentry.ts). */
  private sentry?: Sentry;
  readonly done: Promise<number>;
  private finish!: (status: number) => void;

  private constructor(
    private readonly o: MonitorOptions,
    private record: ContainerRecord,
    private readonly layout: VmLayout,
    private readonly driver: EmbeddedDriver,
    /** Where hooks run: vmrun's own namespaces. */
    private readonly namespaces: RuntimeNamespaces,
    /** The VM's network card, if it has one. */
    private readonly nic?: Nic,
    /** The named network namespace the monitor lives in, if config.json names one. */
    private readonly netnsPath?: string,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

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

  /** Boots the VM and creates the container in it; on failure, leaves no VM behind. */
  static async create(o: MonitorOptions): Promise<Monitor> {
    const record = await o.store.load(o.id);
    const layout = layoutOf(record.vmDir);
    const bundle = await loadBundle(record.bundle);
    const assets = await readyAssets(o.cacheDir);
    const size = guestSize(bundle.spec, hostLimits());
    const { plan, binds } = guestPlan(bundle.spec, bundle.dir);
    // Started first, to start while the VM is prepared and boots: create checked its
    // namespace paths (src/host/namespaces.ts), so it fails only if the host cannot do it.
    const starting = Sentry.start(await hostHelper(o.cacheDir, 'vmrun-sentry'), sentryArgs(bundle.spec, record.rootfs, layout.dir));
    starting.catch(() => undefined); // awaited once the VM is created

    // `vmrun create` made the VM directory (src/runtime/create.ts).
    await mkdir(layout.shares, { mode: 0o700 });
    await symlink(bundle.rootfs, join(layout.shares, ROOTFS_TAG));
    plan.mounts = withSubmounts(plan.mounts, await mountBinds(join(layout.shares, BINDS_TAG), binds, o.callerMountNamespace));
    const caps = await capabilitiesCache(o.cacheDir);
    const { seeded } = await prepareRoot(layout.libvirtRoot, caps);
    const xmlFile = join(layout.dir, 'domain.xml');
    const nic = nicOf(bundle.spec, layout, o.log);
    await writeFile(xmlFile, domainXml(bundle.spec, {
      id: o.id, bundle: bundle.dir, rootfs: bundle.rootfs, accel: o.accel.accel, size, layout,
      shares: binds.length > 0 ? [BINDS_TAG] : [],
      nic,
      cpuset: ownCpus(),
      kernel: assets.kernel, initrd: assets.initrd, emulator: EMULATOR, virtiofsd: VIRTIOFSD,
    }));

    const namespaces = await runtimeNamespaces(o.cacheDir);
    const driver = EmbeddedDriver.open(layout.libvirtRoot);
    const monitor = new Monitor(o, record, layout, driver, namespaces, nic, networkNamespace(bundle.spec)?.path);
    try {
      if (nic?.kind === 'user') await monitor.update({ passt: (await startPasst(dirname(nic.socket), qemuIds())).passt });
      const t0 = Date.now();
      const created = driver.createDomain(xmlFile);
      // Logged while virsh starts QEMU: the first log line loads the logger.
      o.log.info({ accel: o.accel.accel, reason: o.accel.reason, memoryMiB: size.memoryMiB, vcpus: size.vcpus }, 'booting the VM');
      for (const reason of size.reasons) o.log.debug(reason);
      await created;
      const tCreated = Date.now();
      const procs = await vmProcesses(layout.libvirtRoot);
      monitor.adopt(await starting);
      await monitor.update({ monitor: hostProcess(process.pid), sentry: hostProcess(monitor.pid), accel: o.accel.accel, ...procs });
      if (!seeded) await keepCapabilities(layout.libvirtRoot, caps);

      // prestart and createRuntime hooks (runc's order) run while the guest boots; the container's
      // process is made only once they have succeeded.
      const hooksDone = monitor.runHooks('prestart', 'creating').then(() => monitor.runHooks('createRuntime', 'creating'));
      const [channel] = await Promise.all([monitor.connectAgent(), hooksDone]);
      const tHello = Date.now();
      const { stdio, output, terminalOut } = joinStdio(channel, !!plan.process.terminal);
      monitor.output = output;
      const result = (await channel.request({ op: 'create', plan, stdio }, CREATE_TIMEOUT_MS)) as { boot?: unknown } | undefined;
      // Its mount points made, a read-only root becomes read-only on the host too.
      if (bundle.spec.root?.readonly) await sealShare(await hostHelper(o.cacheDir, 'vmrun-seal'), procs.virtiofsd, sharePath(layout, ROOTFS_TAG));
      // Its size from now on; until now, config.json's consoleSize held.
      if (terminalOut) watchTerminalSize(terminalOut, (rows, cols) => void monitor.resize(rows, cols));
      o.log.info({ libvirtMs: tCreated - t0, helloMs: tHello - tCreated, createMs: Date.now() - tHello, guest: result?.boot }, 'container created');
      await monitor.runHooks('createContainer', 'creating');
      monitor.control = await serveControl(layout.controlSocket, (r) => monitor.handle(r));
      monitor.execs = new ExecSessions(channel, () => monitor.checkCanExec(), o.log);
      await monitor.execs.serve(layout.execSocket);
      for (const signal of FORWARDED_SIGNALS) process.on(signal, () => void monitor.forward(constants.signals[signal]));
      if (monitor.sentryLost) throw new VmrunError('InvalidState', "the container's host process (vmrun-sentry) was killed");
      await monitor.update({ phase: 'created' });
      return monitor;
    } catch (e) {
      await monitor.teardown();
      await monitor.sentry?.exit(255);
      await monitor.runHooks('poststop', 'stopped').catch((h: Error) => o.log.warn(h.message));
      throw e;
    }
  }

  /** The hooks of one kind, on the host, with the state as it is now; rejects if one fails. */
  private runHooks(kind: HookKind, status: HookState['status']): Promise<void> {
    // As runc gives them its init's pid: the sentry's.
    return runHooks(kind, this.record.hooks, hookState(this.record, status, status === 'stopped' ? 0 : (this.sentry?.pid ?? process.pid)), this.namespaces);
  }

  private async connectAgent(): Promise<AgentChannel> {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    let socket: Socket | undefined;
    // QEMU makes the socket a moment after `create` returns.
    while (!socket) {
      try {
        const s = connect(this.layout.agentSocket);
        await once(s, 'connect');
        socket = s;
      } catch {
        if (Date.now() > deadline) throw this.bootFailed('its agent socket never appeared');
        await sleep(10);
      }
    }
    const channel = new AgentChannel(socket);
    this.channel = channel;
    channel.on('error', (e: Error) => this.o.log.warn(`agent channel: ${e.message}`));
    channel.on('message', (m: Event) => {
      if (m.event === 'log') this.o.log[m.level](`guest: ${m.msg}`);
      else if (m.process === 'init') void this.stop(m.status, 'the container exited');
      else this.execs?.exited(m);
    });
    channel.on('close', () => void this.stop(255, 'the VM ended without reporting the exit status'));
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

  private async handle(r: ControlRequest): Promise<Record<string, unknown> | undefined> {
    const channel = this.channel!;
    switch (r.op) {
      case 'start':
        if (this.record.phase !== 'created') throw new VmrunError('InvalidState', `cannot start a container that is ${this.record.phase}`);
        await this.carryNetwork();
        await this.runHooks('startContainer', 'created').catch((e: Error) => {
          void this.stop(255, e.message, { waitForOutput: false }); // after this answer goes out
          throw e;
        });
        await channel.request({ op: 'start' });
        await this.update({ phase: 'running' });
        // As runc's start, which returns once they have run; their failure is only logged.
        await this.runHooks('poststart', 'running').catch((e: Error) => this.o.log.warn(e.message));
        return undefined;
      case 'kill': {
        if (this.stopping) throw new VmrunError('InvalidState', 'container not running');
        const sent = channel.request({ op: 'signal', process: 'init', signal: r.signal, all: r.all ?? false });
        // A frozen guest takes the signal when it thaws, as a frozen cgroup's processes do.
        if (this.record.phase === 'paused') sent.catch(() => undefined);
        else await sent;
        return undefined;
      }
      case 'pause':
      case 'resume': {
        const [from, to] = r.op === 'pause' ? ['running', 'paused'] as const : ['paused', 'running'] as const;
        if (this.stopping) throw new VmrunError('InvalidState', 'container not running');
        if (this.record.phase !== from) throw new VmrunError('InvalidState', `container not ${from}`);
        await (r.op === 'pause' ? this.driver.suspend() : this.driver.resume());
        await this.update({ phase: to });
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
      case 'update':
        if (this.stopping) throw new VmrunError('InvalidState', 'container not running');
        await channel.request({ op: 'update', cgroup: r.cgroup });
        return undefined;
      case 'destroy':
        void this.stop(137, 'destroyed', { waitForOutput: false });
        return undefined;
    }
  }

  /**
   * The namespace's interfaces, as they are now (a hook or a tool may have made them after
   * create), each joined to a tap of its own, the VM's card on it plugged in with the
   * interface's MAC, and the guest's NICs given their names, MTUs, addresses and routes.
   */
  private async carryNetwork(): Promise<void> {
    if (!this.nic || this.carried) return;
    this.carried = [];
    if (this.nic.kind === 'user') {
      const { interfaces, routes } = await userNetwork(this.nic.mac);
      await this.channel!.request({ op: 'network', interfaces, routes });
      return;
    }
    const { interfaces, routes } = await namespaceNetwork(this.nic.tapPrefix);
    if (interfaces.length === 0) return;
    for (const [i, itf] of interfaces.entries()) {
      const tap = `${this.nic.tapPrefix}${i}`;
      const file = join(this.layout.dir, `nic${i}.xml`);
      await writeFile(file, tapInterfaceXml(tap, itf.mac));
      await this.driver.attachDevice(file); // libvirt makes the tap as it plugs the card in
      await joinInterfaces(itf.name, tap);
      this.carried.push(itf.name);
      // A named namespace outlives the container: a delete after a crash takes the redirects off.
      if (this.netnsPath) await this.update({ carried: { namespace: this.netnsPath, interfaces: [...this.carried] } });
    }
    await this.channel!.request({ op: 'network', interfaces, routes });
  }

  private async forward(signal: number): Promise<void> {
    await this.channel?.request({ op: 'signal', process: 'init', signal }).catch(() => undefined);
  }

  /** Set when the sentry dies before the container is created, which then fails. */
  private sentryLost = false;

  /** The sentry was killed (kill -9): the container ends as runc's does when its init is SIGKILLed. */
  private sentryGone(): void {
    if (this.record.phase === 'creating') this.sentryLost = true;
    else void this.stop(137, "its host process (vmrun-sentry) was killed", { waitForOutput: false });
  }

  /** Ends the container once: its output out, the VM gone, the record stopped, then the status. */
  private stop(status: number, why: string, { waitForOutput = true } = {}): Promise<number> {
    this.stopping ??= (async () => {
      this.o.log.info({ status }, `stopping: ${why}`);
      if (waitForOutput) await this.output;
      await this.update({ phase: 'stopped', exitStatus: status });
      await this.teardown();
      await this.sentry?.exit(status);
      this.finish(status);
      return status;
    })();
    return this.stopping;
  }

  /** Destroys the VM and waits until QEMU and virtiofsd are gone. */
  private async teardown(): Promise<void> {
    this.control?.close();
    this.execs?.close();
    for (const name of this.nic?.kind === 'tap' ? (this.carried ?? []) : []) await separateInterface(name);
    await rm(this.layout.controlSocket, { force: true });
    this.channel?.close();
    await this.driver.destroyDomain();
    await this.driver.close();
    const procs = [this.record.qemu, ...(this.record.virtiofsd ?? []), this.record.passt].filter((p) => p !== undefined);
    for (const p of procs) {
      if (!(await waitGone(p, 5_000))) {
        this.o.log.warn({ pid: p.pid }, 'still running after destroy: killing it');
        process.kill(p.pid, 'SIGKILL');
      }
    }
  }

  private async update(change: Partial<ContainerRecord>): Promise<void> {
    this.record = { ...this.record, ...change };
    await this.o.store.save(this.record);
  }
}

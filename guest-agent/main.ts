// vmrun's agent: PID 1's only job in the guest after init.sh. It serves the host over the
// virtio-serial port: prepares the container at `create`, starts it, signals it, and reports
// its exit after its output.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startupSnapshot } from 'node:v8';
import { AGENT_PORT, AgentChannel } from '../src/agent/channel.js';
import type { ExitEvent, Request } from '../src/generated/agent-protocol.js';
import { ContainerProcess } from './container.js';
import { findPort, hostConnected, openPort } from './fd-socket.js';
import { CONTAINER_ROOT, mountArgs, rootfsMountedEarly } from './mounts.js';
import { ROOTFS_TAG } from '../src/vm/domain-xml.js';
import { cgroupFlags, namespaceFlags } from './process-flags.js';
import { containerProcesses, signalAll } from './processes.js';
import { FIRST, memberScope, type ContainerScope } from './scope.js';
import { removeMember } from './members.js';
import { configureNetwork, unplugInterfaces } from './network.js';
import { EmbeddedDns } from './dns.js';
import { updateCgroup, writableCgroups } from './cgroup.js';
import { guestStats } from './stats.js';
import { onlineCpus } from './cpus.js';
import { CPUS_WAIT_MS, MEMORY_WAIT_MS, SHARES_WAIT_MS } from '../src/agent/deadlines.js';
import { writeSeccomp } from './seccomp.js';
import { containerPtmx } from './terminal.js';
import { warmUp } from './warm-up.js';
import { memoryOnline, readyForImage, restoredFlag, sharesPlugged } from './restored.js';

const SOFTWARE = 'vmrun-agent';
const uptime = (text: string) => Number(text.split(' ')[0]);
const now = () => uptime(readFileSync('/proc/uptime', 'utf8'));
/** Seconds since the guest kernel started: when init started node, and when the agent began. */
let boot: { nodeExec: number; agentStart: number };
const log = (msg: string) => process.stderr.write(`vmrun-agent: ${msg}\n`);

/** The whole guest is the container's, so any sysctl applies (runc allows only namespaced ones). */
function setSysctl(key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  } catch (e) {
    throw new Error(`sysctl ${key}=${value}: ${(e as Error).message}`);
  }
}

/** One container of the guest: its init, its exec'd processes, and where they go. */
interface GuestContainer {
  scope: ContainerScope;
  init: ContainerProcess;
  /** Processes run by exec, by the names the host gave them, until they end. */
  execs: Map<string, ContainerProcess>;
  /** vmrun-exec's flags that put an exec'd process where the container's init is. */
  joinFlags: string[];
  /** vmrun-exec's flag for the container's seccomp filter, which exec'd processes get too (runc's way). */
  seccompFlags: string[];
}

class Agent {
  private channel?: AgentChannel;
  /** The guest's containers: '' the first, which booted it, then a pod's members by name. */
  private readonly containers = new Map<string, GuestContainer>();
  /** Exits that happened while no host was connected, sent on the next connection. */
  private unsentExits: ExitEvent[] = [];
  /**
   * Restored from vmrun's image: init.sh mounted no rootfs share while node started, and the
   * first container's vmrun-exec sets the clock and reseeds first (these are its flags).
   */
  private restored?: string[];
  /** Docker's embedded DNS, once the host asks for it. */
  private readonly dns = new EmbeddedDns(() => this.channel);

  async serve(channel: AgentChannel): Promise<void> {
    this.channel = channel;
    channel.on('request', (r: Request) => {
      this.handle(r).then(
        (result) => channel.respond(r.id, result),
        (e: Error) => channel.respond(r.id, e),
      );
    });
    channel.on('error', (e: Error) => log(e.message));
    await channel.hello(SOFTWARE);
    for (const exit of this.unsentExits.splice(0)) this.report(exit);
  }

  private async handle(r: Request): Promise<Record<string, unknown> | undefined> {
    const name = r.container ?? '';
    switch (r.op) {
      case 'create': {
        if (this.containers.has(name)) throw new Error('the container exists already');
        if (name !== '' && !this.containers.has('')) throw new Error('a member cannot be the first container of a guest');
        const scope = name === '' ? FIRST : memberScope(name);
        const { plan, stdio } = r;
        const received = now();
        const namespaces = namespaceFlags(plan);
        const cgroup = cgroupFlags(plan, scope);
        const seccompFlags = plan.seccomp ? writeSeccomp(plan.seccomp, name) : [];
        const shared = plan.share?.length ? ['--share', `${plan.share.join(',')}:${this.need('').init.containerPid}`] : [];
        if (name !== '') {
          mkdirSync(scope.root, { recursive: true });
          writableCgroups(); // vmrun-exec makes the member's cgroup there
        }
        // The filter is read before the namespaces: its file is the guest's.
        // A restored guest's root share is mounted as init.sh mounts it on a boot: in the guest's
        // own mount namespace, before any of the container's (virtiofs cannot be mounted in a user namespace).
        const restoredRoot = name === '' && this.restored !== undefined && plan.rootfs.tag === ROOTFS_TAG && plan.rootfs.path === undefined;
        const early = name === '' && (restoredRoot || (!this.restored && await rootfsMountedEarly(plan.rootfs.tag)));
        const first = name === '' ? [...(this.restored ?? []), ...(restoredRoot ? ['--mount', 'virtiofs', ROOTFS_TAG, CONTAINER_ROOT, ''] : [])] : [];
        const setup = [...first, ...cgroup, ...seccompFlags, ...shared, ...namespaces.flags, ...mountArgs(plan, early, scope.root)];
        // A new UTS namespace starts with these: written first.
        if (plan.hostname !== undefined) writeFileSync('/proc/sys/kernel/hostname', plan.hostname);
        if (plan.domainname !== undefined) writeFileSync('/proc/sys/kernel/domainname', plan.domainname);
        for (const [key, value] of namespaces.guestSysctls) setSysctl(key, value);
        const devpts = plan.mounts.some((m) => m.type === 'devpts' && m.destination.replace(/\/+$/, '') === '/dev/pts');
        const init = await ContainerProcess.create('init', scope, plan.process, stdio, this.channel!, setup, devpts);
        // Execs go where the init is: its cgroup, then its namespaces.
        const joinFlags = cgroup.length > 0 ? ['--cgroup', scope.cgroup] : [];
        if (namespaces.flags.length > 0 || shared.length > 0) joinFlags.push('--join', String(init.containerPid));
        this.containers.set(name, { scope, init, execs: new Map(), joinFlags, seccompFlags });
        void init.exited.then((exit) => this.report({ type: 'event', event: 'exit', process: 'init', ...(name && { container: name }), ...exit }));
        // boot_id is made at its first read: after the restore's reseed, never in the image.
        const bootId = name === '' ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() : undefined;
        return { pid: init.pid, bootId, boot: { ...boot, received, created: now() } };
      }
      case 'image':
        if (this.containers.size > 0) throw new Error('a guest with containers cannot become the restore image');
        readyForImage();
        return undefined;
      case 'restored':
        if (this.containers.size > 0) throw new Error('a guest with containers was not just restored');
        this.restored = restoredFlag(r.clockMs, process.hrtime.bigint(), r.seed);
        // The console's first line of this VM: its boot's went to the image's console.
        log('restored from the restore image');
        await sharesPlugged(r.shares, SHARES_WAIT_MS);
        if (r.memoryMiB !== undefined) await memoryOnline(r.memoryMiB, MEMORY_WAIT_MS);
        return undefined;
      case 'start':
        await this.need(name).init.start();
        return undefined;
      case 'exec': {
        const c = this.need(name);
        if (r.process === 'init' || c.execs.has(r.process)) throw new Error(`a process named ${r.process} exists already`);
        const devpts = existsSync(containerPtmx(c.init.root));
        const proc = await ContainerProcess.create(r.process, c.scope, r.spec, r.stdio, this.channel!, [...c.seccompFlags, ...c.joinFlags], devpts);
        // Its exit is reported only if it ran: a failed exec is the request's error.
        await proc.start();
        c.execs.set(r.process, proc);
        void proc.exited.then((exit) => {
          c.execs.delete(r.process);
          this.report({ type: 'event', event: 'exit', process: r.process, ...(name && { container: name }), ...exit });
        });
        return { pid: proc.pid };
      }
      case 'signal':
        if (r.all) signalAll(r.signal, this.need(name).scope);
        else this.process(name, r.process).signal(r.signal);
        return undefined;
      case 'resize':
        await this.process(name, r.process).resize(r.rows, r.cols);
        return undefined;
      case 'ps': {
        // As the container numbers them, as runc's are as the host does.
        const processes = containerProcesses(this.need(name).scope).map(({ guestPid: _, ...p }) => p);
        return { pids: processes.map((p) => p.pid), processes };
      }
      case 'stats':
        return { ...guestStats(this.need(name).scope) };
      case 'cpus':
        return { online: await onlineCpus(r.count, CPUS_WAIT_MS) };
      case 'memory':
        await memoryOnline(r.memoryMiB, MEMORY_WAIT_MS);
        return undefined;
      case 'update':
        this.writeCgroup(name, r.cgroup);
        return undefined;
      case 'freeze':
        this.writeCgroup(name, { 'cgroup.freeze': r.frozen ? '1' : '0' });
        return undefined;
      case 'remove':
        if (name === '') throw new Error("the guest's first container cannot leave it");
        await removeMember(this.need(name).scope);
        this.containers.delete(name);
        return undefined;
      case 'network':
        if (r.unplug) unplugInterfaces(r.unplug);
        if (r.interfaces.length > 0) await configureNetwork(r.interfaces, r.routes);
        if (r.embeddedDns) await this.dns.listen();
        return undefined;
      default:
        throw new Error(`${r.op} is not supported by this agent`);
    }
  }

  /** Writes files of the container's guest cgroup, made (its processes moved in) if need be. */
  private writeCgroup(name: string, files: Record<string, string>): void {
    const c = this.need(name);
    updateCgroup(files, c.scope);
    // Later execs join it too.
    if (!c.joinFlags.includes('--cgroup')) c.joinFlags.unshift('--cgroup', c.scope.cgroup);
  }

  private process(container: string, name: string): ContainerProcess {
    const c = this.need(container);
    const proc = name === 'init' ? c.init : c.execs.get(name);
    if (!proc) throw new Error(`no such process: ${name}`);
    return proc;
  }

  private need(name: string): GuestContainer {
    const c = this.containers.get(name);
    if (!c) throw new Error(name === '' ? 'no container has been created' : `no container ${name} in this guest`);
    return c;
  }

  private report(exit: ExitEvent): void {
    try {
      this.channel!.send(exit);
    } catch {
      this.unsentExits.push(exit);
    }
  }
}

async function main(): Promise<void> {
  boot = { nodeExec: uptime(readFileSync('/run/vmrun/node-exec-uptime', 'utf8')), agentStart: now() };
  const path = findPort(AGENT_PORT);
  if (!path) throw new Error(`no virtio-serial port named ${AGENT_PORT}`);
  const agent = new Agent();
  // Until the host connects the port reads as EOF: reopen it until a hello comes back, and again
  // whenever the host goes away. Opened only once the host is there: closing the port throws
  // away what it holds, which could be the next host's hello, just arrived.
  for (;;) {
    if (hostConnected(path) === false) {
      await sleep(10);
      continue;
    }
    let port;
    try {
      port = openPort(path);
    } catch (e) {
      // The fd of the last attempt may not be closed yet, and the port opens only once.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
      await sleep(20);
      continue;
    }
    // The host is trusted: it may send stdin before the create that names its stream, and plans of 4 MiB.
    const channel = new AgentChannel(port, { trustedPeer: true, helloSecond: true, peer: 'the host' });
    const closed = new Promise((resolve) => channel.once('close', resolve));
    await agent.serve(channel).catch(() => undefined);
    await closed;
    await sleep(20);
  }
}

function runAgent(): void {
  main().catch((e: Error) => {
    log(`fatal: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}

// Built into a V8 startup snapshot (guest-agent/init.sh), the modules above are loaded once, when
// the snapshot is made, and every boot starts at runAgent(): about 0.4 s less under TCG.
if (startupSnapshot.isBuildingSnapshot()) {
  // The snapshot is written once the event loop is empty, so the warm-up finishes first.
  void warmUp();
  startupSnapshot.setDeserializeMainFunction(runAgent);
} else {
  runAgent();
}

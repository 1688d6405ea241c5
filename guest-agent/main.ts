// vmrun's agent: PID 1's only job in the guest after init.sh. It serves the host over the
// virtio-serial port: prepares the container at `create`, starts it, signals it, and reports
// its exit after its output.
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startupSnapshot } from 'node:v8';
import { AGENT_PORT, AgentChannel } from '../src/agent/channel.js';
import type { ExitEvent, Request } from '../src/generated/agent-protocol.js';
import { ContainerProcess } from './container.js';
import { findPort, openPort } from './fd-socket.js';
import { CONTAINER_ROOT, mountArgs, rootfsMountedEarly } from './mounts.js';
import { cgroupFlags } from './process-flags.js';
import { containerPids, signalAll } from './processes.js';
import { configureNetwork } from './network.js';
import { warmUp } from './warm-up.js';

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

class Agent {
  private channel?: AgentChannel;
  private container?: ContainerProcess;
  /** An exit that happened while no host was connected, sent on the next connection. */
  private unsentExit?: ExitEvent;

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
    if (this.unsentExit) this.report(this.unsentExit);
  }

  private async handle(r: Request): Promise<Record<string, unknown> | undefined> {
    switch (r.op) {
      case 'create': {
        if (this.container) throw new Error('the container exists already');
        const { plan, stdio } = r;
        const received = now();
        const setup = [...cgroupFlags(plan), ...mountArgs(plan, await rootfsMountedEarly(plan.rootfs.tag))];
        if (plan.hostname !== undefined) writeFileSync('/proc/sys/kernel/hostname', plan.hostname);
        if (plan.domainname !== undefined) writeFileSync('/proc/sys/kernel/domainname', plan.domainname);
        for (const [key, value] of Object.entries(plan.sysctl ?? {})) setSysctl(key, value);
        const container = await ContainerProcess.create('init', CONTAINER_ROOT, plan.process, stdio, this.channel!, setup);
        this.container = container;
        void container.exited.then((exit) => this.report({ type: 'event', event: 'exit', process: 'init', ...exit }));
        return { pid: container.pid, boot: { ...boot, received, created: now() } };
      }
      case 'start':
        await this.need().start();
        return undefined;
      case 'signal':
        if (r.all) signalAll(r.signal);
        else this.need().signal(r.signal);
        return undefined;
      case 'ps':
        return { pids: containerPids() };
      case 'network':
        await configureNetwork(r.interfaces, r.routes);
        return undefined;
      default:
        throw new Error(`${r.op} is not supported by this agent`);
    }
  }

  private need(): ContainerProcess {
    if (!this.container) throw new Error('no container has been created');
    return this.container;
  }

  private report(exit: ExitEvent): void {
    try {
      this.channel!.send(exit);
      this.unsentExit = undefined;
    } catch {
      this.unsentExit = exit;
    }
  }
}

async function main(): Promise<void> {
  boot = { nodeExec: uptime(readFileSync('/run/vmrun/node-exec-uptime', 'utf8')), agentStart: now() };
  const path = findPort(AGENT_PORT);
  if (!path) throw new Error(`no virtio-serial port named ${AGENT_PORT}`);
  const agent = new Agent();
  // Until the host connects the port reads as EOF: reopen it until a hello comes back, and again
  // whenever the host goes away.
  for (;;) {
    let port;
    try {
      port = openPort(path);
    } catch (e) {
      // The fd of the last attempt may not be closed yet, and the port opens only once.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
      await sleep(20);
      continue;
    }
    const channel = new AgentChannel(port);
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

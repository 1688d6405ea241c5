// The pod socket of a guest's first container: each connection is the monitor of a pod member
// (a container that joined this VM), speaking the agent protocol for its own container of the
// guest. Its requests go on to the agent, its streams on fresh ids of the agent channel, and the
// agent's exits of its processes come back after their output. A member that goes away leaves
// the guest: its processes are killed, its share folder let go of.
import type { Server } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { AgentChannel } from '../agent/channel.js';
import { HELLO_DEADLINE_MS } from '../agent/deadlines.js';
import { VmrunError } from '../errors.js';
import type { ExitEvent, Request, Request1 } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';
import { bridgeStdio, sendAfterOutput, servePeers, type StreamIds } from './stream-bridge.js';

interface Member {
  channel: AgentChannel;
  name?: string;
  /** The member's ends of each process's output streams, which end before its exit is passed on. */
  outputs: Map<string, Promise<unknown>[]>;
  streams: (Readable | Writable)[];
}

const PASSED_ON = new Set<Request['op']>(['start', 'signal', 'resize', 'ps', 'stats', 'update', 'freeze']);

export class PodMembers {
  private readonly members = new Map<string, Member>();
  private server?: Server;
  private emptied: (() => void)[] = [];

  constructor(
    private readonly agent: AgentChannel,
    private readonly ids: StreamIds,
    /** Let go of what the host holds for the member (its share folder), once it has left the guest. */
    private readonly release: (name: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  get count(): number {
    return this.members.size;
  }

  /** Resolves once no member is left in the guest. */
  empty(): Promise<void> {
    return this.members.size === 0 ? Promise.resolve() : new Promise((resolve) => this.emptied.push(resolve));
  }

  /** Kills every member's processes, as a CRI pod's are when its sandbox goes: each then leaves. */
  killAll(): void {
    for (const name of this.members.keys()) {
      this.agent.request({ op: 'signal', container: name, process: 'init', signal: constants.signals.SIGKILL, all: true } as Request1).catch((e: Error) => this.log.debug(`pod member ${name}: ${e.message}`));
    }
  }

  async serve(path: string): Promise<void> {
    this.server = await servePeers(path, "a pod member's monitor", this.log, (channel) => void this.accept(channel));
  }

  /** Passes an exit of a member's process on to its monitor; false if it is not a member's. */
  exited(event: ExitEvent): boolean {
    if (event.container === undefined) return false;
    const member = this.members.get(event.container);
    if (!member) return true;
    const outputs = member.outputs.get(event.process) ?? [];
    member.outputs.delete(event.process);
    sendAfterOutput(outputs, member.channel, event);
    return true;
  }

  /** Every member's channel closed: their monitors stop their containers, as killed. */
  close(): void {
    this.server?.close();
    for (const { channel } of this.members.values()) channel.close();
  }

  private async accept(channel: AgentChannel): Promise<void> {
    const member: Member = { channel, outputs: new Map(), streams: [] };
    channel.on('request', (r: Request) => {
      this.handle(member, r).then((result) => channel.respond(r.id, result), (e: Error) => channel.respond(r.id, e));
    });
    channel.once('close', () => void this.leave(member));
    await channel.hello('vmrun-pod', HELLO_DEADLINE_MS).catch(() => channel.close());
  }

  private async handle(member: Member, r: Request): Promise<Record<string, unknown> | undefined> {
    if (r.container === undefined) throw new VmrunError('InvalidArgument', 'a pod member names its container in each request');
    if (member.name === undefined) {
      if (this.members.has(r.container)) throw new VmrunError('InvalidArgument', `pod member ${r.container} is here already`);
      member.name = r.container;
      this.members.set(r.container, member);
    } else if (r.container !== member.name) {
      throw new VmrunError('InvalidArgument', `this connection is pod member ${member.name}'s`);
    }
    const { type: _type, id: _id, ...body } = r;
    if (r.op === 'create' || r.op === 'exec') {
      const process = r.op === 'create' ? 'init' : r.process;
      const { stdio, outputs, streams } = bridgeStdio(this.agent, this.ids, member.channel, r.stdio);
      member.outputs.set(process, outputs);
      member.streams.push(...streams);
      return this.agent.request({ ...body, stdio } as Request1);
    }
    if (!PASSED_ON.has(r.op)) throw new VmrunError('InvalidArgument', `${r.op} is not for a pod member`);
    return this.agent.request(body as Request1);
  }

  /** The member's monitor went away (its container stopped, or it was killed): it leaves the guest. */
  private async leave(member: Member): Promise<void> {
    const name = member.name;
    if (name === undefined || this.members.get(name) !== member) return;
    this.members.delete(name);
    for (const s of member.streams) s.destroy();
    await this.agent.request({ op: 'remove', container: name } as Request1).catch((e: Error) => this.log.warn(`pod member ${name} leaving the guest: ${e.message}`));
    await this.release(name).catch((e: Error) => this.log.warn(`pod member ${name}: ${e.message}`));
    if (this.members.size === 0) this.emptied.splice(0).forEach((resolve) => resolve());
  }
}

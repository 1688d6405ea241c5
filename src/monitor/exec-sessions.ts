// The monitor's exec socket: each connection is one exec relay (src/exec/relay.ts), speaking
// the agent protocol. The monitor names the process, gives its stdio streams ids of the agent
// channel of their own, passes the relay's requests on to the agent for that process only, and
// hands the relay its process's exit. A relay that goes away takes its process with it.
import type { Server } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { constants } from 'node:os';
import type { AgentChannel } from '../agent/channel.js';
import { HELLO_DEADLINE_MS } from '../agent/deadlines.js';
import type { ExitEvent, Request } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';
import { VmrunError } from '../errors.js';
import { bridgeStdio, sendAfterOutput, servePeers, StreamIds } from './stream-bridge.js';

interface Session {
  relay: AgentChannel;
  /** The relay's ends of the process's output streams, which end before its exit is passed on. */
  outputs: Promise<unknown>[];
  /** The agent channel's ends of its streams, let go of if the exec fails. */
  streams: (Readable | Writable)[];
  exited: boolean;
}

export class ExecSessions {
  private readonly sessions = new Map<string, Session>();
  private lastExec = 0;
  private server?: Server;

  constructor(
    private readonly agent: AgentChannel,
    /** Throws, with runc's words, when the container cannot take an exec now. */
    private readonly checkCanExec: () => void,
    private readonly log: Logger,
    private readonly ids = new StreamIds(),
  ) {}

  async serve(path: string): Promise<void> {
    this.server = await servePeers(path, 'the exec relay', this.log, (relay) => void this.accept(relay));
  }

  /** Passes an exit from the agent on to the relay of that process; false if it is not an exec's. */
  exited(event: ExitEvent): boolean {
    const session = this.sessions.get(event.process);
    if (!session) return false;
    if (session.exited) return true; // a guest's repeated exit is passed on once
    session.exited = true;
    sendAfterOutput(session.outputs, session.relay, event, () => this.sessions.delete(event.process));
    return true;
  }

  close(): void {
    this.server?.close();
    for (const { relay } of this.sessions.values()) relay.close();
  }

  private async accept(relay: AgentChannel): Promise<void> {
    let name: string | undefined;
    relay.on('request', (r: Request) => {
      this.handle(relay, r, name, (n) => (name = n)).then(
        (result) => relay.respond(r.id, result),
        (e: Error) => relay.respond(r.id, e),
      );
    });
    relay.once('close', () => {
      // A relay killed before its process ended: the process dies too.
      const session = name === undefined ? undefined : this.sessions.get(name);
      if (!session || session.exited) return;
      this.sessions.delete(name!);
      void this.agent.request({ op: 'signal', process: name!, signal: constants.signals.SIGKILL }).catch(() => undefined);
    });
    await relay.hello('vmrun-monitor', HELLO_DEADLINE_MS).catch(() => relay.close());
  }

  private async handle(relay: AgentChannel, r: Request, name: string | undefined, named: (n: string) => void): Promise<Record<string, unknown> | undefined> {
    if (r.op === 'exec') {
      if (name !== undefined) throw new VmrunError('InvalidArgument', 'one exec per connection');
      this.checkCanExec();
      const process = `exec-${++this.lastExec}`;
      const session: Session = { relay, outputs: [], streams: [], exited: false };
      this.sessions.set(process, session);
      try {
        const { stdio, outputs, streams } = bridgeStdio(this.agent, this.ids, relay, r.stdio);
        session.outputs = outputs;
        session.streams = streams;
        const result = await this.agent.request({ op: 'exec', process, spec: r.spec, stdio });
        named(process);
        return { ...result, process };
      } catch (e) {
        this.sessions.delete(process);
        // So that they no longer count against the channel's streams (a late EOF still ends them).
        for (const s of session.streams) s.destroy();
        throw e;
      }
    }
    if (name === undefined) throw new VmrunError('InvalidArgument', `${r.op} before exec`);
    switch (r.op) {
      case 'signal':
        return this.agent.request({ op: 'signal', process: name, signal: r.signal });
      case 'resize':
        return this.agent.request({ op: 'resize', process: name, rows: r.rows, cols: r.cols });
      default:
        throw new VmrunError('InvalidArgument', `${r.op} is not for an exec relay`);
    }
  }
}

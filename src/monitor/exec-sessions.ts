// The monitor's exec socket: each connection is one exec relay (src/exec/relay.ts), speaking
// the agent protocol. The monitor names the process, gives its stdio streams ids of the agent
// channel of their own, passes the relay's requests on to the agent for that process only, and
// hands the relay its process's exit. A relay that goes away takes its process with it.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { constants } from 'node:os';
import { AgentChannel } from '../agent/channel.js';
import { HELLO_DEADLINE_MS } from '../agent/deadlines.js';
import { relayStream } from '../agent/streams.js';
import type { ExitEvent, Request, Stdio } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';
import { VmrunError } from '../errors.js';

/** Ids of the agent channel's streams, from 4 on (1-3 are the container's init's): for execs and pod members. */
export class StreamIds {
  private next = 4;
  take(): number {
    return this.next++;
  }
}

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
    await rm(path, { force: true });
    this.server = createServer((socket) => void this.accept(socket));
    this.server.listen(path);
    await once(this.server, 'listening');
  }

  /** Passes an exit from the agent on to the relay of that process; false if it is not an exec's. */
  exited(event: ExitEvent): boolean {
    const session = this.sessions.get(event.process);
    if (!session) return false;
    if (session.exited) return true; // a guest's repeated exit is passed on once
    session.exited = true;
    void Promise.all(session.outputs).then(() => {
      this.sessions.delete(event.process);
      try {
        session.relay.send(event);
      } catch {
        // the relay is gone already
      }
    });
    return true;
  }

  close(): void {
    this.server?.close();
    for (const { relay } of this.sessions.values()) relay.close();
  }

  private async accept(socket: Socket): Promise<void> {
    socket.on('error', () => undefined);
    // A relay is a process of the verb's caller: trusted as the host is, with an exec spec of up to 4 MiB.
    const relay = new AgentChannel(socket, { trustedPeer: true, peer: 'the exec relay' });
    relay.on('error', (e: Error) => this.log.debug(`exec relay: ${e.message}`));
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
        const stdio = this.bridge(relay, r.stdio, session);
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

  /** Joins each of the relay's streams to a fresh stream of the agent channel. */
  private bridge(relay: AgentChannel, stdio: Stdio, session: Session): Stdio {
    const mapped: Stdio = {};
    if (stdio.terminal) mapped.terminal = true;
    if (stdio.stdin !== undefined) {
      mapped.stdin = this.ids.take();
      const to = this.agent.writableStream(mapped.stdin);
      session.streams.push(to);
      void relayStream(relay.readableStream(stdio.stdin), to);
    }
    for (const s of ['stdout', 'stderr'] as const) {
      const id = stdio[s];
      if (id === undefined) continue;
      mapped[s] = this.ids.take();
      const from = this.agent.readableStream(mapped[s]);
      session.streams.push(from);
      session.outputs.push(relayStream(from, relay.writableStream(id)));
    }
    return mapped;
  }
}

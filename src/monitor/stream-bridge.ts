// What the monitor's other peers share (exec relays on exec.sock, pod members' monitors on
// pod.sock): a unix socket they reach it on, a channel per connection trusted as a process of
// the host, and their stdio streams joined to fresh streams of the agent channel.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { AgentChannel } from '../agent/channel.js';
import { relayStream } from '../agent/streams.js';
import type { ExitEvent, Stdio } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';

/** Ids of the agent channel's streams, from 4 on (1-3 are the container's init's). */
export class StreamIds {
  private next = 4;
  take(): number {
    return this.next++;
  }
}

/** Listens on `path` (a stale socket there replaced), each connection a channel to `peer`. */
export async function servePeers(path: string, peer: string, log: Logger, accept: (channel: AgentChannel) => void): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    // A process of the host (the verb's caller, a member's monitor), trusted as the host is,
    // with a process spec of up to 4 MiB.
    const channel = new AgentChannel(socket, { trustedPeer: true, peer });
    channel.on('error', (e: Error) => log.debug(`${peer}: ${e.message}`));
    accept(channel);
  });
  server.listen(path);
  await once(server, 'listening');
  return server;
}

export interface Bridged {
  /** The process's streams as the agent channel numbers them. */
  stdio: Stdio;
  /** The peer's ends of its output streams: they end before its exit is passed on. */
  outputs: Promise<unknown>[];
  /** The agent channel's ends, let go of when the process fails or the peer leaves. */
  streams: (Readable | Writable)[];
}

/**
 * Sends a process's exit to `peer` once its output streams have ended there, so that the peer
 * has all of the output before the status; nothing if the peer is gone meanwhile.
 */
export function sendAfterOutput(outputs: Promise<unknown>[], peer: AgentChannel, event: ExitEvent, then: () => void = () => undefined): void {
  void Promise.all(outputs).then(() => {
    then();
    try {
      peer.send(event);
    } catch {
      // the peer is gone already
    }
  });
}

/** Joins each of `peer`'s streams of one process to a fresh stream of the agent channel. */
export function bridgeStdio(agent: AgentChannel, ids: StreamIds, peer: AgentChannel, stdio: Stdio): Bridged {
  const bridged: Bridged = { stdio: stdio.terminal ? { terminal: true } : {}, outputs: [], streams: [] };
  if (stdio.stdin !== undefined) {
    const id = (bridged.stdio.stdin = ids.take());
    const to = agent.writableStream(id);
    bridged.streams.push(to);
    void relayStream(peer.readableStream(stdio.stdin), to);
  }
  for (const s of ['stdout', 'stderr'] as const) {
    const from = stdio[s];
    if (from === undefined) continue;
    const id = (bridged.stdio[s] = ids.take());
    const stream = agent.readableStream(id);
    bridged.streams.push(stream);
    bridged.outputs.push(relayStream(stream, peer.writableStream(from)));
  }
  return bridged;
}

// Docker's embedded DNS in the guest (docs/networking.md): the agent answers 127.0.0.11:53
// over UDP and TCP, where the container's resolv.conf sends its queries, and passes each query
// to the host as a dns request; the host sends it to 127.0.0.11:53 in the container's network
// namespace, Docker's resolver, and its answer comes back here. The guest's loopback holds all
// of 127.0.0.0/8, so nothing but these two sockets is needed.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { AgentChannel } from '../src/agent/channel.js';
import { dnsMessageProblem, EMBEDDED_DNS, MAX_DNS_IN_FLIGHT, TcpDnsReader, tcpFrame, type DnsTransport } from '../src/agent/dns.js';

/** TCP connections served at once, and how long one may sit idle (a client's, not the host's, cost). */
const MAX_TCP_CONNECTIONS = 64;
const TCP_IDLE_MS = 30_000;
/** Queries of one TCP connection in flight before it is read no further. */
const MAX_TCP_IN_FLIGHT = 16;

export class EmbeddedDns {
  private inFlight = 0;
  private udp?: UdpSocket;

  /** `channel` is the agent's channel to the host of the moment (it reconnects). */
  constructor(private readonly channel: () => AgentChannel | undefined) {}

  async listen(): Promise<void> {
    if (this.udp) return;
    const udp = createSocket('udp4');
    udp.on('message', (query, from) => {
      this.ask('udp', query).then((answer) => answer && udp.send(answer, from.port, from.address), () => undefined);
    });
    udp.bind(EMBEDDED_DNS.port, EMBEDDED_DNS.address);
    await Promise.race([once(udp, 'listening'), once(udp, 'error').then(([e]) => { throw e; })]);
    // Half open: a client may end its side after its queries and still read their answers.
    const tcp = createServer({ allowHalfOpen: true }, (socket) => this.serveTcp(socket));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    tcp.listen(EMBEDDED_DNS.port, EMBEDDED_DNS.address);
    await Promise.race([once(tcp, 'listening'), once(tcp, 'error').then(([e]) => { throw e; })]);
    this.udp = udp;
  }

  /** The host's answer to `query`, or undefined when there is none (dropped, refused, late). */
  private async ask(transport: DnsTransport, query: Buffer): Promise<Buffer | undefined> {
    const channel = this.channel();
    if (!channel || dnsMessageProblem(query, transport) || this.inFlight >= MAX_DNS_IN_FLIGHT) return undefined;
    this.inFlight++;
    try {
      const result = (await channel.request({ op: 'dns', transport, message: query.toString('base64') })) as { message?: unknown } | undefined;
      if (typeof result?.message !== 'string') return undefined;
      const answer = Buffer.from(result.message, 'base64');
      return dnsMessageProblem(answer, transport, 'answer') ? undefined : answer;
    } finally {
      this.inFlight--;
    }
  }

  /** Queries of a connection in the order they come, answers as they come back; no answer closes it. */
  private serveTcp(socket: Socket): void {
    const reader = new TcpDnsReader();
    let inFlight = 0;
    let ended = false;
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const query of reader.push(chunk)) {
        inFlight++;
        if (inFlight >= MAX_TCP_IN_FLIGHT) socket.pause();
        this.ask('tcp', query).then((answer) => {
          if (!answer) return socket.destroy();
          socket.write(tcpFrame(answer));
        }, () => socket.destroy()).finally(() => {
          inFlight--;
          if (inFlight < MAX_TCP_IN_FLIGHT) socket.resume();
          if (ended && inFlight === 0) socket.end();
        });
      }
    });
    socket.on('end', () => {
      ended = true;
      if (inFlight === 0) socket.end();
    });
  }
}

// The host's end of Docker's embedded DNS (docs/networking.md): the guest's agent passes each
// query that a process sent to 127.0.0.11:53 as a dns request, and the monitor, which lives in
// the container's network namespace, sends it to 127.0.0.11:53 there, where Docker's NAT rules
// take it to dockerd's resolver. The guest is hostile: it reaches that one address and port
// only, within bounds of size, number and time.
import { createSocket } from 'node:dgram';
import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { dnsMessageProblem, EMBEDDED_DNS, MAX_DNS_IN_FLIGHT, TcpDnsReader, tcpFrame, type DnsTransport } from '../agent/dns.js';
import type { Spec } from '../generated/config.js';

/** How long the relay waits for the resolver; under the agent's deadline for a dns request. */
export const DNS_RELAY_DEADLINE_MS = 10_000;

const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

export interface DnsRelayOptions {
  /** Where queries go: Docker's address unless a test says otherwise. */
  target?: { address: string; port: number };
  deadlineMs?: number;
  maxInFlight?: number;
}

export class DnsRelay {
  private inFlight = 0;
  private readonly target: { address: string; port: number };
  private readonly deadlineMs: number;
  private readonly maxInFlight: number;

  constructor(o: DnsRelayOptions = {}) {
    this.target = o.target ?? EMBEDDED_DNS;
    this.deadlineMs = o.deadlineMs ?? DNS_RELAY_DEADLINE_MS;
    this.maxInFlight = o.maxInFlight ?? MAX_DNS_IN_FLIGHT;
  }

  /** The resolver's answer to the guest's query (both in base64), or an Error with a code. */
  async answer(transport: DnsTransport, base64: string): Promise<{ message: string }> {
    const query = Buffer.from(base64, 'base64');
    const problem = dnsMessageProblem(query, transport);
    if (problem) throw failure('EINVAL', problem);
    if (this.inFlight >= this.maxInFlight) throw failure('EBUSY', `${this.maxInFlight} DNS queries are in flight already`);
    this.inFlight++;
    try {
      const answer = await (transport === 'udp' ? this.udp(query) : this.tcp(query));
      return { message: answer.toString('base64') };
    } finally {
      this.inFlight--;
    }
  }

  private udp(query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      const timer = setTimeout(() => done(failure('Timeout', `no DNS answer over UDP within ${this.deadlineMs / 1000} s`)), this.deadlineMs);
      const done = (e?: Error, answer?: Buffer) => {
        clearTimeout(timer);
        socket.close();
        if (e) reject(e);
        else resolve(answer!);
      };
      // Connected: only the resolver's address may answer, and a refusal (ICMP) comes back as ECONNREFUSED.
      socket.on('error', (e) => done(e));
      socket.on('message', (answer) => {
        const problem = dnsMessageProblem(answer, 'udp', 'answer');
        if (problem) done(failure('EPROTO', problem));
        else done(undefined, answer);
      });
      socket.connect(this.target.port, this.target.address, () => socket.send(query));
    });
  }

  private tcp(query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.target.address, port: this.target.port });
      const reader = new TcpDnsReader();
      const timer = setTimeout(() => done(failure('Timeout', `no DNS answer over TCP within ${this.deadlineMs / 1000} s`)), this.deadlineMs);
      let settled = false;
      const done = (e?: Error, answer?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (e) reject(e);
        else resolve(answer!);
      };
      socket.on('error', (e) => done(e));
      socket.on('end', () => done(failure('EPROTO', 'the resolver closed the connection without an answer')));
      socket.on('data', (chunk: Buffer) => {
        const [answer] = reader.push(chunk);
        if (!answer) return;
        const problem = dnsMessageProblem(answer, 'tcp', 'answer');
        if (problem) done(failure('EPROTO', problem));
        else done(undefined, answer);
      });
      socket.on('connect', () => socket.write(tcpFrame(query)));
    });
  }
}

/** The most of a resolv.conf read to see whether it names Docker's resolver. */
const MAX_RESOLV_CONF = 64 * 1024;

/** Whether a resolv.conf's text names Docker's embedded DNS as a nameserver. */
export function namesEmbeddedDns(text: string): boolean {
  return text.split('\n').some((line) => {
    const [key, value] = line.trim().split(/\s+/);
    return key === 'nameserver' && value === EMBEDDED_DNS.address;
  });
}

/**
 * Whether the container's /etc/resolv.conf names 127.0.0.11: the file Docker binds there (the
 * last mount at that path), or else the rootfs's own. Its first 64 KiB are read; a file that
 * cannot be read names nothing.
 */
export async function containerUsesEmbeddedDns(spec: Spec, bundleDir: string, rootfs: string): Promise<boolean> {
  const bind = spec.mounts?.filter((m) => m.destination.replace(/\/+$/, '') === '/etc/resolv.conf').at(-1);
  if (bind && !bind.source) return false;
  // A bind's relative source is the bundle's, as runc reads it.
  const file = bind ? resolve(bundleDir, bind.source!) : join(rootfs, 'etc/resolv.conf');
  try {
    const handle = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(MAX_RESOLV_CONF), 0, MAX_RESOLV_CONF, 0);
      return namesEmbeddedDns(buffer.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

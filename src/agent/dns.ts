// Docker's embedded DNS carried into the guest (docs/networking.md, "Docker's embedded DNS"):
// the address, the bounds both ends hold DNS messages to, and DNS over TCP's framing (each
// message after its length, two bytes big-endian; RFC 1035 4.2.2).

/** Where Docker's resolver answers in a container's network namespace. */
export const EMBEDDED_DNS = { address: '127.0.0.11', port: 53 } as const;

/** A DNS header: nothing shorter is a message. */
export const MIN_DNS_MESSAGE = 12;
/** The largest UDP query passed on: EDNS's usual ceiling; no resolver sends a bigger query. */
export const MAX_UDP_QUERY = 4096;
/** The largest message DNS over TCP can frame, and the largest UDP answer passed back. */
export const MAX_DNS_MESSAGE = 65535;
/** Queries one container may have in flight at once, on either end; more are dropped. */
export const MAX_DNS_IN_FLIGHT = 64;

export type DnsTransport = 'udp' | 'tcp';

/** Why a message is not passed on, or undefined when it is within bounds. */
export function dnsMessageProblem(message: Buffer, transport: DnsTransport, what = 'query'): string | undefined {
  const most = transport === 'udp' && what === 'query' ? MAX_UDP_QUERY : MAX_DNS_MESSAGE;
  if (message.length < MIN_DNS_MESSAGE) return `a DNS ${what} of ${message.length} bytes is shorter than a DNS header (${MIN_DNS_MESSAGE})`;
  if (message.length > most) return `a DNS ${what} of ${message.length} bytes over ${transport} is more than ${most}`;
  return undefined;
}

/** A message framed for DNS over TCP. */
export function tcpFrame(message: Buffer): Buffer {
  if (message.length > MAX_DNS_MESSAGE) throw new RangeError(`a DNS message of ${message.length} bytes cannot be framed`);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/**
 * Cuts a DNS-over-TCP byte stream into messages. Between pushes it holds less than one message
 * and its length (65537 bytes), so a peer that sends without end costs no more than that.
 */
export class TcpDnsReader {
  private held: Buffer = Buffer.alloc(0);

  /** The whole messages `chunk` completes, in order. */
  push(chunk: Buffer): Buffer[] {
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const messages: Buffer[] = [];
    while (this.held.length >= 2) {
      const end = 2 + this.held.readUInt16BE(0);
      if (this.held.length < end) break;
      messages.push(Buffer.from(this.held.subarray(2, end)));
      this.held = this.held.subarray(end);
    }
    return messages;
  }

  /** Bytes of a message not yet whole. */
  get pending(): number {
    return this.held.length;
  }
}

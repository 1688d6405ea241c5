// One end of the agent port, the same on the host (a net.Socket) and in the guest (a stream over
// the virtio-serial char device): the hello handshake, validated control messages, requests and
// their responses, and the stdio streams beside them (docs/agent-protocol.md).
import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { errnoOf } from '../errors.js';
import type { AgentMessage, Hello, Request1, Response } from '../generated/agent-protocol.js';
import { checkAgentMessage } from '../schemas.js';
import { REQUEST_DEADLINES_MS } from './deadlines.js';
import { controlFrames, creditFrame, encodeFrame, type Frame, FrameDecoder, FrameKind, MAX_PAYLOAD, ProtocolError } from './frames.js';
import { InboundStream, OutboundStream } from './streams.js';

export { ProtocolError } from './frames.js';

/** The name of the virtio-serial port the agent listens on. */
export const AGENT_PORT = 'vmrun.agent';

/**
 * Raised with every change of the messages' schema or framing: an agent built before the change
 * is then refused at the hello, where it would otherwise drop the requests it cannot read. 2: the
 * container's namespaces, device rules, seccomp and mount extensions in the guest plan. 3: control
 * messages split over CONTROL_PART frames, the hello's maxMessage. 4: the agent's dns request and
 * the network request's embeddedDns. 5: the cpus request (vCPUs plugged in after the boot).
 */
export const PROTOCOL_VERSIONS: Hello['versions'] = [8];
/** DATA bytes per stream this side holds for a consumer that has stopped reading. */
export const DEFAULT_WINDOW = 256 * 1024;
/** The largest control message a trusted peer may send: a plan whose args and env are 1 MiB, in JSON. */
export const MAX_TRUSTED_MESSAGE = 4 * 1024 * 1024;
/** The largest control message an untrusted peer (the guest) may send. */
export const MAX_UNTRUSTED_MESSAGE = 1024 * 1024;
/** DATA bytes all inbound streams together may hold: at most this over the window streams at once. */
export const MAX_BUFFERED = 32 * 1024 * 1024;

export interface ChannelOptions {
  /** DATA bytes per stream this side holds for a consumer that has stopped reading. */
  window?: number;
  /**
   * The peer is trusted as this side is: the host, by the guest's agent; an exec relay (a
   * process of the verb's caller), by the monitor. It may send control messages of up to
   * MAX_TRUSTED_MESSAGE bytes and DATA on a stream before this side opens it (held, one window
   * at most, until it does), and an invalid message of its is dropped with an 'error'. An
   * untrusted peer (the guest, to the host) may send MAX_UNTRUSTED_MESSAGE bytes, DATA and EOF
   * only on streams this side opened, and any invalid message breaks the protocol.
   */
  trustedPeer?: boolean;
  /**
   * Says hello only once the peer has: the agent's side. A virtio-serial port keeps what the
   * guest writes while no host is connected, so a hello written to no one would reach the next
   * host (a restored guest's) after that host's own.
   */
  helloSecond?: boolean;
  /** Who the peer is, for errors: "the guest's agent". */
  peer?: string;
  /** The pod member every request of this side is for (a member's monitor, to its pod's host). */
  container?: string;
}

export interface Handshake {
  version: number;
  peerWindow: number;
  /** The largest control message the peer accepts. */
  peerMaxMessage: number;
  peerSoftware?: string;
}

export type Result = Response['result'];

/** A request the peer answered with an error (its code and message), or did not answer in time (Timeout). */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(result: Result): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

/** A message bigger than the peer accepts: not sent. */
export class MessageTooBig extends ProtocolError {}

/**
 * Events: 'request' (a Request), 'message' (an Event), 'error' (a ProtocolError: an invalid
 * message from a trusted peer, which is dropped, or a broken protocol, which closes the
 * channel), 'close' (with the reason).
 */
export class AgentChannel extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly window: number;
  private readonly trusted: boolean;
  private readonly peer: string;
  private readonly container?: string;
  private readonly maxMessage: number;
  /** The CONTROL_PART payloads of the message being received. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** What the peer did that broke the protocol, once it has. */
  private violation?: ProtocolError;
  private drain?: Promise<void>;
  private handshake?: { resolve(h: Handshake): void; reject(e: Error): void };
  private peerHello?: Hello;
  private agreed?: Handshake;
  private closed?: Error;
  private lastId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly inbound = new Map<number, InboundStream>();
  private readonly outbound = new Map<number, OutboundStream>();

  /** Our hello, held until the peer's (helloSecond). */
  private heldHello?: () => void;
  private readonly helloSecond: boolean;

  constructor(
    private readonly port: Duplex,
    options: ChannelOptions = {},
  ) {
    super();
    this.helloSecond = options.helloSecond ?? false;
    this.window = options.window ?? DEFAULT_WINDOW;
    this.trusted = options.trustedPeer ?? false;
    this.peer = options.peer ?? 'the peer';
    this.container = options.container;
    this.maxMessage = this.trusted ? MAX_TRUSTED_MESSAGE : MAX_UNTRUSTED_MESSAGE;
    // Always flowing: a stalled stdio consumer is held back by credit, never by pausing the port.
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    port.on('end', () => this.shutdown(new ProtocolError('the peer closed the agent channel')));
    port.on('error', (e: Error) => this.shutdown(e, true));
    port.on('close', () => this.shutdown(new ProtocolError('the agent channel closed')));
  }

  /**
   * Sends this side's hello; resolves once the peer's has arrived too (it may have already).
   * With `timeoutMs`, a peer that has not said hello by then fails it and closes the channel.
   */
  hello(software: string, timeoutMs?: number): Promise<Handshake> {
    if (this.handshake) return Promise.reject(new ProtocolError('hello was already sent'));
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.shutdown(new AgentError('Timeout', `${this.peer} did not say hello within ${timeoutMs / 1000} s`), true);
      }, timeoutMs);
      const settle = () => clearTimeout(timer);
      this.handshake = {
        resolve: (h) => (settle(), resolve(h)),
        reject: (e) => (settle(), reject(e)),
      };
      const say = () => {
        this.writeControl({
          type: 'hello',
          versions: PROTOCOL_VERSIONS,
          window: this.window,
          maxMessage: this.maxMessage,
          software,
        });
        this.agree();
      };
      if (this.helloSecond && !this.peerHello) this.heldHello = say;
      else say();
    });
  }

  /** Sends a control message after the handshake; throws a ProtocolError if it is invalid. */
  send(message: AgentMessage): void {
    this.checkOpen();
    if (message.type === 'hello') throw new ProtocolError('hello is sent by hello()');
    if (!this.agreed) throw new ProtocolError(`cannot send a ${message.type} before the handshake`);
    this.writeControl(message);
  }

  /**
   * The result of the peer's response, or an AgentError with its error, or with code Timeout
   * when none comes within `timeoutMs` (by default the op's deadline, src/agent/deadlines.ts).
   */
  request(body: Request1, timeoutMs: number = REQUEST_DEADLINES_MS[body.op]): Promise<Result> {
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      this.send({ type: 'request', id, ...(this.container !== undefined && { container: this.container }), ...body });
      const pending: Pending = { resolve, reject };
      pending.timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentError('Timeout', `${this.peer} did not answer the ${body.op} request within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, pending);
    });
  }

  /**
   * Answers request `id`: ok with `outcome` as the result, or not ok with an Error's code and
   * message; a result bigger than the peer accepts is answered with an E2BIG error instead.
   */
  respond(id: number, outcome: Result | Error): void {
    let failure: Error;
    if (outcome instanceof Error) failure = outcome;
    else {
      try {
        this.send({ type: 'response', id, ok: true, ...(outcome && { result: outcome }) });
        return;
      } catch (e) {
        if (!(e instanceof MessageTooBig)) throw e;
        failure = Object.assign(new Error(e.message), { code: 'E2BIG' });
      }
    }
    // Bounded, so that the error of a request that was too big fits too.
    const error = { code: errnoOf(failure) ?? failure.name, message: failure.message.slice(0, 4096) };
    this.send({ type: 'response', id, ok: false, error });
  }

  /**
   * The DATA of stream `id`, including what arrived before this call (from a trusted peer);
   * ends at the peer's EOF. An untrusted peer may send on the stream only once this is called.
   */
  readableStream(id: number): Readable {
    this.checkOpen();
    return (this.inbound.get(checkStreamId(id)) ?? this.newInbound(id)).open();
  }

  /** Sends DATA on stream `id` as the peer grants credit; end() sends EOF after the data. */
  writableStream(id: number): Writable {
    this.checkOpen();
    const peerWindow = this.agreed?.peerWindow;
    if (peerWindow === undefined) throw new ProtocolError('cannot write a stream before the handshake');
    if (this.outbound.has(checkStreamId(id))) {
      throw new ProtocolError(`stream ${id} is already being written`);
    }
    const stream = new OutboundStream(
      id,
      peerWindow,
      (data) => this.write(encodeFrame(FrameKind.DATA, id, data)),
      () => void this.write(encodeFrame(FrameKind.EOF, id)),
      () => this.outbound.delete(id),
      () => this.drained(),
    );
    this.outbound.set(id, stream);
    return stream.writable;
  }

  /** DATA of stream `id` received but not yet taken by its consumer; at most one window. */
  bufferedBytes(id: number): number {
    return this.inbound.get(id)?.buffered ?? 0;
  }

  /** What the peer did that broke the protocol and closed the channel, if it did. */
  get protocolBreak(): ProtocolError | undefined {
    return this.violation;
  }

  /** Ends the port; pending requests reject, streams not yet at EOF error. */
  close(): void {
    this.shutdown(new ProtocolError('the agent channel was closed'));
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (this.closed) return;
        this.onFrame(frame);
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.violation = e;
      try {
        this.emit('error', e);
      } finally {
        this.shutdown(e, true);
      }
    }
  }

  private onFrame({ kind, stream, payload }: Frame): void {
    if (kind === FrameKind.CONTROL_PART) return this.onPart(payload);
    if (kind === FrameKind.CONTROL) return this.onControl(this.whole(payload));
    if (!this.peerHello) throw new ProtocolError(`stdio on stream ${stream} before the peer's hello`);
    if (kind === FrameKind.DATA) return this.peerStream(stream, 'DATA').receive(payload);
    if (kind === FrameKind.EOF) return this.peerStream(stream, 'EOF').end();
    // Grants for a stream that has already ended are harmless and dropped.
    this.outbound.get(stream)?.grant(payload.readUInt32BE(0));
  }

  private onPart(payload: Buffer): void {
    this.partBytes += payload.length;
    if (this.partBytes > this.maxMessage) {
      throw new ProtocolError(`a control message of more than ${this.maxMessage} bytes, the most this side accepts`);
    }
    this.parts.push(payload);
  }

  /** The message a CONTROL frame ends: its payload after the parts before it. */
  private whole(payload: Buffer): Buffer {
    if (this.parts.length === 0) return payload;
    this.onPart(payload);
    const message = Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    return message;
  }

  /** A message that breaks the schema: dropped from a trusted peer, fatal from an untrusted one. */
  private invalid(e: ProtocolError): void {
    if (!this.trusted) throw e;
    this.emit('error', e);
  }

  private onControl(payload: Buffer): void {
    let value: unknown;
    let checked: ReturnType<typeof checkAgentMessage>;
    try {
      value = JSON.parse(payload.toString('utf8'));
      checked = checkAgentMessage(value);
    } catch (e) {
      // RangeError too: a peer's nesting must not reach past this.
      return this.invalid(new ProtocolError(`a control message is not JSON: ${(e as Error).message}`));
    }
    if (!checked.ok) return this.invalid(invalidMessage('an invalid agent message', checked.problems));
    const message = checked.value;
    if (!this.peerHello) {
      if (message.type !== 'hello') throw new ProtocolError(`${message.type} before the peer's hello`);
      this.peerHello = message;
      const held = this.heldHello;
      this.heldHello = undefined;
      return held ? held() : this.agree();
    }
    switch (message.type) {
      case 'hello':
        throw new ProtocolError('a second hello');
      case 'response':
        return this.onResponse(message);
      case 'request':
        this.emit('request', message);
        return;
      case 'event':
        this.emit('message', message);
        return;
    }
  }

  private onResponse(response: Response): void {
    const pending = this.pending.get(response.id);
    if (!pending) {
      // An id we issued that is no longer pending timed out; its late answer is dropped.
      if (response.id > this.lastId) this.invalid(new ProtocolError(`a response to unknown request ${response.id}`));
      return;
    }
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.ok) pending.resolve(response.result);
    else {
      const { code, message } = response.error ?? {
        code: 'Unknown',
        message: `request ${response.id} failed`,
      };
      pending.reject(new AgentError(code, message));
    }
  }

  /** Settles hello() once both hellos are known. */
  private agree(): void {
    const peer = this.peerHello;
    if (!peer || !this.handshake) return;
    const common = peer.versions.filter((v) => PROTOCOL_VERSIONS.includes(v));
    if (common.length === 0) {
      const ours = PROTOCOL_VERSIONS.join(', ');
      const e = new ProtocolError(
        `no common protocol version: this side speaks ${ours}, the peer ${peer.versions.join(', ')}`,
      );
      this.handshake.reject(e);
      this.shutdown(e);
      return;
    }
    this.agreed = {
      version: Math.max(...common),
      peerWindow: peer.window,
      peerMaxMessage: peer.maxMessage ?? MAX_PAYLOAD,
      peerSoftware: peer.software,
    };
    this.handshake.resolve(this.agreed);
  }

  /** The stream the peer's DATA or EOF is for: one this side opened, or from a trusted peer, any. */
  private peerStream(id: number, kind: string): InboundStream {
    const stream = this.inbound.get(id);
    if (stream) return stream;
    if (!this.trusted) throw new ProtocolError(`${kind} on stream ${id}, which this side did not open`);
    return this.newInbound(id);
  }

  /** A stream of the peer's DATA; no more at once than MAX_BUFFERED allows, at a window each. */
  private newInbound(id: number): InboundStream {
    const most = Math.floor(MAX_BUFFERED / this.window);
    let holding = 0;
    for (const s of this.inbound.values()) if (s.holding) holding++;
    if (holding >= most) throw new ProtocolError(`more than ${most} streams at once on the agent channel`);
    const grant = (bytes: number) => {
      if (!this.closed) this.write(creditFrame(id, bytes));
    };
    const stream = new InboundStream(id, this.window, grant, () => this.inbound.delete(id));
    this.inbound.set(id, stream);
    return stream;
  }

  private writeControl(message: AgentMessage): void {
    const checked = checkAgentMessage(message);
    if (!checked.ok) throw invalidMessage(`cannot send an invalid ${message.type} message`, checked.problems);
    const bytes = Buffer.from(JSON.stringify(message));
    const most = this.agreed?.peerMaxMessage ?? MAX_PAYLOAD;
    if (bytes.length > most) {
      throw new MessageTooBig(`a ${message.type} message of ${bytes.length} bytes is more than the ${most} ${this.peer} accepts`);
    }
    for (const frame of controlFrames(bytes)) this.write(frame);
  }

  /** Writes a frame; false once the port's buffer is full. */
  private write(frame: Buffer): boolean {
    this.checkOpen();
    return this.port.write(frame);
  }

  /** Resolves once the port has drained what it holds, or the channel has closed. */
  private drained(): Promise<void> {
    if (this.closed || !this.port.writableNeedDrain) return Promise.resolve();
    this.drain ??= new Promise<void>((resolve) => {
      const done = () => {
        this.port.off('drain', done);
        this.off('close', done);
        this.drain = undefined;
        resolve();
      };
      this.port.on('drain', done);
      this.on('close', done);
    });
    return this.drain;
  }

  private checkOpen(): void {
    if (this.closed) throw new ProtocolError(`the agent channel is closed: ${this.closed.message}`);
  }

  private shutdown(reason: Error, broken = false): void {
    if (this.closed) return;
    this.closed = reason;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.pending.clear();
    this.handshake?.reject(reason);
    for (const stream of this.inbound.values()) stream.fail(reason);
    for (const stream of this.outbound.values()) stream.writable.destroy(reason);
    this.inbound.clear();
    this.outbound.clear();
    this.parts = [];
    if (broken) this.port.destroy();
    else this.port.end();
    this.emit('close', reason);
  }
}

function checkStreamId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) {
    throw new RangeError(`stream id ${id} is not in 1..2^32-1`);
  }
  return id;
}

/** The schema reports a problem once per branch of the message union it tried; each is named once. */
function invalidMessage(what: string, problems: string[]): ProtocolError {
  const unique = [...new Set(problems)];
  return new ProtocolError(`${what}: ${unique.join('; ')}`, unique);
}

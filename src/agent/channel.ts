// One end of the agent port, the same on the host (a net.Socket) and in the guest (a stream over
// the virtio-serial char device): the hello handshake, validated control messages, requests and
// their responses, and the stdio streams beside them (docs/agent-protocol.md).
import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { errnoOf } from '../errors.js';
import type { AgentMessage, Hello, Request1, Response } from '../generated/agent-protocol.js';
import { checkAgentMessage } from '../schemas.js';
import { creditFrame, encodeFrame, type Frame, FrameDecoder, FrameKind, ProtocolError } from './frames.js';
import { InboundStream, OutboundStream } from './streams.js';

export { ProtocolError } from './frames.js';

/** The name of the virtio-serial port the agent listens on. */
export const AGENT_PORT = 'vmrun.agent';

/**
 * Raised with every change of the messages' schema: an agent built before the change is then
 * refused at the hello, where it would otherwise drop the requests it cannot read. 2: the
 * container's namespaces, device rules, seccomp and mount extensions in the guest plan.
 */
export const PROTOCOL_VERSIONS: Hello['versions'] = [2];
/** DATA bytes per stream this side holds for a consumer that has stopped reading. */
export const DEFAULT_WINDOW = 256 * 1024;

export interface Handshake {
  version: number;
  peerWindow: number;
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

/**
 * Events: 'request' (a Request), 'message' (an Event), 'error' (a ProtocolError: an invalid
 * message, which is dropped, or a broken protocol, which closes the channel), 'close'.
 */
export class AgentChannel extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly window: number;
  private handshake?: { resolve(h: Handshake): void; reject(e: Error): void };
  private peerHello?: Hello;
  private agreed?: Handshake;
  private closed?: Error;
  private lastId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly inbound = new Map<number, InboundStream>();
  private readonly outbound = new Map<number, OutboundStream>();

  constructor(
    private readonly port: Duplex,
    options: { window?: number } = {},
  ) {
    super();
    this.window = options.window ?? DEFAULT_WINDOW;
    // Always flowing: a stalled stdio consumer is held back by credit, never by pausing the port.
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    port.on('end', () => this.shutdown(new ProtocolError('the peer closed the agent channel')));
    port.on('error', (e: Error) => this.shutdown(e, true));
    port.on('close', () => this.shutdown(new ProtocolError('the agent channel closed')));
  }

  /** Sends this side's hello; resolves once the peer's has arrived too (it may have already). */
  hello(software: string): Promise<Handshake> {
    if (this.handshake) return Promise.reject(new ProtocolError('hello was already sent'));
    return new Promise((resolve, reject) => {
      this.handshake = { resolve, reject };
      this.writeControl({
        type: 'hello',
        versions: PROTOCOL_VERSIONS,
        window: this.window,
        software,
      });
      this.agree();
    });
  }

  /** Sends a control message after the handshake; throws a ProtocolError if it is invalid. */
  send(message: AgentMessage): void {
    this.checkOpen();
    if (message.type === 'hello') throw new ProtocolError('hello is sent by hello()');
    if (!this.agreed) throw new ProtocolError(`cannot send a ${message.type} before the handshake`);
    this.writeControl(message);
  }

  /** The result of the peer's response, or an AgentError with its error. */
  request(body: Request1, timeoutMs?: number): Promise<Result> {
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      this.send({ type: 'request', id, ...body });
      const pending: Pending = { resolve, reject };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new AgentError('Timeout', `no response to ${body.op} request ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(id, pending);
    });
  }

  /** Answers request `id`: ok with `outcome` as the result, or not ok with an Error's code and message. */
  respond(id: number, outcome: Result | Error): void {
    if (!(outcome instanceof Error)) {
      this.send({ type: 'response', id, ok: true, ...(outcome && { result: outcome }) });
      return;
    }
    const error = { code: errnoOf(outcome) ?? outcome.name, message: outcome.message };
    this.send({ type: 'response', id, ok: false, error });
  }

  /** The DATA of stream `id`, including what arrived before this call; ends at the peer's EOF. */
  readableStream(id: number): Readable {
    this.checkOpen();
    return this.inboundStream(checkStreamId(id)).open();
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
      () => this.write(encodeFrame(FrameKind.EOF, id)),
      () => this.outbound.delete(id),
    );
    this.outbound.set(id, stream);
    return stream.writable;
  }

  /** DATA of stream `id` received but not yet taken by its consumer; at most one window. */
  bufferedBytes(id: number): number {
    return this.inbound.get(id)?.buffered ?? 0;
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
      try {
        this.emit('error', e);
      } finally {
        this.shutdown(e, true);
      }
    }
  }

  private onFrame({ kind, stream, payload }: Frame): void {
    if (kind === FrameKind.CONTROL) return this.onControl(payload);
    if (!this.peerHello) throw new ProtocolError(`stdio on stream ${stream} before the peer's hello`);
    if (kind === FrameKind.DATA) return this.inboundStream(stream).receive(payload);
    if (kind === FrameKind.EOF) return this.inboundStream(stream).end();
    // Grants for a stream that has already ended are harmless and dropped.
    this.outbound.get(stream)?.grant(payload.readUInt32BE(0));
  }

  private onControl(payload: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (e) {
      this.emit('error', new ProtocolError(`a CONTROL frame is not JSON: ${(e as Error).message}`));
      return;
    }
    const checked = checkAgentMessage(value);
    if (!checked.ok) {
      this.emit('error', invalidMessage('an invalid agent message', checked.problems));
      return;
    }
    const message = checked.value;
    if (!this.peerHello) {
      if (message.type !== 'hello') throw new ProtocolError(`${message.type} before the peer's hello`);
      this.peerHello = message;
      return this.agree();
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
      if (response.id > this.lastId) {
        this.emit('error', new ProtocolError(`a response to unknown request ${response.id}`));
      }
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
      peerSoftware: peer.software,
    };
    this.handshake.resolve(this.agreed);
  }

  private inboundStream(id: number): InboundStream {
    let stream = this.inbound.get(id);
    if (!stream) {
      const grant = (bytes: number) => {
        if (!this.closed) this.write(creditFrame(id, bytes));
      };
      stream = new InboundStream(id, this.window, grant, () => this.inbound.delete(id));
      this.inbound.set(id, stream);
    }
    return stream;
  }

  private writeControl(message: AgentMessage): void {
    const checked = checkAgentMessage(message);
    if (!checked.ok) throw invalidMessage(`cannot send an invalid ${message.type} message`, checked.problems);
    this.write(encodeFrame(FrameKind.CONTROL, 0, Buffer.from(JSON.stringify(message))));
  }

  private write(frame: Buffer): void {
    this.checkOpen();
    this.port.write(frame);
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
    if (broken) this.port.destroy();
    else this.port.end();
    this.emit('close');
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

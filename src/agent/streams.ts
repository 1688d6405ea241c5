// Credit-based flow control for the stdio streams of the agent channel (docs/agent-protocol.md,
// "Control can never be blocked by stdio"). A sender may have at most the receiver's window of
// unconsumed bytes in flight per stream, so a stalled consumer costs one window of memory and
// the port itself never stops being read.
import { Readable, Writable } from 'node:stream';
import { MAX_PAYLOAD, ProtocolError } from './frames.js';

/** The receiving end of one stream: holds DATA until the Readable's consumer takes it. */
export class InboundStream {
  private queue: Buffer[] = [];
  private queued = 0;
  /** How much more DATA the peer may send before we grant it more. */
  private credit: number;
  /** Bytes the consumer has taken that we have not yet granted back. */
  private ungranted = 0;
  private pushed = 0;
  private consumed = 0;
  private eof = false;
  private wanting = false;
  private readable?: Readable;

  constructor(
    readonly id: number,
    private readonly window: number,
    private readonly grant: (bytes: number) => void,
    private readonly done: () => void,
  ) {
    this.credit = window;
  }

  /** Bytes held for the consumer: not yet pushed, or pushed but still in the Readable's buffer. */
  get buffered(): number {
    return this.queued + (this.readable?.readableLength ?? 0);
  }

  /** Whether the stream may still hold bytes for a consumer: not once its consumer has given up. */
  get holding(): boolean {
    return !this.readable?.destroyed;
  }

  /** The channel is gone: a consumer still waiting for data or EOF gets `reason` instead. */
  fail(reason: Error): void {
    if (!this.eof) this.readable?.destroy(reason);
  }

  receive(data: Buffer): void {
    if (this.eof) throw new ProtocolError(`DATA on stream ${this.id} after its EOF`);
    if (data.length > this.credit) {
      throw new ProtocolError(
        `${data.length} bytes of DATA on stream ${this.id} exceed the ${this.credit} bytes of credit granted`,
      );
    }
    this.credit -= data.length;
    // A consumer that gave up still must not stall the sender (it may be blocked on this stream).
    if (this.readable?.destroyed) return this.consume(data.length);
    this.queue.push(data);
    this.queued += data.length;
    this.pump();
  }

  end(): void {
    if (this.eof) throw new ProtocolError(`second EOF on stream ${this.id}`);
    this.eof = true;
    if (this.readable?.destroyed) this.done();
    else this.pump();
  }

  open(): Readable {
    if (this.readable) throw new ProtocolError(`stream ${this.id} is already being read`);
    this.readable = new Readable({
      read: () => {
        // Bytes that have left the Readable's buffer are the ones the consumer has taken.
        const consumed = this.pushed - (this.readable?.readableLength ?? 0);
        this.consume(consumed - this.consumed);
        this.consumed = consumed;
        this.wanting = true;
        this.pump();
      },
      // Also runs after the consumer has read to the end (autoDestroy). Before EOF the stream
      // stays known, so that the rest of its DATA is still taken and granted back.
      destroy: (err, callback) => {
        this.consume(this.queued + this.pushed - this.consumed);
        this.consumed = this.pushed;
        this.queue = [];
        this.queued = 0;
        if (this.eof) this.done();
        callback(err);
      },
    });
    return this.readable;
  }

  private consume(bytes: number): void {
    this.ungranted += bytes;
    // Batch grants; no grant is needed once the peer has said it sends no more.
    if (this.eof || this.ungranted < this.window / 2) return;
    this.credit += this.ungranted;
    this.grant(this.ungranted);
    this.ungranted = 0;
  }

  private pump(): void {
    const r = this.readable;
    if (!r || !this.wanting || r.destroyed) return;
    for (let chunk = this.queue.shift(); chunk; chunk = this.queue.shift()) {
      this.queued -= chunk.length;
      this.pushed += chunk.length;
      if (!r.push(chunk)) {
        this.wanting = false;
        return;
      }
    }
    if (this.eof) r.push(null);
  }
}

/**
 * The sending end of one stream: a Writable that waits for credit instead of buffering, and for
 * the port to drain (a peer that grants credit but does not read must not fill this side's memory).
 */
export class OutboundStream {
  readonly writable: Writable;
  private credit: number;
  private wake?: () => void;

  constructor(
    id: number,
    peerWindow: number,
    /** false when the port's buffer is full: wait for `drained` before the next frame. */
    sendData: (payload: Buffer) => boolean,
    sendEof: () => void,
    done: () => void,
    drained: () => Promise<void>,
  ) {
    this.credit = peerWindow;
    const send = async (chunk: Buffer): Promise<void> => {
      for (let at = 0; at < chunk.length;) {
        while (this.credit === 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          if (this.writable.destroyed) throw new ProtocolError(`stream ${id} was closed`);
        }
        const n = Math.min(this.credit, MAX_PAYLOAD, chunk.length - at);
        const more = sendData(chunk.subarray(at, at + n));
        this.credit -= n;
        at += n;
        if (!more) await drained();
      }
    };
    this.writable = new Writable({
      write: (chunk: Buffer, _encoding, callback) => void send(chunk).then(() => callback(), callback),
      final: (callback) => {
        try {
          sendEof();
          callback();
        } catch (e) {
          callback(e as Error);
        }
      },
      destroy: (err, callback) => {
        done();
        this.wake?.();
        callback(err);
      },
    });
  }

  grant(bytes: number): void {
    this.credit += bytes;
    this.wake?.();
    this.wake = undefined;
  }
}

/**
 * Pipes `from` into `to` where either may be a stream of a channel that can close under it (a
 * VM that ends, a relay that is killed): an error on either end stops the flow quietly.
 * Resolves once `to` has taken everything, or the flow stopped.
 */
export function relayStream(from: Readable, to: Writable, { end = true } = {}): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      from.unpipe(to);
      resolve();
    };
    from.on('error', stop);
    to.on('error', stop);
    if (end) to.on('finish', resolve);
    else from.on('end', resolve);
    from.pipe(to, { end });
  });
}

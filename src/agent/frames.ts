// The frames every byte on the agent port travels in (docs/agent-protocol.md, "Frames"):
// u8 kind, u32 BE stream, u32 BE length, then the payload. A control message longer than one
// payload travels as CONTROL_PART frames ended by a CONTROL frame, all on stream 0.

export const FrameKind = { CONTROL: 0, DATA: 1, EOF: 2, CREDIT: 3, CONTROL_PART: 4 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const HEADER_BYTES = 9;
export const MAX_PAYLOAD = 65536;

export interface Frame {
  kind: FrameKind;
  stream: number;
  payload: Buffer;
}

/** The peer broke the protocol, or the channel cannot carry on. */
export class ProtocolError extends Error {
  readonly code = 'ProtocolError';
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    /** The separate problems the message sums up, such as each schema violation. */
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

const KINDS = new Set<number>(Object.values(FrameKind));

export function encodeFrame(kind: FrameKind, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  checkFrame(kind, stream, payload.length);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt8(kind, 0);
  frame.writeUInt32BE(stream, 1);
  frame.writeUInt32BE(payload.length, 5);
  payload.copy(frame, HEADER_BYTES);
  return frame;
}

/** The frames of one control message: CONTROL_PART frames of MAX_PAYLOAD bytes, then a CONTROL frame with the rest. */
export function controlFrames(message: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  for (; message.length - at > MAX_PAYLOAD; at += MAX_PAYLOAD) {
    frames.push(encodeFrame(FrameKind.CONTROL_PART, 0, message.subarray(at, at + MAX_PAYLOAD)));
  }
  frames.push(encodeFrame(FrameKind.CONTROL, 0, message.subarray(at)));
  return frames;
}

/** A CREDIT frame granting the peer `bytes` more DATA on `stream`. */
export function creditFrame(stream: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return encodeFrame(FrameKind.CREDIT, stream, payload);
}

/** Turns the bytes of the port, cut anywhere, back into frames. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header?: { kind: FrameKind; stream: number; length: number };

  /** The frames `chunk` completes, in order. Throws a ProtocolError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.buffered < HEADER_BYTES) break;
        const h = this.take(HEADER_BYTES);
        const kind = h.readUInt8(0);
        const stream = h.readUInt32BE(1);
        const length = h.readUInt32BE(5);
        if (!KINDS.has(kind)) throw new ProtocolError(`unknown frame kind ${kind}`);
        checkFrame(kind as FrameKind, stream, length);
        this.header = { kind: kind as FrameKind, stream, length };
      }
      if (this.buffered < this.header.length) break;
      const { kind, stream, length } = this.header;
      frames.push({ kind, stream, payload: this.take(length) });
      this.header = undefined;
    }
    return frames;
  }

  /** The next n buffered bytes; a view of the first chunk when they lie in it. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

function checkFrame(kind: FrameKind, stream: number, length: number): void {
  const name = Object.keys(FrameKind)[kind];
  if (length > MAX_PAYLOAD) {
    throw new ProtocolError(`${name} frame of ${length} bytes exceeds the maximum of ${MAX_PAYLOAD}`);
  }
  const control = kind === FrameKind.CONTROL || kind === FrameKind.CONTROL_PART;
  if (control !== (stream === 0)) {
    throw new ProtocolError(`${name} frame on stream ${stream}: only CONTROL and CONTROL_PART use stream 0`);
  }
  if (kind === FrameKind.CONTROL_PART && length === 0) {
    throw new ProtocolError('CONTROL_PART frame with no payload');
  }
  if (kind === FrameKind.EOF && length !== 0) {
    throw new ProtocolError(`EOF frame with a ${length}-byte payload`);
  }
  if (kind === FrameKind.CREDIT && length !== 4) {
    throw new ProtocolError(`CREDIT frame with a ${length}-byte payload`);
  }
}

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Duplex, PassThrough, Readable, Transform } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
import {
  AgentChannel,
  AgentError,
  DEFAULT_WINDOW,
  MAX_TRUSTED_MESSAGE,
  MAX_UNTRUSTED_MESSAGE,
  PROTOCOL_VERSIONS,
  ProtocolError,
} from '../src/agent/channel.js';
import {
  creditFrame,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  HEADER_BYTES,
  MAX_PAYLOAD,
} from '../src/agent/frames.js';
import { VmrunError } from '../src/errors.js';
import type { AgentMessage } from '../src/generated/agent-protocol.js';
import { tempDir } from './helpers/cli.js';

const MB = 1024 * 1024;
const exit = { type: 'event', event: 'exit', process: 'init', status: 0 } as const;

/** A deterministic stream of numbers in [0, 1), so a failing cut can be reproduced. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Passes bytes on cut into pieces of 1 to 40 bytes. */
function chopper(seed: number): Transform {
  const random = prng(seed);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (let at = 0; at < chunk.length;) {
        const n = 1 + Math.floor(random() * 40);
        this.push(chunk.subarray(at, at + n));
        at += n;
      }
      callback();
    },
  });
}

/** Two connected in-memory ends; with `chop`, every write arrives in small pieces. */
function memoryPair(chop = false): [Duplex, Duplex] {
  const wire = (seed: number) => {
    const writable = new PassThrough();
    return { writable, readable: chop ? writable.pipe(chopper(seed)) : writable };
  };
  const a2b = wire(1);
  const b2a = wire(2);
  return [
    Duplex.from({ writable: a2b.writable, readable: b2a.readable }),
    Duplex.from({ writable: b2a.writable, readable: a2b.readable }),
  ];
}

/** Two ends of a unix socket, as the host's side of the virtio-serial port is. */
async function socketPair(): Promise<[Socket, Socket]> {
  const path = join(await tempDir(), 'agent.sock');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect(path);
  const [server_end] = (await accepted) as [Socket];
  await once(client, 'connect');
  server.close();
  return [client, server_end];
}

/** Resolves when the channel closes (events.once would reject on the 'error' before it). */
const closing = (channel: AgentChannel) => new Promise<void>((resolve) => channel.once('close', resolve));

/** Collects every emission of `event`. */
function record<T>(emitter: NodeJS.EventEmitter, event: string): T[] {
  const seen: T[] = [];
  emitter.on(event, (value: T) => seen.push(value));
  return seen;
}

/** A host's channel and an agent's, which trusts the host as the guest's agent does. */
async function channels(ports?: [Duplex, Duplex], window?: number) {
  const [hostPort, agentPort] = ports ?? (await socketPair());
  const host = new AgentChannel(hostPort, { window });
  const agent = new AgentChannel(agentPort, { window, trustedPeer: true });
  const hostErrors = record<ProtocolError>(host, 'error');
  const agentErrors = record<ProtocolError>(agent, 'error');
  await Promise.all([host.hello('vmrun test'), agent.hello('vmrun-agent test')]);
  return { host, agent, hostErrors, agentErrors };
}

/** A peer that speaks raw frames, to do what a well-behaved AgentChannel never would. */
function rawPeer(port: Duplex) {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  port.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  port.on('error', () => {}); // the channel ending the pair aborts this side
  const send = (message: unknown) =>
    port.write(encodeFrame(FrameKind.CONTROL, 0, Buffer.from(JSON.stringify(message))));
  return {
    frames,
    send,
    hello: (versions = PROTOCOL_VERSIONS, window = 65536) => send({ type: 'hello', versions, window }),
    dataBytes: (stream: number) =>
      frames
        .filter((f) => f.kind === FrameKind.DATA && f.stream === stream)
        .reduce((n, f) => n + f.payload.length, 0),
    controls: () =>
      frames
        .filter((f) => f.kind === FrameKind.CONTROL)
        .map((f) => JSON.parse(f.payload.toString()) as AgentMessage),
  };
}

/** A channel on one end of a memory pair and a raw peer on the other, past the handshake. */
async function channelAndRawPeer(window?: number, trustedPeer = false) {
  const [port, peerPort] = memoryPair();
  const channel = new AgentChannel(port, { trustedPeer });
  const errors = record<ProtocolError>(channel, 'error');
  const peer = rawPeer(peerPort);
  peer.hello(PROTOCOL_VERSIONS, window);
  await channel.hello('vmrun test');
  return { channel, errors, peer, peerPort };
}

async function readAll(readable: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function writeAll(writable: NodeJS.WritableStream, chunks: Buffer[]): Promise<void> {
  for (const chunk of chunks) if (!writable.write(chunk)) await once(writable, 'drain');
  writable.end();
  await once(writable, 'finish');
}

describe('frame codec', () => {
  const sample = [
    encodeFrame(FrameKind.CONTROL, 0, Buffer.from(JSON.stringify(exit))),
    encodeFrame(FrameKind.DATA, 3, Buffer.from([0, 0xff, 0xc3, 0x28, 0, 9])),
    encodeFrame(FrameKind.DATA, 0xffffffff, Buffer.alloc(0)),
    creditFrame(3, 0x12345678),
    encodeFrame(FrameKind.EOF, 3),
  ];
  const wire = Buffer.concat(sample);
  const expected = new FrameDecoder().push(wire);

  test('lays a frame out as kind, big-endian stream and length, payload', () => {
    expect([...encodeFrame(FrameKind.DATA, 0x01020304, Buffer.from('hi'))]).toEqual([
      1, 1, 2, 3, 4, 0, 0, 0, 2, 0x68, 0x69,
    ]);
    expect(expected.map((f) => [f.kind, f.stream, f.payload.length])).toEqual([
      [FrameKind.CONTROL, 0, sample[0]!.length - HEADER_BYTES],
      [FrameKind.DATA, 3, 6],
      [FrameKind.DATA, 0xffffffff, 0],
      [FrameKind.CREDIT, 3, 4],
      [FrameKind.EOF, 3, 0],
    ]);
    expect(expected[3]!.payload.readUInt32BE(0)).toBe(0x12345678);
    expect(JSON.parse(expected[0]!.payload.toString())).toEqual(exit);
  });

  test('decodes frames split at every byte boundary', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
      expect(frames, `cut at ${cut}`).toEqual(expected);
    }
  });

  test('decodes frames fed one byte at a time', () => {
    const decoder = new FrameDecoder();
    const frames = [...wire].flatMap((byte) => decoder.push(Buffer.from([byte])));
    expect(frames).toEqual(expected);
  });

  test('decodes many frames coalesced in one chunk, up to the largest payload', () => {
    const big = randomBytes(MAX_PAYLOAD);
    const frames = new FrameDecoder().push(
      Buffer.concat([...Array.from({ length: 500 }, () => wire), encodeFrame(FrameKind.DATA, 1, big)]),
    );
    expect(frames).toHaveLength(500 * sample.length + 1);
    expect(frames.slice(0, sample.length)).toEqual(expected);
    expect(frames.at(-1)!.payload.equals(big)).toBe(true);
  });

  const header = (kind: number, stream: number, length: number) => {
    const h = Buffer.alloc(HEADER_BYTES);
    h.writeUInt8(kind, 0);
    h.writeUInt32BE(stream, 1);
    h.writeUInt32BE(length, 5);
    return h;
  };

  test.each([
    [
      'a length over the maximum',
      header(FrameKind.DATA, 1, MAX_PAYLOAD + 1),
      /65537 bytes exceeds the maximum of 65536/,
    ],
    ['an unknown kind', header(7, 1, 0), /unknown frame kind 7/],
    ['DATA on the control stream', header(FrameKind.DATA, 0, 1), /only CONTROL and CONTROL_PART use stream 0/],
    ['CONTROL on a stdio stream', header(FrameKind.CONTROL, 2, 2), /only CONTROL and CONTROL_PART use stream 0/],
    ['an EOF with a payload', header(FrameKind.EOF, 1, 1), /EOF frame with a 1-byte payload/],
    ['a CREDIT without four bytes', header(FrameKind.CREDIT, 1, 2), /CREDIT frame with a 2-byte payload/],
  ])('rejects %s as soon as its header is complete', (_name, bad, message) => {
    const decoder = new FrameDecoder();
    expect(decoder.push(bad.subarray(0, HEADER_BYTES - 1))).toEqual([]);
    expect(() => decoder.push(bad.subarray(HEADER_BYTES - 1))).toThrow(message);
    expect(() => new FrameDecoder().push(bad)).toThrow(ProtocolError);
  });

  test('refuses to encode a payload over the maximum', () => {
    expect(() => encodeFrame(FrameKind.DATA, 1, Buffer.alloc(MAX_PAYLOAD + 1))).toThrow(ProtocolError);
  });
});

describe('handshake', () => {
  test('both sides agree on the highest common version and learn the peer window and software', async () => {
    const [hostPort, agentPort] = await socketPair();
    const host = new AgentChannel(hostPort);
    const agent = new AgentChannel(agentPort, { window: 65536, trustedPeer: true });
    const [h, a] = await Promise.all([host.hello('vmrun 0.1.0'), agent.hello('vmrun-agent 0.1.0')]);
    expect(h).toEqual({ version: 8, peerWindow: 65536, peerMaxMessage: MAX_TRUSTED_MESSAGE, peerSoftware: 'vmrun-agent 0.1.0' });
    expect(a).toEqual({ version: 8, peerWindow: DEFAULT_WINDOW, peerMaxMessage: MAX_UNTRUSTED_MESSAGE, peerSoftware: 'vmrun 0.1.0' });
  });

  test("completes when the peer's hello arrives before ours is sent", async () => {
    const [port, peerPort] = memoryPair();
    const channel = new AgentChannel(port);
    const peer = rawPeer(peerPort);
    peer.send({ type: 'hello', versions: [8, 1, 6], window: 100000 });
    await once(port, 'data'); // the channel's own listener, added first, has taken the hello
    // Without maxMessage (as in version 2), one frame's payload.
    await expect(channel.hello('vmrun')).resolves.toMatchObject({ version: 8, peerWindow: 100000, peerMaxMessage: MAX_PAYLOAD });
    await vi.waitFor(() =>
      expect(peer.controls()).toEqual([expect.objectContaining({ type: 'hello', versions: PROTOCOL_VERSIONS })]),
    );
  });

  test('with helloSecond, says hello only once the peer has: nothing is written to a port no one reads', async () => {
    const [port, peerPort] = memoryPair();
    const channel = new AgentChannel(port, { helloSecond: true, trustedPeer: true });
    const peer = rawPeer(peerPort);
    const said = channel.hello('vmrun-agent');
    await new Promise((r) => setTimeout(r, 50));
    expect(peer.controls()).toEqual([]);
    peer.send({ type: 'hello', versions: [8], window: 100000 });
    await expect(said).resolves.toMatchObject({ version: 8 });
    await vi.waitFor(() => expect(peer.controls()).toEqual([expect.objectContaining({ type: 'hello', software: 'vmrun-agent' })]));
  });

  test('fails with both version lists and closes the channel when none is common', async () => {
    const [port, peerPort] = memoryPair();
    const channel = new AgentChannel(port);
    const closed = closing(channel);
    rawPeer(peerPort).hello([1, 2]);
    const failure = channel.hello('vmrun');
    await expect(failure).rejects.toThrow(ProtocolError);
    await expect(failure).rejects.toThrow('this side speaks 8, the peer 1, 2');
    await closed;
    expect(() => channel.send(exit)).toThrow(/closed/);
  });

  test('lets nothing but hello out before the handshake', async () => {
    const [port, peerPort] = memoryPair();
    const channel = new AgentChannel(port);
    const peer = rawPeer(peerPort);
    expect(() => channel.send(exit)).toThrow(/before the handshake/);
    await expect(channel.request({ op: 'ps' })).rejects.toThrow(/before the handshake/);
    expect(() => channel.writableStream(1)).toThrow(/before the handshake/);
    const agreed = channel.hello('vmrun');
    expect(() => channel.send(exit)).toThrow(/before the handshake/);
    peer.hello();
    await agreed;
    channel.send(exit);
    await vi.waitFor(() => expect(peer.controls().map((m) => m.type)).toEqual(['hello', 'event']));
  });

  test('treats anything from the peer before its hello as a broken protocol', async () => {
    const [port, peerPort] = memoryPair();
    const channel = new AgentChannel(port);
    const errors = record<ProtocolError>(channel, 'error');
    const closed = closing(channel);
    rawPeer(peerPort).send(exit);
    await closed;
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'ProtocolError',
        message: "event before the peer's hello",
      }),
    ]);
  });
});

describe('control messages', () => {
  test('delivers events as messages and requests as requests', async () => {
    const { host, agent, hostErrors, agentErrors } = await channels();
    const messages = record<AgentMessage>(host, 'message');
    const requests = record<AgentMessage>(agent, 'request');
    agent.send({ type: 'event', event: 'log', level: 'info', msg: 'hé \u0000 ☃' });
    agent.send(exit);
    void host.request({ op: 'signal', process: 'init', signal: 15, all: true });
    await vi.waitFor(() => expect(messages).toHaveLength(2));
    await vi.waitFor(() => expect(requests).toHaveLength(1));
    expect(messages).toEqual([{ type: 'event', event: 'log', level: 'info', msg: 'hé \u0000 ☃' }, exit]);
    expect(requests).toEqual([
      { type: 'request', id: 1, op: 'signal', process: 'init', signal: 15, all: true },
    ]);
    expect([...hostErrors, ...agentErrors]).toEqual([]);
  });

  test('refuses to send an invalid message, naming the problem', async () => {
    const { host } = await channels();
    const bad = { ...exit, process: 'a/b' };
    expect(() => host.send(bad)).toThrow(ProtocolError);
    expect(() => host.send(bad)).toThrow(
      expect.objectContaining({
        details: expect.arrayContaining([expect.stringMatching(/^\/process: must match pattern/)]),
      }),
    );
    await expect(host.request({ op: 'signal', process: 'init', signal: 99 })).rejects.toThrow(/\/signal: /);
  });

  test('reports an invalid incoming message from a trusted peer as an error and carries on', async () => {
    const { channel, errors, peer } = await channelAndRawPeer(undefined, true);
    const messages = record<AgentMessage>(channel, 'message');
    peer.send({ ...exit, status: 300 });
    peer.send({ type: 'event', event: 'exit', status: 1 });
    await vi.waitFor(() => expect(errors).toHaveLength(2));
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect(errors[0]!.details).toContain('/status: must be <= 255');
    expect(errors[1]!.details).toContain('/process: is required');
    expect(errors[1]!.message).toContain('/process: is required');
    expect(messages).toEqual([]);
  });

  test('reports a CONTROL frame from a trusted peer that is not JSON and still takes the next message', async () => {
    const { channel, errors, peerPort } = await channelAndRawPeer(undefined, true);
    const messages = record<AgentMessage>(channel, 'message');
    peerPort.write(encodeFrame(FrameKind.CONTROL, 0, Buffer.from('{"type": "ev')));
    peerPort.write(encodeFrame(FrameKind.CONTROL, 0, Buffer.from(JSON.stringify(exit))));
    await vi.waitFor(() => expect(messages).toEqual([exit]));
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/not JSON/) })]);
  });
});

describe('requests', () => {
  test('numbers requests and resolves each with its result', async () => {
    const { host, agent } = await channels();
    const ids: number[] = [];
    agent.on('request', (r: { id: number; op: string }) => {
      ids.push(r.id);
      agent.respond(r.id, r.op === 'ps' ? { pids: [1, r.id] } : undefined);
    });
    const results = await Promise.all([
      host.request({ op: 'ps' }),
      host.request({ op: 'start' }),
      host.request({ op: 'ps' }),
    ]);
    expect(results).toEqual([{ pids: [1, 1] }, undefined, { pids: [1, 3] }]);
    expect(ids).toEqual([1, 2, 3]);
  });

  test("rejects with the agent's error code and message", async () => {
    const { host, agent } = await channels();
    agent.on('request', (r: { id: number; op: string }) =>
      agent.respond(
        r.id,
        r.op === 'ps'
          ? new AgentError('NoSuchProcess', 'no such process')
          : new VmrunError('InvalidState', 'not created'),
      ),
    );
    await expect(host.request({ op: 'ps' })).rejects.toThrow(
      expect.objectContaining({
        name: 'AgentError',
        code: 'NoSuchProcess',
        message: 'no such process',
      }),
    );
    await expect(host.request({ op: 'start' })).rejects.toMatchObject({
      code: 'InvalidState',
      message: 'not created',
    });
  });

  test('rejects a request that gets no response in time, and drops its late answer', async () => {
    const { host, agent, hostErrors } = await channels();
    const late: number[] = [];
    agent.on('request', (r: { id: number }) => late.push(r.id));
    await expect(host.request({ op: 'ps' }, 20)).rejects.toMatchObject({ code: 'Timeout' });
    agent.respond(late[0]!, { pids: [] });
    agent.on('request', (r: { id: number }) => agent.respond(r.id, { pids: [1] }));
    await expect(host.request({ op: 'ps' })).resolves.toEqual({ pids: [1] });
    expect(hostErrors).toEqual([]);
  });

  test('reports a response to a request never made', async () => {
    const { errors, peer } = await channelAndRawPeer();
    peer.send({ type: 'response', id: 9, ok: true });
    await vi.waitFor(() =>
      expect(errors).toEqual([expect.objectContaining({ message: 'a response to unknown request 9' })]),
    );
  });

  test('the peer closing rejects pending requests, errors unfinished streams and closes', async () => {
    const { host, agent } = await channels();
    const stdout = host.readableStream(2);
    const stdoutError = once(stdout, 'error');
    const stdin = host.writableStream(1);
    const stdinError = once(stdin, 'error');
    stdin.write(Buffer.alloc(DEFAULT_WINDOW + 1)); // the agent never reads it: waits for credit
    const closed = closing(host);
    const pending = [host.request({ op: 'start' }), host.request({ op: 'ps' })];
    await once(agent, 'request');
    await vi.waitFor(() => expect(agent.bufferedBytes(1)).toBe(DEFAULT_WINDOW));
    agent.close();
    for (const p of pending) await expect(p).rejects.toThrow(/peer closed the agent channel/);
    await closed;
    expect((await stdoutError)[0]).toBeInstanceOf(ProtocolError);
    expect((await stdinError)[0]).toBeInstanceOf(ProtocolError);
    await expect(host.request({ op: 'ps' })).rejects.toThrow(/closed/);
  });
});

describe('streams', () => {
  test('carry any bytes exactly, however the port cuts them', async () => {
    const { host, agent, hostErrors, agentErrors } = await channels(memoryPair(true));
    const stdin = Buffer.concat([
      Buffer.from([0, 0, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
      randomBytes(3 * MB),
    ]);
    const stdout = randomBytes(2 * MB + 12345);
    const [gotStdin, gotStdout] = await Promise.all([
      readAll(agent.readableStream(1)),
      readAll(host.readableStream(2)),
      writeAll(host.writableStream(1), [stdin.subarray(0, 5), stdin.subarray(5)]),
      writeAll(agent.writableStream(2), [stdout]),
    ]);
    expect(gotStdin.equals(stdin)).toBe(true);
    expect(gotStdout.equals(stdout)).toBe(true);
    expect([...hostErrors, ...agentErrors]).toEqual([]);
  });

  test('sends DATA in frames of at most MAX_PAYLOAD, within the credit granted, then EOF', async () => {
    const { channel, peer, peerPort } = await channelAndRawPeer(65536);
    const stdin = channel.writableStream(1);
    let written = false;
    stdin.write(randomBytes(200000), () => (written = true));
    stdin.end();
    // Anything sent before this event arrives ahead of it.
    channel.send(exit);
    await vi.waitFor(() => expect(peer.controls()).toHaveLength(2));
    expect(peer.dataBytes(1)).toBe(65536);
    expect(written).toBe(false);
    peerPort.write(creditFrame(1, 65536));
    peerPort.write(creditFrame(1, 100000));
    await vi.waitFor(() => expect(peer.frames.at(-1)?.kind).toBe(FrameKind.EOF));
    const data = peer.frames.filter((f) => f.kind === FrameKind.DATA);
    expect(data.every((f) => f.payload.length <= MAX_PAYLOAD)).toBe(true);
    expect(peer.dataBytes(1)).toBe(200000);
    expect(written).toBe(true);
  });

  test("keep a trusted peer's DATA that arrives before the stream is opened, and end after all of it", async () => {
    const { host, agent } = await channels();
    const out = randomBytes(200000);
    await writeAll(host.writableStream(3), [out.subarray(0, 1000), out.subarray(1000)]);
    await vi.waitFor(() => expect(agent.bufferedBytes(3)).toBe(out.length));
    const stream = agent.readableStream(3);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'end');
    expect(Buffer.concat(chunks).equals(out)).toBe(true);
    expect(agent.bufferedBytes(3)).toBe(0);
  });

  test('a stdout flood fills one window while control flows, then arrives whole and in order', async () => {
    const { host, agent, hostErrors, agentErrors } = await channels();
    const total = 100 * MB;
    const sent = createHash('sha256');
    let produced = 0;
    const writer = (async () => {
      const stdout = agent.writableStream(2);
      while (produced < total) {
        const chunk = randomBytes(MB);
        sent.update(chunk);
        produced += chunk.length;
        if (!stdout.write(chunk)) await once(stdout, 'drain');
      }
      stdout.end();
      await once(stdout, 'finish');
    })();
    const stdout = host.readableStream(2); // not read yet

    await vi.waitFor(() => expect(host.bufferedBytes(2)).toBe(DEFAULT_WINDOW), { timeout: 10000 });
    agent.on('request', (r: { id: number }) => agent.respond(r.id, { pids: [1] }));
    await expect(host.request({ op: 'signal', process: 'init', signal: 9 }, 10000)).resolves.toEqual({
      pids: [1],
    });
    const messages = record<AgentMessage>(host, 'message');
    agent.send(exit);
    await vi.waitFor(() => expect(messages).toEqual([exit]), { timeout: 10000 });
    expect(host.bufferedBytes(2)).toBe(DEFAULT_WINDOW);
    expect(produced).toBeLessThanOrEqual(2 * MB);

    const received = createHash('sha256');
    let count = 0;
    let most = 0;
    stdout.on('data', (chunk: Buffer) => {
      received.update(chunk);
      count += chunk.length;
      most = Math.max(most, host.bufferedBytes(2));
    });
    await once(stdout, 'end');
    await writer;
    expect(count).toBe(total);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    expect(most).toBeLessThanOrEqual(DEFAULT_WINDOW);
    expect([...hostErrors, ...agentErrors]).toEqual([]);
  }, 60000);

  test('a consumer that gives up does not stall the sender', async () => {
    const { host, agent } = await channels();
    const stdout = host.readableStream(2);
    stdout.once('data', () => stdout.destroy());
    await writeAll(
      agent.writableStream(2),
      Array.from({ length: 8 }, () => randomBytes(MB)),
    );
    expect(stdout.destroyed).toBe(true);
  });

  test('a peer sending more DATA than its credit breaks the protocol', async () => {
    const { channel, errors, peerPort } = await channelAndRawPeer(undefined, true);
    const closed = closing(channel);
    for (let sent = 0; sent <= DEFAULT_WINDOW; sent += MAX_PAYLOAD) {
      peerPort.write(encodeFrame(FrameKind.DATA, 4, Buffer.alloc(MAX_PAYLOAD)));
    }
    await closed;
    expect(errors).toEqual([
      expect.objectContaining({
        message: `${MAX_PAYLOAD} bytes of DATA on stream 4 exceed the 0 bytes of credit granted`,
      }),
    ]);
  });
});

// The host's end of the agent channel (the monitor's, src/monitor/agent-link.ts) against a
// hostile guest over a real unix socket: junk, streams the host never opened, floods of DATA
// and of log lines, messages over the bound, and silence. The host must stay within its memory
// bounds, stop the container once with one reason, and answer every request by its deadline.
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { AgentChannel, DEFAULT_WINDOW, MAX_BUFFERED, MAX_UNTRUSTED_MESSAGE, PROTOCOL_VERSIONS } from '../src/agent/channel.js';
import { REQUEST_DEADLINES_MS } from '../src/agent/deadlines.js';
import { controlFrames, creditFrame, encodeFrame, FrameDecoder, FrameKind, MAX_PAYLOAD } from '../src/agent/frames.js';
import type { Logger } from '../src/log.js';
import { agentChannel } from '../src/monitor/agent-link.js';
import { DnsRelay } from '../src/monitor/dns-relay.js';
import { GUEST_LOG_LIMITS, GuestLog } from '../src/monitor/guest-log.js';
import { tempDir } from './helpers/cli.js';

const MB = 1024 * 1024;

interface Line {
  level: string;
  msg: string;
}

/** A logger that keeps what the monitor would have written. */
function recordingLogger(lines: Line[]): Logger {
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
}

/** The guest's end: raw frames on the accepted side of a unix socket, which respects backpressure. */
class HostileGuest {
  readonly credit = new Map<number, number>();
  /** The host's control messages (parts joined). */
  readonly controls: Record<string, unknown>[] = [];
  private parts: Buffer[] = [];
  private readonly decoder = new FrameDecoder();
  private creditWaiter?: () => void;

  constructor(readonly socket: Socket) {
    socket.on('error', () => undefined); // the host cutting it off is the point
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.kind === FrameKind.CONTROL_PART) this.parts.push(f.payload);
        if (f.kind === FrameKind.CONTROL) this.controls.push(JSON.parse(Buffer.concat([...this.parts.splice(0), f.payload]).toString()) as Record<string, unknown>);
        if (f.kind !== FrameKind.CREDIT) continue;
        this.credit.set(f.stream, (this.credit.get(f.stream) ?? DEFAULT_WINDOW) + f.payload.readUInt32BE(0));
        this.creditWaiter?.();
      }
    });
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }

  /** Writes, waiting while the socket's buffer is full; false once the host has hung up. */
  async write(frame: Buffer): Promise<boolean> {
    if (this.closed) return false;
    if (!this.socket.write(frame)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.socket.off('drain', done).off('close', done);
          resolve();
        };
        this.socket.on('drain', done).on('close', done);
      });
    }
    return !this.closed;
  }

  message(value: unknown): Promise<boolean> {
    return this.writeAll(controlFrames(Buffer.from(JSON.stringify(value))));
  }

  async writeAll(frames: Buffer[]): Promise<boolean> {
    for (const frame of frames) if (!(await this.write(frame))) return false;
    return true;
  }

  /** DATA as the protocol allows: within the credit the host has granted. */
  async dataWithinCredit(stream: number, total: number, onFrame: () => void): Promise<void> {
    const payload = Buffer.alloc(MAX_PAYLOAD, 0x61);
    for (let sent = 0; sent < total;) {
      const credit = this.credit.get(stream) ?? DEFAULT_WINDOW;
      if (credit < MAX_PAYLOAD) {
        await new Promise<void>((resolve) => (this.creditWaiter = resolve));
        continue;
      }
      this.credit.set(stream, credit - MAX_PAYLOAD);
      if (!(await this.write(encodeFrame(FrameKind.DATA, stream, payload)))) return;
      sent += MAX_PAYLOAD;
      onFrame();
    }
  }
}

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  vi.useRealTimers();
});

/** Both ends of a connection over a real unix socket named `name`, closed after the test. */
async function connectedSockets(name: string): Promise<[Socket, Socket]> {
  const path = join(await tempDir(), name);
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect(path);
  const [end] = (await accepted) as [Socket];
  server.close();
  sockets.push(client, end);
  return [client, end];
}

/** The monitor's channel to a guest that has said a proper hello, and what the monitor would do. */
async function hostAndGuest(dns?: DnsRelay) {
  const [hostSocket, guestSocket] = await connectedSockets('agent.sock');
  const lines: Line[] = [];
  const stops: [number, string][] = [];
  const host = agentChannel(hostSocket, {
    log: recordingLogger(lines),
    stop: (status, why) => void stops.push([status, why]),
    // The monitor stops a created container with 255 when its VM is lost.
    lose: (why) => void stops.push([255, why]),
    execExited: () => undefined,
    dns: () => dns,
  });
  const closed = new Promise<void>((resolve) => host.once('close', resolve));
  const guest = new HostileGuest(guestSocket);
  await guest.message({ type: 'hello', versions: PROTOCOL_VERSIONS, window: 65536 });
  await host.hello('vmrun-monitor');
  return { host, guest, lines, stops, closed };
}

/** Memory of this process now: resident, and held by Buffers outside V8's heap. */
const memory = () => ({ rss: process.memoryUsage.rss(), arrayBuffers: process.memoryUsage().arrayBuffers });

describe('a guest that breaks the protocol', () => {
  const header = (kind: number, stream: number, length: number) => {
    const h = Buffer.alloc(9);
    h.writeUInt8(kind, 0);
    h.writeUInt32BE(stream, 1);
    h.writeUInt32BE(length, 5);
    return h;
  };
  const json = (v: unknown) => encodeFrame(FrameKind.CONTROL, 0, Buffer.from(JSON.stringify(v)));
  const exit = { type: 'event', event: 'exit', process: 'init', status: 0 };

  test.each<[string, Buffer[], RegExp]>([
    ['junk bytes', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], /unknown frame kind 71/],
    ['a frame header announcing 100 MB', [header(FrameKind.DATA, 2, 100 * MB)], /104857600 bytes exceeds the maximum of 65536/],
    ['DATA on a stream the host never opened', [encodeFrame(FrameKind.DATA, 9, Buffer.from('x'))], /DATA on stream 9, which this side did not open/],
    ['EOF on a stream the host never opened', [encodeFrame(FrameKind.EOF, 4)], /EOF on stream 4, which this side did not open/],
    ['DATA beyond the credit on an opened stream', Array.from({ length: 5 }, () => encodeFrame(FrameKind.DATA, 3, Buffer.alloc(MAX_PAYLOAD))), /on stream 3 exceed the 0 bytes of credit granted/],
    ['a control message that is not JSON', [encodeFrame(FrameKind.CONTROL, 0, Buffer.from('{"type":'))], /not JSON/],
    ['a message outside the schema', [json({ ...exit, status: 300 })], /\/status: must be <= 255/],
    ['a message nested a million deep', [...controlFrames(Buffer.from(`{"type":"event","event":"log","level":"info","msg":${'['.repeat(500_000)}${']'.repeat(500_000)}}`))], /an invalid agent message/],
    ['a response to a request never made', [json({ type: 'response', id: 77, ok: true })], /a response to unknown request 77/],
    ['a second hello', [json({ type: 'hello', versions: PROTOCOL_VERSIONS, window: 65536 })], /a second hello/],
    ['a control message of more than 1 MiB', controlFrames(Buffer.from(JSON.stringify({ ...exit, pad: 'x'.repeat(2 * MB) }))), /a control message of more than 1048576 bytes/],
  ])('%s: the channel closes and the container stops once, with the reason', async (_name, frames, reason) => {
    const { host, guest, lines, stops, closed } = await hostAndGuest();
    // Init's stdout and stderr, opened before the create request as the monitor does: one read, one not.
    host.readableStream(2).resume().on('error', () => undefined);
    host.readableStream(3).on('error', () => undefined);
    await guest.writeAll(frames);
    await closed;
    expect(stops).toEqual([[255, expect.stringMatching(reason)]]);
    expect(stops[0]![1]).toMatch(/^the guest broke the agent protocol: /);
    expect(lines).toEqual([]); // the one line is the monitor's "stopping: ..." of stop()
    expect(host.protocolBreak?.message).toMatch(reason);
  });

  test('a message over the bound is refused as soon as its parts pass it, not at its end', async () => {
    const { guest, stops, closed } = await hostAndGuest();
    const part = encodeFrame(FrameKind.CONTROL_PART, 0, Buffer.alloc(MAX_PAYLOAD, 0x20));
    let written = 0;
    // The guest would go on for 200 MB; the host hangs up after 1 MiB of it.
    while (written < 200 * MB && (await guest.write(part))) written += MAX_PAYLOAD;
    await closed;
    expect(written).toBeLessThan(200 * MB);
    expect(stops).toEqual([[255, `the guest broke the agent protocol: a control message of more than ${MAX_UNTRUSTED_MESSAGE} bytes, the most this side accepts`]]);
  });

  test("an agent of another vmrun's setup (no common version) is named as such, with the way out", async () => {
    const [hostSocket, guestSocket] = await connectedSockets('agent.sock');
    const stops: [number, string][] = [];
    const host = agentChannel(hostSocket, {
      log: recordingLogger([]), stop: () => undefined, lose: (why) => void stops.push([255, why]), execExited: () => undefined, dns: () => undefined,
    });
    await new HostileGuest(guestSocket).message({ type: 'hello', versions: [1], window: 65536 });
    await expect(host.hello('vmrun-monitor')).rejects.toThrow(/no common protocol version/);
    expect(stops).toEqual([[255, `no common protocol version: this side speaks ${PROTOCOL_VERSIONS.join(', ')}, the peer 1: its agent is of another vmrun; run \`vmrun setup\``]]);
  });

  test('the VM ending (the socket closing) is not called a broken protocol', async () => {
    const { guest, stops, closed } = await hostAndGuest();
    guest.socket.end();
    await closed;
    expect(stops).toEqual([[255, 'the VM ended without reporting the exit status']]);
  });
});

describe('floods within the protocol', () => {
  test('200 MB of stdout: the host holds at most one window of it and its memory stays bounded', async () => {
    const { host, guest, stops } = await hostAndGuest();
    const stdout = host.readableStream(2);
    let received = 0;
    stdout.on('data', (chunk: Buffer) => (received += chunk.length));
    const before = memory();
    let peak = before;
    let frames = 0;
    let mostBuffered = 0;
    await guest.dataWithinCredit(2, 200 * MB, () => {
      mostBuffered = Math.max(mostBuffered, host.bufferedBytes(2));
      if (++frames % 64 === 0) {
        const now = memory();
        peak = { rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
      }
    });
    await guest.write(encodeFrame(FrameKind.EOF, 2));
    await once(stdout, 'end');
    expect(received).toBe(200 * MB);
    expect(mostBuffered).toBeLessThanOrEqual(DEFAULT_WINDOW);
    // The bound: one window held for the consumer, frames in flight and garbage not yet collected.
    // Holding the flood would take 200 MB. RSS is the whole worker's, and a GC that comes late
    // can leave 70 MB of garbage resident (seen in CI): its bound is looser.
    expect(peak.rss - before.rss).toBeLessThan(128 * MB);
    expect(peak.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * MB);
    expect(stops).toEqual([]);
  }, 120_000);

  test('a stdout nobody reads holds one window, and a byte more breaks the protocol', async () => {
    const { host, guest, stops, closed } = await hostAndGuest();
    host.readableStream(2).on('error', () => undefined); // opened, never read
    const payload = Buffer.alloc(MAX_PAYLOAD);
    let sent = 0;
    while (sent < 200 * MB && (await guest.write(encodeFrame(FrameKind.DATA, 2, payload)))) {
      sent += MAX_PAYLOAD;
      if (sent <= DEFAULT_WINDOW) await vi.waitFor(() => expect(host.bufferedBytes(2)).toBe(sent));
    }
    await closed;
    expect(sent).toBeLessThan(200 * MB);
    expect(stops).toEqual([[255, expect.stringMatching(/DATA on stream 2 exceed the 0 bytes of credit granted/)]]);
  });

  test('200 MB of log lines: a burst, then a steady rate, each line cut, the rest counted in one line', async () => {
    const { host, guest, lines, stops, closed } = await hostAndGuest();
    const events = 1000;
    const msg = `line\nlevel=error msg=forged ${'x'.repeat(200 * 1024)}`;
    const t0 = Date.now();
    const before = memory();
    let peak = before;
    for (let i = 0; i < events; i++) {
      await guest.message({ type: 'event', event: 'log', level: 'error', msg });
      const now = memory();
      peak = { rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
    }
    // A request after the flood is answered: the channel kept up with it.
    const answered = host.request({ op: 'ps' }, 60_000);
    await guest.message({ type: 'response', id: 1, ok: true, result: { pids: [1] } });
    await expect(answered).resolves.toEqual({ pids: [1] });
    const elapsed = (Date.now() - t0) / 1000;
    guest.socket.end();
    await closed;

    const logged = lines.filter((l) => l.msg.startsWith('guest: '));
    const summaries = lines.filter((l) => / guest log lines dropped /.test(l.msg));
    expect(logged.length).toBeGreaterThanOrEqual(GUEST_LOG_LIMITS.burst);
    expect(logged.length).toBeLessThanOrEqual(GUEST_LOG_LIMITS.burst + Math.ceil(elapsed * GUEST_LOG_LIMITS.perSecond) + 1);
    const dropped = summaries.reduce((n, l) => n + Number(/^(\d+) /.exec(l.msg)![1]), 0);
    expect(logged.length + dropped).toBe(events);
    // One when lines are first let through again after some were dropped, then at most one a period, and at the end.
    expect(summaries.length).toBeLessThanOrEqual(2 + Math.floor(elapsed / (GUEST_LOG_LIMITS.summaryEveryMs / 1000)));
    for (const l of logged) {
      expect(l.msg.length).toBeLessThan(GUEST_LOG_LIMITS.lineChars + 100);
      expect(l.msg).not.toContain('\n'); // shown as \x0a: the guest cannot forge a line of the log
      expect(l.msg).toMatch(/more characters\)$/);
    }
    expect(peak.rss - before.rss).toBeLessThan(64 * MB);
    expect(stops).toEqual([[255, 'the VM ended without reporting the exit status']]);
  }, 120_000);
});

describe('a silent guest', () => {
  test('a request gets no answer: it fails at its deadline, naming the agent, and the channel carries on', async () => {
    const { host, guest, stops } = await hostAndGuest();
    await expect(host.request({ op: 'ps' }, 300)).rejects.toMatchObject({
      code: 'Timeout',
      message: "the guest's agent did not answer the ps request within 0.3 s",
    });
    // A later answer to it is dropped, not taken for another's.
    await guest.message({ type: 'response', id: 1, ok: true, result: { pids: [] } });
    const next = host.request({ op: 'ps' }, 10_000);
    await guest.message({ type: 'response', id: 2, ok: true, result: { pids: [7] } });
    await expect(next).resolves.toEqual({ pids: [7] });
    expect(stops).toEqual([]);
  });

  test('every op has its deadline by default', async () => {
    const { host } = await hostAndGuest();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const ops = [
      host.request({ op: 'signal', process: 'init', signal: 15 }),
      host.request({ op: 'start' }),
      host.request({ op: 'stats' }),
    ].map((p) => p.then(() => 'answered', (e: Error) => e.message));
    let settled: string[] | undefined;
    void Promise.all(ops).then((s) => (settled = s));
    const longest = Math.max(REQUEST_DEADLINES_MS.signal, REQUEST_DEADLINES_MS.start, REQUEST_DEADLINES_MS.stats);
    await vi.advanceTimersByTimeAsync(longest - 1);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toEqual([
      `the guest's agent did not answer the signal request within ${REQUEST_DEADLINES_MS.signal / 1000} s`,
      `the guest's agent did not answer the start request within ${REQUEST_DEADLINES_MS.start / 1000} s`,
      `the guest's agent did not answer the stats request within ${REQUEST_DEADLINES_MS.stats / 1000} s`,
    ]);
  });

  test('a peer that never says hello fails a hello with a deadline and is hung up on', async () => {
    const path = join(await tempDir(), 'exec.sock');
    const server = createServer((s) => sockets.push(s)); // accepts, says nothing
    server.listen(path);
    await once(server, 'listening');
    const socket = connect(path);
    sockets.push(socket);
    const channel = new AgentChannel(socket, { peer: "the container's monitor" });
    channel.on('error', () => undefined);
    await expect(channel.hello('vmrun-exec', 200)).rejects.toThrow("the container's monitor did not say hello within 0.2 s");
    server.close();
  });
});

describe('messages bigger than one frame', () => {
  test('the guest may answer with up to 1 MiB; the host may send 4 MiB; each refuses more before sending', async () => {
    const [hostSocket, guestSocket] = await connectedSockets('agent.sock');
    const host = new AgentChannel(hostSocket, { peer: "the guest's agent" });
    const agent = new AgentChannel(guestSocket, { trustedPeer: true, peer: 'the host' });
    await Promise.all([host.hello('host'), agent.hello('agent')]);
    const env = Array.from({ length: 256 }, (_, i) => `V${i}=${'e'.repeat(4096)}`); // 1 MiB, as execve takes it
    const received: unknown[] = [];
    agent.on('request', (r: { id: number; op: string; spec?: { env: string[] } }) => {
      received.push(r.spec?.env);
      if (r.op === 'exec') agent.respond(r.id, { pid: 1 });
      // A result of 2 MiB is more than the host accepts: answered with E2BIG instead.
      else agent.respond(r.id, { pids: [], big: 'x'.repeat(2 * MB) });
    });
    const spec = { args: ['sh'] as [string, ...string[]], env, cwd: '/', user: { uid: 0, gid: 0 } };
    await expect(host.request({ op: 'exec', process: 'exec-1', spec, stdio: {} })).resolves.toEqual({ pid: 1 });
    expect(received).toEqual([env]);
    await expect(host.request({ op: 'ps' })).rejects.toMatchObject({ code: 'E2BIG', message: expect.stringMatching(/is more than the 1048576 the host accepts/) });
    const huge = { ...spec, env: Array.from({ length: 48 }, (_, i) => `V${i}=${'e'.repeat(100_000)}`) };
    await expect(host.request({ op: 'exec', process: 'exec-2', spec: huge, stdio: {} })).rejects.toThrow(/a request message of \d+ bytes is more than the 4194304 the guest's agent accepts/);
    expect(received).toHaveLength(2);
  });
});

test('CREDIT for streams the host does not write is dropped without keeping anything', async () => {
  const { host, guest, stops } = await hostAndGuest();
  for (let i = 1; i <= 10_000; i++) await guest.write(creditFrame(i, 0xffffffff));
  const started = host.request({ op: 'start' });
  await guest.message({ type: 'response', id: 1, ok: true });
  await expect(started).resolves.toBeUndefined();
  expect(stops).toEqual([]);
});

describe('the total the host holds', () => {
  test(`streams hold at most ${MAX_BUFFERED / MB} MiB together: no more than that many windows open at once`, async () => {
    const { host } = await hostAndGuest();
    const most = MAX_BUFFERED / DEFAULT_WINDOW;
    const streams = Array.from({ length: most }, (_, i) => host.readableStream(i + 2).on('error', () => undefined));
    expect(() => host.readableStream(most + 2)).toThrow(`more than ${most} streams at once on the agent channel`);
    // One whose reader has given up holds nothing (its DATA is dropped as it comes): it no longer counts.
    streams[0]!.destroy();
    expect(() => host.readableStream(most + 2).on('error', () => undefined)).not.toThrow();
  });

  test('a trusted peer opening streams by sending on them is held to the same total', async () => {
    const [relaySocket, monitorSocket] = await connectedSockets('exec.sock');
    const monitor = new AgentChannel(monitorSocket, { trustedPeer: true });
    const errors: Error[] = [];
    monitor.on('error', (e: Error) => errors.push(e));
    const closed = new Promise<void>((resolve) => monitor.once('close', resolve));
    const relay = new HostileGuest(relaySocket);
    await relay.message({ type: 'hello', versions: PROTOCOL_VERSIONS, window: 65536 });
    await monitor.hello('vmrun-monitor');
    for (let id = 1; await relay.write(encodeFrame(FrameKind.DATA, id, Buffer.from('x'))); id++);
    await closed;
    expect(errors.map((e) => e.message)).toEqual([`more than ${MAX_BUFFERED / DEFAULT_WINDOW} streams at once on the agent channel`]);
  });
});

describe('guest log lines', () => {
  test('a burst, then the steady rate; the dropped ones said once a period and at the end', () => {
    const lines: Line[] = [];
    let now = 0;
    const log = new GuestLog(recordingLogger(lines), () => now);
    for (let i = 0; i < 150; i++) log.write('info', `a${i}`);
    expect(lines).toHaveLength(GUEST_LOG_LIMITS.burst);
    now += 1000; // a second: ten more lines may pass
    for (let i = 0; i < 20; i++) log.write('warn', `b${i}`);
    expect(lines.slice(GUEST_LOG_LIMITS.burst)).toEqual([
      { level: 'warn', msg: '50 guest log lines dropped (more than 10 a second)' },
      ...Array.from({ length: 10 }, (_, i) => ({ level: 'warn', msg: `guest: b${i}` })),
    ]);
    now += 1000;
    for (let i = 0; i < 20; i++) log.write('info', `c${i}`);
    // Within the period of the last summary: counted, said later.
    expect(lines.filter((l) => l.msg.includes('dropped'))).toHaveLength(1);
    log.flush();
    expect(lines.at(-1)).toEqual({ level: 'warn', msg: '20 guest log lines dropped (more than 10 a second)' });
    log.flush();
    expect(lines.filter((l) => l.msg.includes('dropped'))).toHaveLength(2);
  });

  test('a line is cut to its bound and its control characters escaped', () => {
    const lines: Line[] = [];
    const log = new GuestLog(recordingLogger(lines));
    log.write('error', `a\tb\nc\u001b[31m${'z'.repeat(5000)}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe(`guest: a\tb\\x0ac\\x1b[31m${'z'.repeat(GUEST_LOG_LIMITS.lineChars - 10)}... (3010 more characters)`);
  });
});

describe("the guest's DNS queries", () => {
  const query = Buffer.alloc(12, 1).toString('base64');
  const response = async (guest: HostileGuest, id: number) => {
    await vi.waitFor(() => expect(guest.controls.find((m) => m.id === id)).toBeDefined());
    return guest.controls.find((m) => m.id === id)!;
  };

  test('without a relay (no embedded DNS) a dns request is refused and the channel stays open', async () => {
    const { guest, stops } = await hostAndGuest();
    await guest.message({ type: 'request', id: 1, op: 'dns', transport: 'udp', message: query });
    expect(await response(guest, 1)).toMatchObject({ ok: false, error: { code: 'ENOTSUP' } });
    expect(guest.closed).toBe(false);
    expect(stops).toEqual([]);
  });

  test('any other request from the guest is refused', async () => {
    const { guest, stops } = await hostAndGuest(new DnsRelay());
    await guest.message({ type: 'request', id: 2, op: 'ps' });
    expect(await response(guest, 2)).toMatchObject({ ok: false, error: { code: 'ENOTSUP', message: expect.stringContaining('no ps request') } });
    expect(stops).toEqual([]);
  });

  test('a UDP query over 4096 bytes is refused with EINVAL; one over the schema bound breaks the protocol', async () => {
    const { guest, stops, closed } = await hostAndGuest(new DnsRelay());
    await guest.message({ type: 'request', id: 3, op: 'dns', transport: 'udp', message: Buffer.alloc(4097).toString('base64') });
    expect(await response(guest, 3)).toMatchObject({ ok: false, error: { code: 'EINVAL', message: expect.stringContaining('more than 4096') } });
    await guest.message({ type: 'request', id: 4, op: 'dns', transport: 'tcp', message: Buffer.alloc(65536).toString('base64') });
    await closed;
    expect(stops).toEqual([[255, expect.stringMatching(/^the guest broke the agent protocol: .*message: must NOT have more than 87380 characters/)]]);
  });
});

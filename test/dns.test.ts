// Docker's embedded DNS, its host parts without a VM: DNS-over-TCP framing and the bounds of a
// message, the monitor's relay against a real DNS server (answers, refusals, deadlines, the
// in-flight bound), which resolv.conf turns it on, and the filters that keep the namespace's own
// DNS replies for its stack, in real network namespaces.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { dnsMessageProblem, MAX_DNS_MESSAGE, MAX_UDP_QUERY, TcpDnsReader, tcpFrame } from '../src/agent/dns.js';
import { OWN_PORTS, ownReplyFilters } from '../src/host/network.js';
import { containerUsesEmbeddedDns, DnsRelay, namesEmbeddedDns } from '../src/monitor/dns-relay.js';
import type { Spec } from '../src/generated/config.js';
import { tempDir } from './helpers/cli.js';
import { aQuery, answerOf, startResponder } from './helpers/dns.js';

const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  for (const c of cleanups.reverse()) { try { c(); } catch { /* gone */ } }
});

describe('DNS over TCP framing and bounds', () => {
  test('messages split across chunks and several in one chunk come out whole, in order', () => {
    const reader = new TcpDnsReader();
    const [a, b] = [aQuery('a.example'), aQuery('b.example', 7)];
    const stream = Buffer.concat([tcpFrame(a), tcpFrame(b)]);
    expect(reader.push(stream.subarray(0, 1))).toEqual([]);
    expect(reader.push(stream.subarray(1, 20))).toEqual([]);
    expect(reader.pending).toBe(20);
    expect(reader.push(stream.subarray(20))).toEqual([a, b]);
    expect(reader.pending).toBe(0);
  });

  test('the reader holds less than one framed message between pushes', () => {
    const reader = new TcpDnsReader();
    const big = tcpFrame(Buffer.alloc(MAX_DNS_MESSAGE, 1));
    for (let at = 0; at < big.length - 1; at += 4096) reader.push(big.subarray(at, Math.min(at + 4096, big.length - 1)));
    expect(reader.pending).toBe(big.length - 1);
    expect(reader.push(big.subarray(big.length - 1))).toHaveLength(1);
    expect(reader.pending).toBe(0);
  });

  test('a message is 12 bytes at least, 4096 at most for a UDP query, 65535 otherwise', () => {
    expect(dnsMessageProblem(Buffer.alloc(11), 'udp')).toMatch(/shorter than a DNS header/);
    expect(dnsMessageProblem(Buffer.alloc(12), 'udp')).toBeUndefined();
    expect(dnsMessageProblem(Buffer.alloc(MAX_UDP_QUERY), 'udp')).toBeUndefined();
    expect(dnsMessageProblem(Buffer.alloc(MAX_UDP_QUERY + 1), 'udp')).toMatch(/more than 4096/);
    expect(dnsMessageProblem(Buffer.alloc(MAX_UDP_QUERY + 1), 'udp', 'answer')).toBeUndefined();
    expect(dnsMessageProblem(Buffer.alloc(MAX_DNS_MESSAGE), 'tcp')).toBeUndefined();
    expect(dnsMessageProblem(Buffer.alloc(MAX_DNS_MESSAGE + 1), 'tcp')).toMatch(/more than 65535/);
    expect(() => tcpFrame(Buffer.alloc(MAX_DNS_MESSAGE + 1))).toThrow(RangeError);
  });
});

describe("the monitor's relay", () => {
  const b64 = (b: Buffer) => b.toString('base64');
  const answer = async (relay: DnsRelay, transport: 'udp' | 'tcp', name: string) =>
    answerOf(Buffer.from((await relay.answer(transport, b64(aQuery(name)))).message, 'base64'));

  test('passes UDP and TCP queries to the resolver and returns its answers', async () => {
    const { child, port } = await startResponder(['127.0.0.1', '0', 'web=10.1.2.3']);
    children.push(child);
    const relay = new DnsRelay({ target: { address: '127.0.0.1', port } });
    expect(await answer(relay, 'udp', 'web')).toEqual({ id: 0x1234, rcode: 0, addresses: ['10.1.2.3'] });
    expect(await answer(relay, 'tcp', 'web')).toEqual({ id: 0x1234, rcode: 0, addresses: ['10.1.2.3'] });
    expect(await answer(relay, 'udp', 'other')).toMatchObject({ rcode: 3, addresses: [] });
  });

  test('refuses a message out of bounds before it sends anything', async () => {
    const relay = new DnsRelay({ target: { address: '127.0.0.1', port: 9 } });
    await expect(relay.answer('udp', b64(Buffer.alloc(11)))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(relay.answer('udp', b64(Buffer.alloc(MAX_UDP_QUERY + 1)))).rejects.toMatchObject({ code: 'EINVAL' });
  });

  test('nothing listening: UDP and TCP are refused, as a client in the namespace would be', async () => {
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = silent.address().port;
    silent.close(); // a port just freed: nothing listens on it
    const relay = new DnsRelay({ target: { address: '127.0.0.1', port } });
    await expect(relay.answer('udp', b64(aQuery('web')))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(relay.answer('tcp', b64(aQuery('web')))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('a resolver that never answers: each query fails at the deadline, and no more than the bound are in flight', async () => {
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(() => silent.close());
    const relay = new DnsRelay({ target: { address: '127.0.0.1', port: silent.address().port }, deadlineMs: 300, maxInFlight: 2 });
    const first = [relay.answer('udp', b64(aQuery('a'))), relay.answer('udp', b64(aQuery('b')))];
    await expect(relay.answer('udp', b64(aQuery('c')))).rejects.toMatchObject({ code: 'EBUSY' });
    for (const q of first) await expect(q).rejects.toMatchObject({ code: 'Timeout' });
    // Their places are free again.
    await expect(relay.answer('udp', b64(aQuery('d')))).rejects.toMatchObject({ code: 'Timeout' });
  });
});

describe('which containers relay Docker\'s embedded DNS', () => {
  test("a resolv.conf naming 127.0.0.11 as a nameserver, and only that", () => {
    expect(namesEmbeddedDns('search x\nnameserver 127.0.0.11\noptions ndots:0\n')).toBe(true);
    expect(namesEmbeddedDns('  nameserver\t127.0.0.11  ')).toBe(true);
    expect(namesEmbeddedDns('nameserver 10.0.0.1\n# nameserver 127.0.0.11\n')).toBe(false);
    expect(namesEmbeddedDns('nameserver 127.0.0.111\n')).toBe(false);
  });

  test("the file bound at /etc/resolv.conf (Docker's), the last one, a relative source the bundle's; else the rootfs's", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'rootfs/etc'), { recursive: true });
    await writeFile(join(dir, 'docker.conf'), 'nameserver 127.0.0.11\n');
    await writeFile(join(dir, 'other.conf'), 'nameserver 10.0.0.1\n');
    const spec = (...sources: string[]) => ({ ociVersion: '1.0.2', mounts: sources.map((source) => ({ destination: '/etc/resolv.conf', type: 'bind', source })) }) as Spec;
    const rootfs = join(dir, 'rootfs');
    expect(await containerUsesEmbeddedDns(spec(join(dir, 'docker.conf')), dir, rootfs)).toBe(true);
    expect(await containerUsesEmbeddedDns(spec('docker.conf'), dir, rootfs)).toBe(true);
    expect(await containerUsesEmbeddedDns(spec('docker.conf', 'other.conf'), dir, rootfs)).toBe(false);
    expect(await containerUsesEmbeddedDns(spec(join(dir, 'missing')), dir, rootfs)).toBe(false);
    expect(await containerUsesEmbeddedDns(spec(), dir, rootfs)).toBe(false);
    await writeFile(join(rootfs, 'etc/resolv.conf'), 'nameserver 127.0.0.11\n');
    expect(await containerUsesEmbeddedDns(spec(), dir, rootfs)).toBe(true);
  });
});

describe("the namespace's own DNS replies", () => {
  const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
  const net = `10.219.${process.pid % 200}`;
  const [outside, inside] = [`vmrun-dh${process.pid}`, `vmrun-dp${process.pid}`];
  /** In the namespace: a UDP or TCP query to port 53 of `to` from local port `from`; prints the answer's address or the error's code. */
  const ask = (transport: string, from: number, to = `${net}.1`) => execFileSync('ip', ['netns', 'exec', inside, process.execPath, '-e', `
    const q = Buffer.from('${aQuery('ext.test').toString('hex')}', 'hex');
    const out = (m) => { console.log(m); process.exit(0); };
    setTimeout(() => out('no answer'), 1500);
    if ('${transport}' === 'udp') {
      const s = require('dgram').createSocket('udp4');
      s.on('error', (e) => out(e.code));
      s.on('message', (m) => out([...m.subarray(-4)].join('.')));
      s.bind(${from}, () => s.connect(53, '${to}', () => s.send(q)));
    } else {
      const s = require('net').connect({ host: '${to}', port: 53, localPort: ${from} }, () => s.write(Buffer.concat([Buffer.from([0, q.length]), q])));
      s.on('error', (e) => out(e.code));
      s.on('data', (m) => out([...m.subarray(-4)].join('.')));
    }`], { encoding: 'utf8' }).trim();

  test('replies from port 53 to its own ports reach its sockets; the rest goes to the tap alone', async () => {
    ip('netns', 'add', outside);
    cleanups.push(() => ip('netns', 'del', outside));
    ip('netns', 'add', inside);
    cleanups.push(() => ip('netns', 'del', inside));
    ip('-n', outside, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', inside);
    ip('-n', outside, 'addr', 'add', `${net}.1/24`, 'dev', 'veth0');
    ip('-n', outside, 'addr', 'add', `${net}.3/24`, 'dev', 'veth0'); // where nothing listens
    ip('-n', outside, 'link', 'set', 'veth0', 'up');
    ip('-n', inside, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0');
    ip('-n', inside, 'link', 'set', 'eth0', 'up');
    // The guest's tap, with no VM behind it: what goes there is lost.
    ip('-n', inside, 'tuntap', 'add', 'tap0', 'mode', 'tap');
    ip('-n', inside, 'link', 'set', 'tap0', 'up');
    const { child } = await startResponder([`${net}.1`, '53', 'ext.test=10.9.8.7'], ['ip', 'netns', 'exec', outside]);
    children.push(child);
    expect(ask('udp', OWN_PORTS.first)).toBe('10.9.8.7');

    const tc = (...args: string[]) => execFileSync('tc', ['-n', inside, ...args]);
    tc('qdisc', 'add', 'dev', 'eth0', 'ingress');
    tc('filter', 'add', 'dev', 'eth0', 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'tap0');
    ip('-n', inside, 'neigh', 'flush', 'all');
    // Joined to the tap only, the namespace hears nothing: not even its gateway's ARP reply.
    expect(ask('udp', OWN_PORTS.first)).toBe('no answer');

    for (const args of ownReplyFilters('eth0', 'tap0')) tc(...args);
    ip('-n', inside, 'neigh', 'flush', 'all');
    expect(ask('udp', OWN_PORTS.first)).toBe('10.9.8.7');
    expect(ask('tcp', OWN_PORTS.last)).toBe('10.9.8.7');
    // An ICMP refusal of its query reaches it too, as it would under runc.
    expect(ask('udp', OWN_PORTS.first + 1, `${net}.3`)).toBe('ECONNREFUSED');
    // The guest's ports (Linux's default range ends at 60999): their replies go to the tap.
    expect(ask('udp', 60999)).toBe('no answer');
    expect(ask('tcp', 40000)).toBe('no answer');
  }, 60_000);
});

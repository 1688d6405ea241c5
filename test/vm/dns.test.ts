// Docker's embedded DNS without Docker: a network namespace with a DNS server at 127.0.0.11:53,
// which answers its own names and forwards the others from inside the namespace to a server
// outside (dockerd's way), and a container whose resolv.conf names 127.0.0.11. Inside the guest
// both kinds of name resolve, over UDP (busybox nslookup) and TCP (a query through nc).
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { tcpFrame } from '../../src/agent/dns.js';
import { editConfig } from '../helpers/bundle.js';
import { aQuery, startResponder } from '../helpers/dns.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const net = `10.217.${process.pid % 200}`;
const ns = `vmrun-dns${process.pid}`;
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.splice(0).reverse().forEach((c) => { try { c(); } catch { /* already gone */ } }));

/** A shell command that sends `name`'s A query over TCP to 127.0.0.11 and prints the answer's bytes as decimals. */
const tcpLookup = (name: string) => {
  const octal = [...tcpFrame(aQuery(name))].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
  return `printf '${octal}' | nc 127.0.0.11 53 | od -An -tu1 -v | tr -s ' \\n' ' '; echo`;
};
/** The last four bytes of such a line: an A record's address. */
const lastAddress = (line: string) => line.trim().split(' ').slice(-4).join('.');
const portRange = () => execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/ip_local_port_range'], { encoding: 'utf8' });
let rangeBefore = '';
/** A bundle whose container is in the test's namespace, with Docker's resolv.conf. */
async function dnsBundle(...args: string[]): Promise<string> {
  const bundle = await vm.bundle(...args);
  const resolvConf = join(bundle, 'resolv.conf');
  await writeFile(resolvConf, 'nameserver 127.0.0.11\noptions ndots:0\n');
  await editConfig(bundle, (spec) => {
    spec.linux!.namespaces = [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'network', path: `/var/run/netns/${ns}` }];
    spec.mounts = [...(spec.mounts ?? []), { destination: '/etc/resolv.conf', type: 'bind', source: resolvConf, options: ['rbind', 'ro'] }];
  });
  return bundle;
}

describe("Docker's embedded DNS", () => {
  test("127.0.0.11 answers in the guest as the namespace's resolver does, over UDP and TCP, for its own names and forwarded ones", async () => {
    ip('netns', 'add', ns);
    cleanups.push(() => ip('netns', 'del', ns));
    const veth = `vns${process.pid}`.slice(0, 15);
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    cleanups.push(() => ip('link', 'del', veth));
    ip('addr', 'add', `${net}.1/24`, 'dev', veth);
    ip('link', 'set', veth, 'up');
    ip('-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', `${net}.1`);
    rangeBefore = portRange();
    // Outside: the upstream server, for the external name.
    const upstream = await startResponder([`${net}.1`, '53', 'ext.test=10.9.8.7']);
    cleanups.push(() => upstream.child.kill());
    // Inside: the namespace's resolver, which forwards what it does not hold.
    const resolver = await startResponder(['127.0.0.11', '53', 'web=10.1.2.3', `${net}.1`], ['ip', 'netns', 'exec', ns]);
    cleanups.push(() => resolver.child.kill());

    const bundle = await dnsBundle('sh', '-c', [
      'nslookup web', 'nslookup ext.test', 'nslookup nowhere.test; echo "status $?"',
      tcpLookup('web'), tcpLookup('ext.test'),
    ].join('\n'));
    const r = await vm.vmrun(['run', '--bundle', bundle, 'd1']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    // busybox nslookup: its A (and AAAA) queries over UDP.
    expect(r.stdout).toMatch(/Name:\s+web\nAddress:\s+10\.1\.2\.3$/m);
    expect(r.stdout).toMatch(/Name:\s+ext\.test\nAddress:\s+10\.9\.8\.7$/m);
    expect(r.stdout).toMatch(/NXDOMAIN/);
    expect(r.stdout).toMatch(/^status 1$/m);
    // Over TCP, the answers' last four bytes: the A records.
    expect(lastAddress(lines.at(-2)!)).toBe('10.1.2.3');
    expect(lastAddress(lines.at(-1)!)).toBe('10.9.8.7');
    // The namespace is as it was: no filters, its port range back.
    expect(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).not.toContain('ingress');
    expect(portRange()).toBe(rangeBefore);
  });

  test('a delete after kill -9 of the monitor puts the namespace back as it was too', async () => {
    const bundle = await dnsBundle('sleep', '600');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'd2'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'd2'])).exitCode).toBe(0);
    expect(portRange()).not.toBe(rangeBefore);
    const record = JSON.parse(await readFile(join(vm.root, 'd2', 'state.json'), 'utf8')) as { monitor: { pid: number } };
    process.kill(record.monitor.pid, 'SIGKILL');
    expect((await vm.vmrun(['delete', '--force', 'd2'])).exitCode).toBe(0);
    expect(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).not.toContain('ingress');
    expect(portRange()).toBe(rangeBefore);
  });
});

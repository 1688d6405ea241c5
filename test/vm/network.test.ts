// The container's network namespace carried into its VM: a veth made by a tool between create
// and start, or by a prestart hook as Docker's is, becomes the guest's eth0 with the same MAC,
// address and routes; traffic flows both ways; nothing of vmrun's is left in the namespace.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const subnet = `10.213.${process.pid % 200}`;
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.splice(0).reverse().forEach((c) => { try { c(); } catch { /* already gone */ } }));

/** An HTTP server on the host side of the veth, answering one line. */
async function hostServer(address: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end('from the host\n'));
  server.listen(0, address);
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return { server, port: (server.address() as AddressInfo).port };
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject).on('timeout', function (this: { destroy(): void }) { this.destroy(); });
  });
}

/** The container prints its network, fetches from the host, then serves a page. */
function containerScript(hostAddress: string, port: number): string {
  return [
    'ip -o addr | grep "inet "; ip -o link show eth0; ip route',
    `wget -q -O - http://${hostAddress}:${port}/`,
    'mkdir -p /tmp/www && echo "from the container" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
  ].join('\n');
}

describe('network', () => {
  test('a named namespace, wired by a tool between create and start, has its two interfaces in the guest', async () => {
    const ns = `vmrun-t${process.pid}`;
    const veth = `vh${process.pid}`;
    ip('netns', 'add', ns);
    cleanups.push(() => ip('netns', 'del', ns));
    const { port } = await (async () => {
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('addr', 'add', `${subnet}.1/24`, 'dev', veth);
      ip('link', 'set', veth, 'up');
      return hostServer(`${subnet}.1`);
    })();
    const bundle = await vm.bundle('sh', '-c', containerScript(`${subnet}.1`, port));
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'network', path: `/var/run/netns/${ns}` }];
    });
    const run = vm.spawn(['create', '--bundle', bundle, 'n1'], { buffer: false, stdin: 'ignore', stdout: 'pipe' });
    let out = '';
    run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(async () => (await vm.vmrun(['state', 'n1'])).stdout.includes('"created"'));
    // The tool's part, after create: the namespace's side gets its address and route now.
    ip('-n', ns, 'addr', 'add', `${subnet}.2/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', `${subnet}.1`);
    // A second interface, on a network of its own.
    const second = `10.216.${process.pid % 200}`;
    ip('link', 'add', `${veth}b`, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns);
    ip('addr', 'add', `${second}.1/24`, 'dev', `${veth}b`);
    ip('link', 'set', `${veth}b`, 'up');
    ip('-n', ns, 'addr', 'add', `${second}.2/24`, 'dev', 'eth1');
    ip('-n', ns, 'link', 'set', 'eth1', 'up');
    const mac = /link\/ether (\S+)/.exec(ip('-n', ns, 'link', 'show', 'eth0'))![1];
    expect((await vm.vmrun(['start', 'n1'])).exitCode).toBe(0);

    let page = '';
    await until(async () => (page = await fetchText(`http://${subnet}.2:8080/`).catch(() => '')) !== '', 60_000);
    expect(page).toBe('from the container\n');
    expect(await fetchText(`http://${second}.2:8080/`)).toBe('from the container\n');
    expect(out).toMatch(new RegExp(`eth0 +inet ${subnet.replaceAll('.', '\\.')}\\.2/24`));
    expect(out).toMatch(new RegExp(`eth1 +inet ${second.replaceAll('.', '\\.')}\\.2/24`));
    expect(out).toContain(`link/ether ${mac}`);
    expect(out).toMatch(new RegExp(`^default via ${subnet.replaceAll('.', '\\.')}\\.1 dev eth0`, 'm'));
    expect(out).toContain('from the host');

    expect((await vm.vmrun(['delete', '--force', 'n1'])).exitCode).toBe(0);
    // The namespace outlives the container, without vmrun's tap and filters.
    expect(ip('-n', ns, '-o', 'link').split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0])).toEqual(['lo', 'eth0', 'eth1']);
    for (const dev of ['eth0', 'eth1']) {
      expect(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' })).not.toContain('ingress');
    }
  });

  test('after kill -9 of the monitor, delete still takes the redirects off a named namespace', async () => {
    const ns = `vmrun-k${process.pid}`;
    ip('netns', 'add', ns);
    cleanups.push(() => ip('netns', 'del', ns));
    ip('link', 'add', `vk${process.pid}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    const bundle = await vm.bundle('sleep', '100');
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'network', path: `/var/run/netns/${ns}` }];
    });
    expect((await vm.vmrun(['create', '--bundle', bundle, 'n6'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'n6'])).exitCode).toBe(0);
    const qdiscs = () => execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
    expect(qdiscs()).toContain('ingress');
    process.kill(JSON.parse(await readFile(join(vm.root, 'n6', 'state.json'), 'utf8')).monitor.pid, 'SIGKILL');
    await until(async () => (await vm.state('n6')).status === 'stopped');
    expect((await vm.vmrun(['delete', 'n6'])).exitCode).toBe(0);
    expect(qdiscs()).not.toContain('ingress');
    expect(ip('-n', ns, '-o', 'link')).not.toMatch(/: vm[0-9a-f]/);
  });

  test("Docker's pattern: a new namespace, wired by a prestart hook through /proc/<pid>/ns/net", async () => {
    const veth = `vd${process.pid}`;
    const subnet2 = `10.214.${process.pid % 200}`;
    // Bound to every address: the veth it answers on comes later, from the hook.
    const { port } = await hostServer('0.0.0.0');
    const bundle = await vm.bundle('sh', '-c', containerScript(`${subnet2}.1`, port));
    const hook = join(bundle, 'wire.sh');
    await writeFile(hook, [
      '#!/bin/sh -e',
      'pid=$(grep -o \'"pid":[0-9]*\' | cut -d: -f2)',
      `ip link add ${veth} type veth peer name eth0 netns "$pid"`,
      `ip addr add ${subnet2}.1/24 dev ${veth}; ip link set ${veth} up`,
      `nsenter --net=/proc/$pid/ns/net sh -c 'ip addr add ${subnet2}.2/24 dev eth0 && ip link set eth0 up && ip route add default via ${subnet2}.1'`,
      '',
    ].join('\n'));
    await chmod(hook, 0o755);
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'network' }];
      spec.hooks = { prestart: [{ path: hook, env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] }] };
    });
    const run = vm.spawn(['run', '--bundle', bundle, 'n2'], { buffer: false, stdin: 'ignore', stdout: 'pipe' });
    let out = '';
    run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(async () => (await vm.vmrun(['state', 'n2'])).stdout.includes('"running"'));
    const { pid } = await vm.state('n2');
    expect(execFileSync('readlink', [`/proc/${pid}/ns/net`], { encoding: 'utf8' })).not.toBe(execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }));

    let page = '';
    await until(async () => (page = await fetchText(`http://${subnet2}.2:8080/`).catch(() => '')) !== '', 60_000);
    expect(page).toBe('from the container\n');
    expect(out).toContain('from the host');
    expect((await vm.vmrun(['kill', 'n2', 'KILL'])).exitCode).toBe(0);
    await run;
    // The namespace went with the container, and the veth with it.
    expect(() => ip('link', 'show', veth)).toThrow();
  });

  test("a CNI bridge plugin's ADD on the namespace path is what the guest gets", async () => {
    const ns = `vmrun-cni${process.pid}`;
    const bridge = `vmrb${process.pid}`.slice(0, 15);
    const subnet3 = `10.215.${process.pid % 200}`;
    ip('netns', 'add', ns);
    cleanups.push(() => ip('netns', 'del', ns));
    cleanups.push(() => ip('link', 'del', bridge));
    const conf = JSON.stringify({
      cniVersion: '1.0.0', name: 'vmrun-test', type: 'bridge', bridge, isGateway: true, ipMasq: false,
      ipam: { type: 'host-local', subnet: `${subnet3}.0/24`, routes: [{ dst: '0.0.0.0/0' }], dataDir: join(vm.root, 'cni-ipam') },
    });
    const cni = (command: string) => execFileSync('/usr/lib/cni/bridge', [], {
      input: conf, encoding: 'utf8',
      env: { CNI_COMMAND: command, CNI_CONTAINERID: 'n4', CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
    const result = JSON.parse(cni('ADD')) as { ips: { address: string; gateway: string }[] };
    cleanups.push(() => cni('DEL'));
    const [{ address, gateway }] = result.ips as [{ address: string; gateway: string }];
    const { port } = await hostServer(gateway);

    const bundle = await vm.bundle('sh', '-c', containerScript(gateway, port));
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = [...spec.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'network', path: `/var/run/netns/${ns}` }];
    });
    const run = vm.spawn(['run', '--bundle', bundle, 'n4'], { buffer: false, stdin: 'ignore', stdout: 'pipe' });
    let out = '';
    run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const containerIp = address.split('/')[0]!;
    let page = '';
    await until(async () => (page = await fetchText(`http://${containerIp}:8080/`).catch(() => '')) !== '', 90_000);
    expect(page).toBe('from the container\n');
    expect(out).toContain(`inet ${address}`);
    expect(out).toMatch(new RegExp(`^default via ${gateway.replaceAll('.', '\\.')} dev eth0`, 'm'));
    expect(out).toContain('from the host');
    expect((await vm.vmrun(['kill', 'n4', 'KILL'])).exitCode).toBe(0);
    await run;
  });

  test('without a network namespace, the vmrun.network=user annotation gives an outbound user-mode network (passt)', async () => {
    const [route] = JSON.parse(ip('-j', 'route', 'show', 'default')) as [{ gateway: string; dev: string }];
    const [link] = JSON.parse(ip('-j', '-4', 'addr', 'show', 'dev', route.dev)) as [{ addr_info: { local: string; prefixlen: number }[] }];
    const hostAddress = `${link.addr_info[0]!.local}/${link.addr_info[0]!.prefixlen}`;
    const { port } = await hostServer('0.0.0.0');
    const bundle = await vm.bundle('sh', '-c', [
      'ip -o addr show eth0 | grep "inet "; ip route',
      // The gateway's address is the host itself, through passt.
      `wget -q -O - http://${route.gateway}:${port}/`,
    ].join('\n'));
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
      spec.annotations = { 'vmrun.network': 'user' };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'n5']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`inet ${hostAddress}`);
    expect(r.stdout).toMatch(new RegExp(`^default via ${route.gateway.replaceAll('.', '\\.')} dev eth0`, 'm'));
    expect(r.stdout.split('\n').at(-1)).toBe('from the host');
  });

  test("vmrun's own network namespace, named by a path (Docker's --network host), is never carried in: the host's filters stay, the guest gets passt", async () => {
    const [route] = JSON.parse(ip('-j', 'route', 'show', 'default')) as [{ gateway: string; dev: string }];
    const filters = () => (JSON.parse(ip('-j', 'link', 'show')) as { ifname: string }[])
      .map((l) => ['qdisc', 'filter'].map((what) => `${l.ifname} ${what}: ${execFileSync('tc', [what, 'show', 'dev', l.ifname, ...(what === 'filter' ? ['ingress'] : [])], { encoding: 'utf8' })}`).join('')).join('\n');
    const before = filters();
    const { port } = await hostServer('0.0.0.0');
    const bundle = await vm.bundle('sh', '-c', `wget -q -O - http://${route.gateway}:${port}/; sleep 1000`);
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${process.pid}/ns/net` } : n));
    });
    const run = vm.spawn(['run', '--bundle', bundle, 'n8'], { stdin: 'ignore', buffer: false });
    const output = new Promise<string>((resolve) => run.stdout!.once('data', (d: Buffer) => resolve(String(d).trim())));
    run.stderr?.resume();
    expect(await output).toBe('from the host');
    expect(filters()).toBe(before);
    // The host stays online: it reaches a listener on its own address while the container runs.
    const [link] = JSON.parse(ip('-j', 'addr', 'show', 'dev', route.dev)) as [{ addr_info: { family: string; local: string }[] }];
    const own = link.addr_info.find((a) => a.family === 'inet')!.local;
    expect((await (await fetch(`http://${own}:${port}/`)).text()).trim()).toBe('from the host');
    expect((await vm.vmrun(['kill', 'n8', 'KILL'])).exitCode).toBe(0);
    expect((await run).exitCode).toBe(137);
  });

  test('without a network namespace in config.json the guest has its loopback only, up', async () => {
    const bundle = await vm.bundle('sh', '-c', 'ip -o link | cut -d: -f2,3');
    await editConfig(bundle, (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'n3']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^ lo: <LOOPBACK,UP,LOWER_UP>/);
  });
});


// The container's network namespace, seen from the monitor, which runs in it: its interfaces and
// routes (iproute2's JSON output), and the traffic control filters that join an interface and
// the VM's tap both ways, as Kata's tcfilter mode does. What reaches the namespace's interface
// goes to the guest, and what the guest sends leaves through that interface, so the guest can
// carry the interface's own MAC and addresses.
import type { GuestInterface, GuestRoute } from '../generated/agent-protocol.js';
import { readFile, writeFile } from 'node:fs/promises';
import { VmrunError } from '../errors.js';
import { command } from './command.js';


interface IpLink {
  ifname: string;
  link_type?: string;
  address?: string;
  mtu?: number;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
}

export interface NamespaceNetwork {
  interfaces: GuestInterface[];
  routes: GuestRoute[];
}

/** The namespace's Ethernet interfaces but vmrun's taps, with their global addresses, and their routes. */
export function parseNetwork(links: IpLink[], routes: IpRoute[], tapPrefix: string): NamespaceNetwork {
  const interfaces: GuestInterface[] = links
    .filter((l) => l.link_type === 'ether' && !(tapPrefix && l.ifname.startsWith(tapPrefix)) && l.address)
    .map((l) => ({
      name: l.ifname,
      mac: l.address!,
      mtu: l.mtu ?? 1500,
      addresses: (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
    }));
  const names = new Set(interfaces.map((i) => i.name));
  const guestRoutes: GuestRoute[] = routes
    // The routes the kernel makes for each address, it makes in the guest too.
    .filter((r) => r.dev && names.has(r.dev) && r.protocol !== 'kernel')
    .map((r) => ({ destination: r.dst, interface: r.dev!, ...(r.gateway ? { gateway: r.gateway } : {}) }));
  return { interfaces, routes: guestRoutes };
}

export async function namespaceNetwork(tapPrefix: string): Promise<NamespaceNetwork> {
  const json = async (args: string[]) => JSON.parse((await command('ip', ['-j', ...args])).stdout || '[]') as unknown;
  return parseNetwork((await json(['addr', 'show'])) as IpLink[], (await json(['route', 'show'])) as IpRoute[], tapPrefix);
}

/** Redirects everything that arrives on `a` out of `b`, and back. */
export async function joinInterfaces(a: string, b: string): Promise<void> {
  for (const [from, to] of [[a, b], [b, a]] as const) {
    await command('tc', ['qdisc', 'add', 'dev', from, 'ingress']).catch((e: Error) => {
      throw new VmrunError('InvalidState', `network interface ${from} is carried into another VM already (containers that share a network namespace cannot share its interfaces): ${e.message.split('\n')[0]}`);
    });
    await command('tc', ['filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0',
      'action', 'mirred', 'egress', 'redirect', 'dev', to]);
  }
}

/**
 * The namespace's own ephemeral ports while its container relays Docker's embedded DNS: above
 * the guest's (Linux's default range ends at 60999), and one u32 mask wide (0xf000).
 */
export const OWN_PORTS = { first: 61440, last: 65535, mask: 0xf000 } as const;

/**
 * The filters, ahead of the redirect of `itf` to `tap`, that keep for the namespace's own stack
 * what answers its own DNS queries: dockerd forwards a query for an external name from inside
 * the namespace, from a port of OWN_PORTS, so a segment from port 53 to such a port (not a later
 * fragment), or an ICMP error quoting such a query, is its. ARP goes to both (the namespace must
 * learn its gateway's address), and so do later IPv4 fragments, which carry no ports (the stack
 * without the first fragment drops them). The rest goes to the guest alone, as before.
 * u32 and mirred only: the kernels vmrun runs on may lack flower, matchall and act_ct.
 */
export function ownReplyFilters(itf: string, tap: string): string[][] {
  const filter = (prio: number, protocol: string, ...rest: string[]) => ['filter', 'add', 'dev', itf, 'parent', 'ffff:', 'prio', String(prio), 'protocol', protocol, 'u32', ...rest];
  const ports = `0x${OWN_PORTS.mask.toString(16)}`;
  // An IPv4 header without options, and not a later fragment: ports at 20 and 22.
  const firstPart = ['match', 'u8', '0x45', '0xff', 'at', '0', 'match', 'u16', '0', '0x1fff', 'at', '6'];
  const fromDns = ['match', 'u16', '53', '0xffff', 'at', '20', 'match', 'u16', ports, ports, 'at', '22'];
  const keep = ['flowid', 'ffff:1']; // terminal, no action: the stack takes it
  return [
    filter(1, 'ip', ...firstPart, 'match', 'u8', '17', '0xff', 'at', '9', ...fromDns, ...keep),
    filter(2, 'ip', ...firstPart, 'match', 'u8', '6', '0xff', 'at', '9', ...fromDns, ...keep),
    // Destination unreachable (type 3) quoting a header without options from such a port to 53.
    filter(3, 'ip', ...firstPart, 'match', 'u8', '1', '0xff', 'at', '9', 'match', 'u8', '3', '0xff', 'at', '20',
      'match', 'u8', '0x45', '0xff', 'at', '28', 'match', 'u16', ports, ports, 'at', '48', 'match', 'u16', '53', '0xffff', 'at', '50', ...keep),
    filter(4, 'arp', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'mirror', 'dev', tap),
    filter(5, 'ip', 'match', 'u16', '0', '0x1fff', 'at', '6', 'action', 'mirred', 'egress', 'redirect', 'dev', tap),
    filter(6, 'ip', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'mirror', 'dev', tap),
  ];
}

const PORT_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';

/** Gives the namespace's own sockets OWN_PORTS; resolves to the range before, "FIRST LAST". */
export async function useOwnPorts(): Promise<string> {
  const before = (await readFile(PORT_RANGE, 'utf8')).trim().replace(/\s+/, ' ');
  await writeFile(PORT_RANGE, `${OWN_PORTS.first} ${OWN_PORTS.last}`);
  return before;
}

/** Puts back the port range of this process's namespace. */
export const restorePorts = (range: string) => writeFile(PORT_RANGE, range);

/** Keeps the DNS replies to the namespace's own queries on `itf`, joined to `tap` already, for its stack. */
export async function keepOwnReplies(itf: string, tap: string): Promise<void> {
  for (const args of ownReplyFilters(itf, tap)) await command('tc', args);
}

/** Takes the redirect off an interface of the namespace, which outlives the container. */
export async function separateInterface(name: string): Promise<void> {
  // An interface that has gone, or has no redirect, has nothing to take off.
  await command('tc', ['qdisc', 'del', 'dev', name, 'ingress']).catch(() => undefined);
}

/** The same from outside the namespace, for a delete after the monitor died, and its port range. */
export async function separateInterfacesIn(namespace: string, names: string[], portRange?: string): Promise<void> {
  for (const name of names) {
    await command('nsenter', [`--net=${namespace}`, 'tc', 'qdisc', 'del', 'dev', name, 'ingress']).catch(() => undefined);
  }
  if (portRange && /^\d+ \d+$/.test(portRange)) {
    await command('nsenter', [`--net=${namespace}`, 'sysctl', '-q', '-w', `net.ipv4.ip_local_port_range=${portRange}`]).catch(() => undefined);
  }
}

/** passt gives the guest a copy of the host's own address and default route: the guest's side of it. */
export const PASST_MTU = 65520;

/**
 * The guest's side of a user-mode network: passt hands the guest the address and gateway of
 * the host's interface that has the default route, and carries the guest's connections out
 * through the host's sockets (to the gateway's address: the host itself).
 */
export async function userNetwork(mac: string): Promise<NamespaceNetwork> {
  const host = await namespaceNetwork('');
  const gateway = host.routes.find((r) => r.destination === 'default' && r.gateway);
  const uplink = host.interfaces.find((i) => i.name === gateway?.interface);
  if (!gateway || !uplink) throw new VmrunError('InvalidState', 'the user-mode network copies the host\'s default route, and the host has none');
  return {
    interfaces: [{ name: 'eth0', mac, mtu: PASST_MTU, addresses: uplink.addresses.filter((a) => !a.includes(':')) }],
    routes: [{ destination: 'default', gateway: gateway.gateway!, interface: 'eth0' }],
  };
}

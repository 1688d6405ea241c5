// The container's network namespace, seen from the monitor, which runs in it: its interfaces and
// routes (iproute2's JSON output), and the traffic control filters that join an interface and
// the VM's tap both ways, as Kata's tcfilter mode does. What reaches the namespace's interface
// goes to the guest, and what the guest sends leaves through that interface, so the guest can
// carry the interface's own MAC and addresses.
import type { GuestInterface, GuestRoute } from '../generated/agent-protocol.js';
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

/** Takes the redirect off an interface of the namespace, which outlives the container. */
export async function separateInterface(name: string): Promise<void> {
  // An interface that has gone, or has no redirect, has nothing to take off.
  await command('tc', ['qdisc', 'del', 'dev', name, 'ingress']).catch(() => undefined);
}

/** The same from outside the namespace, for a delete after the monitor died. */
export async function separateInterfacesIn(namespace: string, names: string[]): Promise<void> {
  for (const name of names) {
    await command('nsenter', [`--net=${namespace}`, 'tc', 'qdisc', 'del', 'dev', name, 'ingress']).catch(() => undefined);
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

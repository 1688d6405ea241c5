// The container's network interfaces in the guest, made as they are in its namespace on the
// host (names, MTUs, addresses, routes; the MACs are the cards' own). One busybox shell does it all: every process
// start costs 0.1 s under TCG. The values are safe to put in the script: the protocol's schema
// allows only names, MACs and addresses in them.
import { execFile } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { GuestInterface, GuestRoute } from '../src/generated/agent-protocol.js';

const run = promisify(execFile);

export function networkScript(interfaces: GuestInterface[], routes: GuestRoute[]): string {
  const lines = [
    'set -e',
    // The virtio-net driver, loaded only for containers that have interfaces.
    'for m in $(cat /lib/modules/network); do insmod /lib/modules/$m.ko 2>/dev/null || grep -q "^$m " /proc/modules; done',
  ];
  // Each NIC is found by its MAC (the host plugged it in with the interface's), once the guest's
  // kernel has taken the hotplug event; all get a temporary name first, as two may swap names.
  interfaces.forEach((itf, i) => {
    lines.push(
      `n=0; until dev=$(grep -l '^${itf.mac}$' /sys/class/net/*/address | cut -d/ -f5 | head -1) && [ -n "$dev" ]; do`,
      `  n=$((n+1)); [ $n -le 500 ] || { echo "no card with MAC ${itf.mac}" >&2; exit 1; }; usleep 10000`,
      'done',
      `ip link set dev "$dev" down`,
      `ip link set dev "$dev" name vmrun-nic${i}`,
    );
  });
  interfaces.forEach((itf, i) => {
    lines.push(
      `ip link set dev vmrun-nic${i} name ${itf.name} mtu ${itf.mtu}`,
      `ip link set dev ${itf.name} up`,
      ...itf.addresses.map((a) => `ip addr add ${a} dev ${itf.name}`),
    );
  });
  for (const r of routes) lines.push(`ip route add ${r.destination}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.interface}`);
  return lines.join('\n');
}

/** Takes interfaces out of the guest: their PCI devices removed, as an engine deletes them from a namespace. */
export function unplugInterfaces(names: string[]): void {
  for (const name of names) {
    try {
      // The card's device is its virtio device, whose parent is the PCI function to remove.
      writeFileSync(`${dirname(realpathSync(`/sys/class/net/${name}/device`))}/remove`, '1');
    } catch (e) {
      throw new Error(`network: unplug ${name}: ${(e as Error).message}`);
    }
  }
}

export async function configureNetwork(interfaces: GuestInterface[], routes: GuestRoute[]): Promise<void> {
  try {
    await run('/bin/busybox', ['sh', '-c', networkScript(interfaces, routes)]);
  } catch (e) {
    throw new Error(`network: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
  }
}

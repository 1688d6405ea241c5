// The VM's network: the interfaces of the container's network namespace, carried into the guest
// at start (each joined to a tap whose card the guest gets, with its MAC, addresses and routes),
// or a user-mode card through passt; Docker's embedded DNS relayed when the container uses it;
// and, when the container stops while pod members stay, its interfaces given back.
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AgentChannel } from '../agent/channel.js';
import type { Cleanups } from '../cleanups.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { Spec } from '../generated/config.js';
import { joinInterfaces, keepOwnReplies, namespaceNetwork, restorePorts, separateInterface, useOwnPorts, userNetwork } from '../host/network.js';
import { sameNamespace } from '../host/namespaces.js';
import type { Logger } from '../log.js';
import { networkMode } from '../oci/network-mode.js';
import { tapInterfaceXml, type Nic } from '../vm/domain-xml.js';
import type { VmLayout } from '../vm/layout.js';
import { DnsRelay } from './dns-relay.js';

/**
 * The VM's network cards. Tap names are unique in the namespace, which other containers may
 * share, and at most 15 bytes (the prefix and a number); a user-mode card has a MAC of its own.
 */
export function nicOf(spec: Spec, layout: VmLayout, runtimeNetns: string, log: Logger): Nic | undefined {
  const hash = basename(layout.dir);
  let mode = networkMode(spec);
  // vmrun's own network namespace (Docker's --network host names it by a path of its own) is
  // never carried into a guest, which would take the host's interfaces off it.
  if (mode === 'namespace' && sameNamespace('/proc/self/ns/net', runtimeNetns)) {
    log.info("the container's network namespace is vmrun's own: it gets an outbound user-mode network instead of its interfaces");
    mode = 'user';
  }
  switch (mode) {
    case 'namespace': return { kind: 'tap', tapPrefix: `vm${hash.slice(0, 10)}` };
    case 'user': return { kind: 'user', mac: `52:54:00:${hash.slice(0, 6).match(/../g)!.join(':')}`, socket: join(layout.dir, 'passt', 'passt.sock') };
    case 'none': return undefined;
  }
}

/** What the network needs of its monitor. */
export interface NetworkHost {
  channel(): AgentChannel;
  attachDevice(xmlFile: string): Promise<void>;
  cleanups: Cleanups;
  /** Records what start changed in a named namespace, for a delete after a crash. */
  record(carried: NonNullable<ContainerRecord['carried']>): Promise<void>;
  log: Logger;
}

export class GuestNetwork {
  /** The namespace interfaces joined to the VM's taps at start. */
  private carried?: string[];
  /** The namespace's port range before start changed it (for Docker's embedded DNS). */
  private portRangeBefore?: string;
  /** The relay of the guest's DNS queries, from start on. */
  dnsRelay?: DnsRelay;

  constructor(
    /** The VM's network card, if it has one. */
    private readonly nic: Nic | undefined,
    private readonly vmDir: string,
    /** The named network namespace the monitor lives in, if config.json names one. */
    private readonly netnsPath: string | undefined,
    /**
     * Whether the container's resolv.conf names Docker's embedded DNS, which the guest then relays
     * to the namespace's: asked at start, as Docker's prestart hook rewrites the file.
     */
    private readonly usesEmbeddedDns: () => Promise<boolean>,
    private readonly host: NetworkHost,
  ) {}

  /**
   * The namespace's interfaces, as they are now (a hook or a tool may have made them after
   * create), each joined to a tap of its own, the VM's card on it plugged in with the
   * interface's MAC, and the guest's NICs given their names, MTUs, addresses and routes.
   */
  async carry(): Promise<void> {
    if (!this.nic || this.carried) return;
    this.carried = [];
    if (this.nic.kind === 'user') {
      const { interfaces, routes } = await userNetwork(this.nic.mac);
      await this.host.channel().request({ op: 'network', interfaces, routes });
      return;
    }
    const { interfaces, routes } = await namespaceNetwork(this.nic.tapPrefix);
    const embeddedDns = await this.usesEmbeddedDns();
    if (interfaces.length === 0 && !embeddedDns) return;
    const keepReplies = embeddedDns && await this.ownPorts();
    for (const [i, itf] of interfaces.entries()) {
      const tap = `${this.nic.tapPrefix}${i}`;
      const file = join(this.vmDir, `nic${i}.xml`);
      await writeFile(file, tapInterfaceXml(tap, itf.mac));
      await this.host.attachDevice(file); // libvirt makes the tap as it plugs the card in
      await joinInterfaces(itf.name, tap);
      this.carried.push(itf.name);
      this.host.cleanups.push(`the redirects of ${itf.name}`, () => separateInterface(itf.name));
      // A named namespace outlives the container: a delete after a crash takes the redirects off.
      await this.recordCarried();
      if (keepReplies) {
        await keepOwnReplies(itf.name, tap).catch((e: Error) => this.host.log.warn(`external names may not resolve: the replies to the namespace's own DNS queries on ${itf.name} are not kept for it: ${e.message}`));
      }
    }
    if (embeddedDns) this.dnsRelay = new DnsRelay();
    await this.host.channel().request({ op: 'network', interfaces, routes, ...(embeddedDns && { embeddedDns: true }) });
  }

  /** The carried interfaces given back to the namespace, their cards gone from the guest. */
  async release(): Promise<void> {
    const carried = this.carried ?? [];
    if (carried.length === 0) return;
    await this.host.channel().request({ op: 'network', interfaces: [], routes: [], unplug: carried }).catch((e: Error) => this.host.log.warn(e.message));
    for (const name of carried) await separateInterface(name);
  }

  /**
   * The namespace's own sockets (dockerd's, forwarding the guest's queries for external names)
   * get ports of their own, whose replies the filters keep for them; false if that fails.
   */
  private async ownPorts(): Promise<boolean> {
    try {
      const before = await useOwnPorts();
      this.portRangeBefore = before;
      this.host.cleanups.push("the namespace's port range", () => restorePorts(before));
      await this.recordCarried();
      return true;
    } catch (e) {
      this.host.log.warn(`external names may not resolve: the namespace's own port range is not set: ${(e as Error).message}`);
      return false;
    }
  }

  /** A named namespace outlives the container: a delete after a crash puts back what start changed. */
  private async recordCarried(): Promise<void> {
    if (!this.netnsPath) return;
    await this.host.record({ namespace: this.netnsPath, interfaces: [...(this.carried ?? [])], ...(this.portRangeBefore && { portRange: this.portRangeBefore }) });
  }
}

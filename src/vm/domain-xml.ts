// The domain XML of a container's VM: a pure function of the validated spec and the runtime's
// choices. Every value that comes from config.json or a path passes through xml.ts.
import type { Spec } from '../generated/config.js';
import { AGENT_PORT } from '../agent/channel.js';
import type { Accel } from '../host/accel.js';
import { join } from 'node:path';
import { DOMAIN_NAME, type VmLayout } from './layout.js';
import type { GuestSize } from './sizing.js';
import { attr, NOT_XML, text } from './xml.js';

/** The virtiofs tag of the rootfs share. */
export const ROOTFS_TAG = 'rootfs';
/** A word of every guest's command line: how a process tells it is in one of vmrun's guests. */
export const GUEST_MARK = 'vmrun.guest';
/**
 * panic=-1 turns a guest panic into a reboot, which on_reboot turns into the VM's end (a panic
 * alone leaves the domain running). The last four each cut boot time under TCG: less console
 * output, no crypto self-tests, one UART probed, and no wait for entropy.
 */
const KERNEL_ARGS = [GUEST_MARK, 'console=ttyS0', 'reboot=t', 'panic=-1', 'quiet', 'cryptomgr.notests', '8250.nr_uarts=1', 'random.trust_cpu=on', 'memhp_default_state=online'];
/**
 * A guest booted on one of several vCPUs keeps the kernel's SMP code: patched to UP code at
 * boot, it would be patched back as the first plugged vCPU comes online (0.3 s under TCG).
 */
const PLUGGED_CPUS_ARG = 'noreplace-smp';
const METADATA_NS = 'https://vmrun.dev/xmlns/container/1';

export interface DomainOptions {
  id: string;
  bundle: string;
  rootfs: string;
  accel: Accel;
  size: Pick<GuestSize, 'memoryMiB' | 'vcpus'>;
  /**
   * The most memory the guest may grow to with memory plugged in while it runs (a DIMM): the
   * restore image's guest, and one restored from it, may grow to the host's memory.
   */
  growsToMiB?: number;
  layout: VmLayout;
  kernel: string;
  initrd: string;
  /** node's disk (src/guest/node-image.ts), mapped read-only through a virtio-pmem device. */
  node: NodeDisk;
  emulator: string;
  virtiofsd: string;
  /** virtiofs tags shared besides the rootfs, each from its folder in the layout's shares. */
  shares?: string[];
  /** The VM's network card, if it has one. */
  nic?: Nic;
  /**
   * The host CPUs QEMU may use: the monitor's own affinity, which libvirt would otherwise
   * widen to every CPU of the host.
   */
  cpuset?: string;
  /** More kernel command line words, for vmrun's own uses of a guest. */
  kernelArgs?: string[];
  /**
   * The domain of vmrun's restore image (src/guest/restore-image.ts), or one restored from it:
   * the image's fixed uuid, and no virtiofs device (libvirt cannot save a domain with one; the
   * monitor plugs the shares in after the restore).
   */
  restorable?: boolean;
  /**
   * How many vCPUs are online from the start: one by default (the monitor plugs the others in
   * after the boot); all of them in the restore image's guest, and in a VM restored from it.
   */
  vcpusOnline?: number;
}

/** The uuid of every domain restored from vmrun's image: libvirt restores only into the uuid saved. */
export const RESTORABLE_UUID = '0d5c3a6e-7f1b-4c2d-9e8a-766d72756e01';

/**
 * The guest boots on one vCPU, the domain's shape keeping them all (`-smp 1,maxcpus=N`): each
 * vCPU more at boot costs ~1.6 s under TCG. The monitor plugs the rest in once the agent is up
 * (libvirt makes the offline ones hotpluggable).
 */
export function domainXml(spec: Spec, o: DomainOptions): string {
  // Nothing of the container's: a restored guest keeps the command line of the image's boot.
  const cmdline = [...KERNEL_ARGS, ...(o.size.vcpus > 1 ? [PLUGGED_CPUS_ARG] : []), ...(o.kernelArgs ?? [])].join(' ');
  const shares = o.restorable ? [] : [ROOTFS_TAG, ...(o.shares ?? [])];
  const online = Math.min(o.vcpusOnline ?? 1, o.size.vcpus);
  return `<domain type='${o.accel === 'kvm' ? 'kvm' : 'qemu'}'>
  <name>${DOMAIN_NAME}</name>${o.restorable ? `\n  <uuid>${RESTORABLE_UUID}</uuid>` : ''}
  <metadata>
${metadata(spec, o)}
  </metadata>
  <maxMemory slots='${o.growsToMiB ? MEMORY_SLOTS : 1}' unit='KiB'>${Math.max(o.size.memoryMiB, o.growsToMiB ?? 0) * 1024 + Math.ceil(o.node.bytes / 1024)}</maxMemory>
  <memory unit='MiB'>${o.size.memoryMiB}</memory>
  <vcpu${o.cpuset ? ` placement='static' cpuset='${attr(o.cpuset, 'cpuset')}'` : ''}${online < o.size.vcpus ? ` current='${online}'` : ''}>${o.size.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${text(o.kernel, 'kernel')}</kernel>
    <initrd>${text(o.initrd, 'initrd')}</initrd>
    <cmdline>${text(cmdline, 'kernel command line')}</cmdline>
  </os>
  <features>
    <acpi/>${o.accel === 'kvm' ? '' : `\n    <tcg>\n      <tb-cache unit='MiB'>${TCG_CACHE_MIB}</tb-cache>\n    </tcg>`}
  </features>
  <cpu${o.accel === 'kvm' ? " mode='host-passthrough'" : ''}>
    <numa>
      <cell id='0' cpus='0-${o.size.vcpus - 1}' memory='${o.size.memoryMiB}' unit='MiB'/>
    </numa>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <devices>
    <emulator>${text(o.emulator, 'emulator')}</emulator>
${shares.map((tag) => filesystem(o, tag)).join('')}    <serial type='file'>
      <source path='${attr(o.layout.consoleLog, 'console log')}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='${attr(o.layout.agentSocket, 'agent socket')}'/>
      <target type='virtio' name='${AGENT_PORT}'/>
    </channel>
    <controller type='usb' model='none'/>
    <memballoon model='virtio' freePageReporting='on'/>
  </devices>
  <seclabel type='none' model='dac'/>
${qemuArgs(o.node, o.nic)}</domain>
`;
}

/**
 * `tap`: a tap device per interface of the monitor's network namespace, which libvirt makes
 * when the card is plugged in at start, joined to that interface (src/host/network.ts). `user`: passt, which
 * carries the guest's connections out through the host's own sockets, there from boot.
 */
export type Nic = { kind: 'tap'; tapPrefix: string } | { kind: 'user'; mac: string; socket: string };

/**
 * The card for the namespace's interface, plugged in at start, when that interface exists: a
 * card present at boot costs every container 0.3 s of device probing under TCG.
 */
export function tapInterfaceXml(tap: string, mac: string): string {
  return `<interface type='ethernet'>\n  <target dev='${attr(tap, 'tap')}'/>\n  <mac address='${attr(mac, 'mac')}'/>\n  <model type='virtio'/>\n</interface>\n`;
}

/** A value in a QEMU option list, where a comma is written twice. */
const optionValue = (value: string) => value.replace(/,/g, ',,');

/** node's disk: the image, and its size in bytes (whole 2 MiB pages). */
export interface NodeDisk {
  path: string;
  bytes: number;
}

/**
 * QEMU's translation cache under TCG (none under KVM). QEMU's default, 1 GiB touched as code is
 * translated, left a busy guest's host memory no bound but the host cgroup's; a container's VM
 * fills 46-58 MiB idle or after a little work, so 64 MiB costs those nothing (32 MiB held it to
 * 31 MiB, flushing as it fills; docs/performance.md).
 */
const TCG_CACHE_MIB = 64;

/** The guest kernel's memory block: it adds memory plugged in only in whole, aligned blocks. */
export const MEMORY_BLOCK_MIB = 128;

/**
 * How many DIMMs a guest that may grow takes: one at create for a limit above the image's guest,
 * and one per `update` that raises it further. A slot costs only guest address space.
 */
export const MEMORY_SLOTS = 8;

/**
 * Where the first DIMM plugged into a guest goes (MiB, guest-physical). QEMU would place it right
 * after node's disk, where the kernel refuses it as unaligned; so it is 1 GiB-aligned after the
 * disk, in QEMU's memory device region above the RAM (pc: from 4 GiB, or above the RAM that a
 * guest of 3.5 GiB or more has over 4 GiB). Each next one follows the last.
 */
export function firstDimmMiB(ramMiB: number, node: NodeDisk): number {
  const GiB = 1024;
  const aboveFourGiB = ramMiB >= 3584 ? ramMiB - 3 * GiB : 0;
  return roundUp(4 * GiB + aboveFourGiB, GiB) + roundUp(Math.ceil(node.bytes / (1024 * 1024)), GiB);
}

/**
 * Memory plugged into a running guest: a DIMM of `mib`, whole blocks, in memory slot `slot` at
 * `baseMiB`, which the guest kernel onlines as it arrives (`memhp_default_state=online`).
 */
export function addedMemoryXml(mib: number, baseMiB: number, slot: number): string {
  if (mib % MEMORY_BLOCK_MIB !== 0) throw new Error(`added memory: ${mib} MiB is not whole ${MEMORY_BLOCK_MIB} MiB blocks`);
  if (baseMiB % MEMORY_BLOCK_MIB !== 0) throw new Error(`added memory: ${baseMiB} MiB is not a block's address`);
  return `<memory model='dimm'>
  <target>
    <size unit='MiB'>${mib}</size>
    <node>0</node>
  </target>
  <address type='dimm' slot='${slot}' base='0x${(BigInt(baseMiB) * 1024n * 1024n).toString(16)}'/>
</memory>
`;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The guest's RAM block: libvirt's memory backend of the domain's one NUMA cell. */
export const GUEST_RAM_BLOCK = 'ram-node0';
/** The QEMU memory backend of node's disk; QEMU does not migrate it, so no save image holds it. */
const NODE_DISK_BLOCK = 'vmrun-node';

/**
 * What libvirt 9.0 cannot describe, as QEMU's own arguments: node's virtio-pmem disk (libvirt:
 * "not handled yet"), and passt's NIC (src/host/passt.ts). Both in the last slots: libvirt
 * places its own devices from the first free one.
 */
function qemuArgs(node: NodeDisk, nic: Nic | undefined): string {
  const args = [
    // A private, read-only mapping of the file: the guest reads the host's page cache, shared
    // by every VM, and can write nothing back to it.
    '-object', `memory-backend-file,id=${NODE_DISK_BLOCK},mem-path=${optionValue(node.path)},size=${node.bytes},share=off,readonly=on`,
    '-device', `virtio-pmem-pci,memdev=${NODE_DISK_BLOCK},id=vmrun-node-disk,bus=pci.0,addr=0x1c`,
  ];
  if (nic?.kind === 'user') {
    args.push(
      '-netdev', `stream,id=vmrunnet,server=off,addr.type=unix,addr.path=${optionValue(nic.socket)}`,
      '-device', `virtio-net-pci,netdev=vmrunnet,mac=${nic.mac},bus=pci.0,addr=0x1f`,
    );
  }
  return `  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n${args.map((a) => `    <qemu:arg value='${attr(a, 'QEMU argument')}'/>\n`).join('')}  </qemu:commandline>\n`;
}

function filesystem(o: DomainOptions, tag: string): string {
  return `    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      <binary path='${attr(o.virtiofsd, 'virtiofsd')}'/>
      <source dir='${attr(sharePath(o.layout, tag), `${tag} share`)}'/>
      <target dir='${attr(tag, 'share tag')}'/>
    </filesystem>
`;
}

/**
 * The share's link in the VM directory, with a trailing slash: virtiofsd refuses a source that
 * lstat(2) calls a link, and the slash makes lstat follow it.
 */
export const sharePath = (layout: VmLayout, tag: string) => `${join(layout.shares, tag)}/`;

/** Who the VM belongs to, for anyone reading `virsh dumpxml`; libvirt keeps it and ignores it. */
function metadata(spec: Spec, o: DomainOptions): string {
  const lines = [
    `    <vmrun:container xmlns:vmrun='${METADATA_NS}'>`,
    `      <vmrun:id>${text(o.id, 'container id')}</vmrun:id>`,
    `      <vmrun:bundle>${text(o.bundle, 'bundle')}</vmrun:bundle>`,
    `      <vmrun:rootfs>${text(o.rootfs, '/root/path')}</vmrun:rootfs>`,
  ];
  if (spec.hostname !== undefined) {
    lines.push(`      <vmrun:hostname>${text(spec.hostname, '/hostname')}</vmrun:hostname>`);
  }
  const { shown, omitted } = annotationsShown(spec.annotations ?? {});
  for (const { key, value, bytes } of shown) {
    const cut = bytes === undefined ? '' : ` bytes='${bytes}'`;
    lines.push(`      <vmrun:annotation key='${attr(key, 'annotation')}'${cut}>${text(value, 'annotation')}</vmrun:annotation>`);
  }
  if (omitted > 0) lines.push(`      <vmrun:omittedAnnotations>${omitted}</vmrun:omittedAnnotations>`);
  lines.push('    </vmrun:container>');
  return lines.join('\n');
}

/**
 * The annotations the metadata shows, a bounded sample: libvirt refuses a large domain XML
 * ("Value too large"), and annotations have no size limit. The whole set stays in vmrun's
 * record, for `state` and the hooks.
 */
export const XML_ANNOTATIONS = { count: 16, keyChars: 256, valueChars: 1024 };

/**
 * vmrun's and CRI's first (they say what the VM is for), then config.json's order. A value is
 * cut to its first characters (`bytes` is then its whole size in UTF-8), and characters XML
 * cannot carry become U+FFFD: this is a sample to read, not the annotation.
 */
export function annotationsShown(all: Record<string, string>): { shown: { key: string; value: string; bytes?: number }[]; omitted: number } {
  const ours = (key: string) => key.startsWith('vmrun.') || key.startsWith('io.kubernetes.cri.');
  const keys = Object.keys(all).sort((a, b) => Number(ours(b)) - Number(ours(a)));
  const shown = keys
    .filter((key) => key.length <= XML_ANNOTATIONS.keyChars)
    .slice(0, XML_ANNOTATIONS.count)
    .map((key) => {
      const value = all[key]!;
      const key_ = key.replace(NOT_XML_ALL, '\uFFFD');
      if (value.length <= XML_ANNOTATIONS.valueChars) return { key: key_, value: value.replace(NOT_XML_ALL, '\uFFFD') };
      // Not half of a surrogate pair at the cut.
      const cut = value.slice(0, XML_ANNOTATIONS.valueChars).replace(/[\uD800-\uDBFF]$/, '');
      return { key: key_, value: cut.replace(NOT_XML_ALL, '\uFFFD'), bytes: Buffer.byteLength(value) };
    });
  return { shown, omitted: keys.length - shown.length };
}

const NOT_XML_ALL = new RegExp(NOT_XML.source, 'gu');

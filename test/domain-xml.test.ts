import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { addedMemoryXml, firstDimmMiB, tapInterfaceXml, domainXml, MEMORY_SLOTS, XML_ANNOTATIONS, type DomainOptions } from '../src/vm/domain-xml.js';
import { MAX_SOCKET_PATH_BYTES, socketPaths, vmLayout } from '../src/vm/layout.js';
import { DEFAULT_GUEST_MEMORY_MIB, GUEST_OVERHEAD_MIB, guestSize } from '../src/vm/sizing.js';
import { tempDir } from './helpers/cli.js';

const GOLDEN = new URL('./golden/', import.meta.url);

function options(spec: Spec, change: Partial<DomainOptions> = {}): DomainOptions {
  return {
    id: 'c1',
    bundle: '/srv/bundles/c1',
    rootfs: '/srv/bundles/c1/rootfs',
    accel: 'tcg',
    size: guestSize(spec, { cpus: 2, memoryMiB: 24_000, defaultGuestMemoryMiB: DEFAULT_GUEST_MEMORY_MIB }),
    layout: vmLayout('/run/vmrun', 'c1'),
    kernel: '/var/lib/vmrun/guest/vmlinuz',
    initrd: '/var/lib/vmrun/guest/initrd.img',
    node: { path: '/var/lib/vmrun/guest/node.img', bytes: 96 * 1024 * 1024 },
    emulator: '/usr/bin/qemu-system-x86_64',
    virtiofsd: '/usr/lib/qemu/virtiofsd',
    ...change,
  };
}

/** Compares with test/golden/NAME; UPDATE_GOLDEN=1 rewrites the file instead. */
async function expectGolden(name: string, xml: string) {
  const file = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN) await writeFile(file, xml);
  expect(xml).toBe(await readFile(file, 'utf8'));
}

async function saved(xml: string): Promise<string> {
  const file = join(await tempDir(), 'domain.xml');
  await writeFile(file, xml);
  return file;
}

/** libvirt's own schema check (virt-xml-validate, from Debian's libvirt-clients). */
async function virtXmlValidate(xml: string) {
  return execa('virt-xml-validate', [await saved(xml), 'domain'], { reject: false, all: true });
}

async function xpath(xml: string, expr: string): Promise<string> {
  const r = await execa('xmllint', ['--xpath', expr, await saved(xml)], { stripFinalNewline: false });
  return r.stdout.replace(/\n$/, ''); // xmllint ends what it prints with a newline of its own

}

const HOSTILE = `a<b>&c"d'e\nf\rg\th]]>`;

function hostileSpec(): Spec {
  const spec = defaultSpec();
  spec.hostname = HOSTILE;
  spec.annotations = { [`k${HOSTILE}`]: `v${HOSTILE}`, 'org.example/plain': 'x' };
  return spec;
}

describe('domain XML', () => {
  test('for the default spec matches the golden file and passes virt-xml-validate', async () => {
    const spec = defaultSpec();
    const xml = domainXml(spec, options(spec));
    await expectGolden('default-domain.xml', xml);
    const r = await virtXmlValidate(xml);
    expect(r.all).toMatch(/validates/);
    expect(r.exitCode).toBe(0);
  });

  test('under KVM asks for a kvm domain with the host CPU', async () => {
    const spec = defaultSpec();
    const xml = domainXml(spec, options(spec, { accel: 'kvm' }));
    await expectGolden('kvm-domain.xml', xml);
    expect((await virtXmlValidate(xml)).exitCode).toBe(0);
  });

  test("bounds QEMU's translation cache under TCG, which KVM has none of", () => {
    const spec = defaultSpec();
    expect(domainXml(spec, options(spec, { accel: 'tcg' }))).toMatch(/<tcg>\s*<tb-cache unit='MiB'>64<\/tb-cache>\s*<\/tcg>/);
    expect(domainXml(spec, options(spec, { accel: 'kvm' }))).not.toMatch(/<tcg>|tb-cache/);
  });

  test('carries hostile strings intact and stays valid', async () => {
    const spec = hostileSpec();
    const bundle = `/srv/b&<'">\n\t/${'x'}`;
    const xml = domainXml(spec, options(spec, { bundle, rootfs: `${bundle}/rootfs` }));
    await expectGolden('hostile-domain.xml', xml);
    expect((await virtXmlValidate(xml)).exitCode).toBe(0);
    expect(await xpath(xml, 'string(//*[local-name()="hostname"])')).toBe(HOSTILE);
    expect(await xpath(xml, 'string(//*[local-name()="bundle"])')).toBe(bundle);
    expect(await xpath(xml, 'string(//*[local-name()="rootfs"])')).toBe(`${bundle}/rootfs`);
    // The share itself goes through vmrun's link to the rootfs, a path libvirt always accepts.
    expect(await xpath(xml, 'string(//filesystem/source/@dir)')).toMatch(/^\/run\/vmrun-vm\/[0-9a-f]{12}\/shares\/rootfs\/$/);
    expect(await xpath(xml, 'string(//*[local-name()="annotation"][1]/@key)')).toBe(`k${HOSTILE}`);
    expect(await xpath(xml, 'string(//*[local-name()="annotation"][1])')).toBe(`v${HOSTILE}`);
  });

  test('shares the binds folder beside the rootfs when the container binds host paths', async () => {
    const spec = defaultSpec();
    const xml = domainXml(spec, options(spec, { shares: ['binds'] }));
    expect((await virtXmlValidate(xml)).exitCode).toBe(0);
    expect(await xpath(xml, 'count(//filesystem)')).toBe('2');
    expect(await xpath(xml, "string(//filesystem[target/@dir='binds']/source/@dir)")).toMatch(/\/shares\/binds\/$/);
  });

  test("gives the VM a tap in the container's namespace, or passt's socket, as a virtio NIC", async () => {
    const spec = defaultSpec();
    // The tap's card is plugged in at start, not there from boot.
    expect(domainXml(spec, options(spec, { nic: { kind: 'tap', tapPrefix: 'vm0123456789' } }))).not.toContain('<interface');
    const card = tapInterfaceXml('vm0123456789ab', '02:42:ac:11:00:02');
    expect(await xpath(card, 'string(/interface/target/@dev)')).toBe('vm0123456789ab');
    expect(await xpath(card, 'string(/interface/mac/@address)')).toBe('02:42:ac:11:00:02');
    const user = domainXml(spec, options(spec, { nic: { kind: 'user', mac: '52:54:00:01:02:03', socket: '/run/vmrun-vm/x/passt.sock' } }));
    expect((await virtXmlValidate(user)).exitCode).toBe(0);
    expect(await xpath(user, 'string(//*[local-name()="commandline"]/*[6]/@value)')).toBe('stream,id=vmrunnet,server=off,addr.type=unix,addr.path=/run/vmrun-vm/x/passt.sock');
  });

  test('refuses a value XML cannot carry, naming its field', () => {
    const spec = defaultSpec();
    spec.hostname = 'bell\u0007';
    expect(() => domainXml(spec, options(spec))).toThrow(/\/hostname: character U\+0007 cannot be passed to libvirt/);
  });

  test('shows a bounded sample of the annotations, however large they are, and still validates', async () => {
    const spec = defaultSpec();
    const big = 'x'.repeat(50 * 1024 * 1024);
    spec.annotations = { big, bell: 'a\u0007b' };
    for (let i = 0; i < 40; i++) spec.annotations[`org.example/n${i}`] = `v${i}`;
    spec.annotations['k'.repeat(XML_ANNOTATIONS.keyChars + 1)] = 'long name';
    spec.annotations['io.kubernetes.cri.sandbox-id'] = 'pod1';
    const xml = domainXml(spec, options(spec));
    expect(xml.length).toBeLessThan(64 * 1024);
    expect((await virtXmlValidate(xml)).exitCode).toBe(0);
    const annotation = (key: string, what = '') => xpath(xml, `string(//*[local-name()="annotation"][@key="${key}"]${what})`);
    // CRI's say what the VM is for: they come first.
    expect(await xpath(xml, 'string(//*[local-name()="annotation"][1]/@key)')).toBe('io.kubernetes.cri.sandbox-id');
    expect(await annotation('big')).toBe('x'.repeat(XML_ANNOTATIONS.valueChars));
    expect(await annotation('big', '/@bytes')).toBe(String(big.length));
    // A character XML cannot carry is shown as U+FFFD, where it used to refuse the container.
    expect(await annotation('bell')).toBe('a\uFFFDb');
    expect(await xpath(xml, 'count(//*[local-name()="annotation"])')).toBe(String(XML_ANNOTATIONS.count));
    expect(await xpath(xml, 'string(//*[local-name()="omittedAnnotations"])')).toBe(String(44 - XML_ANNOTATIONS.count));
  });

  test('sizes the guest from linux.resources', async () => {
    const spec = defaultSpec();
    spec.linux!.resources = { memory: { limit: 512 * 1024 * 1024 }, cpu: { quota: 150_000, period: 100_000 } };
    const xml = domainXml(spec, options(spec));
    expect(await xpath(xml, 'string(/domain/memory)')).toBe(String(512 + GUEST_OVERHEAD_MIB));
    expect(await xpath(xml, 'string(/domain/vcpu)')).toBe('2');
  });

  test("maps node's disk read-only and private, in device memory beside one NUMA cell of every vCPU", async () => {
    const spec = defaultSpec();
    spec.linux!.resources = { memory: { limit: 512 * 1024 * 1024 }, cpu: { quota: 200_000, period: 100_000 } };
    const xml = domainXml(spec, options(spec));
    const memoryMiB = 512 + GUEST_OVERHEAD_MIB;
    expect(await xpath(xml, 'string(/domain/maxMemory)')).toBe(String(memoryMiB * 1024 + 96 * 1024));
    expect(await xpath(xml, 'string(/domain/maxMemory/@slots)')).toBe('1');
    expect(await xpath(xml, 'string(/domain/cpu/numa/cell/@cpus)')).toBe('0-1');
    expect(await xpath(xml, 'string(/domain/cpu/numa/cell/@memory)')).toBe(String(memoryMiB));
    const args = (await xpath(xml, '//*[local-name()="arg"]/@value')).match(/value="[^"]*"/g)!.map((v) => v.slice(7, -1));
    expect(args).toEqual([
      '-object', 'memory-backend-file,id=vmrun-node,mem-path=/var/lib/vmrun/guest/node.img,size=100663296,share=off,readonly=on',
      '-device', 'virtio-pmem-pci,memdev=vmrun-node,id=vmrun-node-disk,bus=pci.0,addr=0x1c',
    ]);
  });

  test('that may grow has memory slots and room to the size it grows to', async () => {
    const spec = defaultSpec();
    const xml = domainXml(spec, options(spec, { growsToMiB: 24_000 }));
    expect(await xpath(xml, 'string(/domain/maxMemory)')).toBe(String(24_000 * 1024 + 96 * 1024));
    expect(await xpath(xml, 'string(/domain/maxMemory/@slots)')).toBe(String(MEMORY_SLOTS));
    expect(await xpath(xml, 'string(/domain/memory)')).toBe(String(DEFAULT_GUEST_MEMORY_MIB));
    const r = await virtXmlValidate(xml);
    expect(r.exitCode, r.all).toBe(0);
  });

  test('plugs memory in whole blocks at block-aligned addresses, the first 1 GiB after node\'s disk, above the RAM', () => {
    const node = { path: '/n', bytes: 96 * 1024 * 1024 };
    // A 2 GiB guest's RAM is all below 4 GiB: the memory device region starts there, node's disk first.
    expect(firstDimmMiB(2048, node)).toBe(5 * 1024);
    // 4 GiB: 3 GiB below 4 GiB, 1 GiB above it, so the region starts at 5 GiB.
    expect(firstDimmMiB(4096, node)).toBe(6 * 1024);
    // A disk over 1 GiB pushes it on by another GiB.
    expect(firstDimmMiB(2048, { path: '/n', bytes: 1100 * 1024 * 1024 })).toBe(6 * 1024);
    expect(addedMemoryXml(256, 5 * 1024, 0)).toMatch(/<size unit='MiB'>256<\/size>[\s\S]*<address type='dimm' slot='0' base='0x140000000'\/>/);
    expect(() => addedMemoryXml(100, 5 * 1024, 0)).toThrow(/whole 128 MiB blocks/);
    expect(() => addedMemoryXml(128, 5 * 1024 + 64, 0)).toThrow(/not a block's address/);
  });

  test('boots on one vCPU of its shape; a one-vCPU guest has no current', async () => {
    const spec = defaultSpec();
    spec.linux!.resources = { cpu: { quota: 200_000, period: 100_000 } };
    const xml = domainXml(spec, options(spec));
    expect(await xpath(xml, 'string(/domain/vcpu)')).toBe('2');
    expect(await xpath(xml, 'string(/domain/vcpu/@current)')).toBe('1');
    spec.linux!.resources = { cpu: { quota: 100_000, period: 100_000 } };
    const one = domainXml(spec, options(spec));
    expect(await xpath(one, 'string(/domain/vcpu)')).toBe('1');
    expect(await xpath(one, 'count(/domain/vcpu/@current)')).toBe('0');
  });
});

describe('socket paths', () => {
  test("fit in sun_path under Docker's root with a 64-character id", () => {
    const root = '/run/containerd/runc/moby';
    const id = 'f'.repeat(64);
    // Where the design must not put them: libvirt's monitor socket under <root>/<id>/ is too long.
    expect(Buffer.byteLength(join(root, id, 'libvirt/lib/qemu/domain-1-vmrun/monitor.sock'))).toBeGreaterThan(MAX_SOCKET_PATH_BYTES);
    const paths = socketPaths(vmLayout(root, id));
    expect(paths.some((p) => p.endsWith('monitor.sock'))).toBe(true);
    for (const path of paths) expect(Buffer.byteLength(path), path).toBeLessThanOrEqual(MAX_SOCKET_PATH_BYTES);
  });

  test('do not grow with the id, and differ between containers and roots', () => {
    const long = vmLayout('/run/vmrun', 'x'.repeat(1024));
    expect(long.dir).toMatch(/^\/run\/vmrun-vm\/[0-9a-f]{12}$/);
    const dirs = new Set([vmLayout('/a', 'c1').dir, vmLayout('/a', 'c2').dir, vmLayout('/b', 'c1').dir]);
    expect(dirs.size).toBe(3);
    expect(vmLayout('/a/../a', 'c1').dir).toBe(vmLayout('/a', 'c1').dir);
  });
});

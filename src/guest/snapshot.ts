// The agent's V8 startup snapshot. Node refuses a snapshot made on another CPU, so it is made
// in a guest like the ones it will serve: one boot with vmrun.build-snapshot on the kernel
// command line, whose init writes the blob to its rootfs share (guest-agent/init.sh).
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccelChoice } from '../host/accel.js';
import { hostLimits } from '../host/limits.js';
import type { Progress } from '../host/progress.js';
import { defaultSpec } from '../oci/default-spec.js';
import { domainXml, ROOTFS_TAG, type DomainOptions } from '../vm/domain-xml.js';
import { layoutOf, VM_DIR_BASE } from '../vm/layout.js';
import { admitQemu, EMULATOR, EmbeddedDriver, prepareRoot, VIRTIOFSD, waitGone } from '../vm/libvirt.js';
import { guestSize } from '../vm/sizing.js';
import { scratchDir } from '../host/scratch-dir.js';

const BUILD_TIMEOUT_MS = 300_000;

/** The blob, or undefined when the guest made none (containers then start without it). */
export async function makeAgentSnapshot(guest: Pick<DomainOptions, 'kernel' | 'initrd' | 'node'>, accel: AccelChoice, capsCache: string, warden: string, progress: Progress): Promise<Buffer | undefined> {
  progress.step(`booting a guest once to make the agent's startup snapshot (${accel.accel})`);
  await mkdir(VM_DIR_BASE, { recursive: true, mode: 0o711 });
  const dir = await scratchDir(VM_DIR_BASE, 'snapshot-');
  await admitQemu(dir);
  const layout = layoutOf(dir);
  const out = join(dir, 'out');
  try {
    await mkdir(layout.shares, { recursive: true });
    await mkdir(out);
    await symlink(out, join(layout.shares, ROOTFS_TAG));
    await prepareRoot(layout.libvirtRoot, capsCache);
    const spec = defaultSpec();
    const xml = join(dir, 'domain.xml');
    await writeFile(xml, domainXml(spec, {
      id: 'vmrun-snapshot', bundle: out, rootfs: out, accel: accel.accel, size: guestSize(spec, hostLimits()), layout,
      ...guest, emulator: EMULATOR, virtiofsd: VIRTIOFSD, kernelArgs: ['vmrun.build-snapshot'],
    }));
    const driver = await EmbeddedDriver.open(layout.libvirtRoot, warden);
    try {
      await driver.createDomain(xml);
      const { qemu } = await driver.processes();
      // The guest powers itself off when the blob is written.
      if (qemu?.host && !(await waitGone(qemu.host, BUILD_TIMEOUT_MS))) await driver.destroyDomain();
    } finally {
      await driver.destroyDomain();
      await driver.close();
    }
    const blob = await readFile(join(out, 'agent.blob')).catch(() => undefined);
    if (!blob?.length) progress.step('the guest made no snapshot: containers will start without one');
    return blob?.length ? blob : undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// `vmrun setup`: everything a fresh Debian host needs before its first container, idempotent.
// `--check` changes nothing and says what is missing.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HOST_HELPERS, hostHelper } from '../host/helpers.js';
import { checkInstalled, install, INSTALLED_COMMAND, THIS_COMMAND } from '../host/install.js';
import { buildAssets, planAssets } from '../guest/assets.js';
import { imageMissing, makeRestoreImage } from '../guest/restore-image.js';
import type { AccelChoice } from '../host/accel.js';
import { account, KVM_DEVICE, KVM_GROUP, kvmProblem, secureCacheDir, shareKvmDevice, unreadableBy } from '../host/privilege.js';
import {
  addSystemUser,
  addToGroup,
  HOST_PACKAGES,
  installPackages,
  LIBVIRT_USER,
  missingPackages,
  userExists,
} from '../host/packages.js';
import type { Progress } from '../host/progress.js';
import { capabilitiesCache, EMULATOR, keepCapabilities, prepareRoot, QEMU_USER } from '../vm/libvirt.js';
import { embedUri } from '../vm/virsh.js';
import { scratchDir } from '../host/scratch-dir.js';

export interface SetupReport {
  /** What is missing (with --check) or was missing and is now done. */
  missing: string[];
  /** What setup cannot do on this host, each with why. */
  cannot: string[];
  accel: AccelChoice;
}

export async function setup(cacheDir: string, accel: AccelChoice, progress: Progress, check: boolean): Promise<SetupReport> {
  const missing: string[] = [];
  const cannot: string[] = [];
  const cache = await secureCacheDir(cacheDir, check);
  if (cache.fixed) missing.push(cache.fixed);
  if (cache.cannot) return { missing, cannot: [cache.cannot], accel };
  const packages = await missingPackages(HOST_PACKAGES);
  if (packages.length > 0) {
    missing.push(`Debian packages: ${packages.join(' ')}`);
    if (check) return { missing: [...missing, 'the guest kernel, initramfs and QEMU capabilities (after the packages)'], cannot, accel };
    await installPackages(packages, progress);
  }
  if (!(await userExists(LIBVIRT_USER))) {
    missing.push(`the system account ${LIBVIRT_USER}`);
    if (!check) await addSystemUser(LIBVIRT_USER, progress);
  }
  // QEMU runs as that account: KVM needs it to open /dev/kvm, and libvirt's capabilities
  // cache stays valid only if it can.
  const kvm = check ? kvmProblem(QEMU_USER) : undefined;
  if (kvm) missing.push(`${kvm}: setup adds ${QEMU_USER} to the group ${KVM_GROUP} and gives ${KVM_DEVICE} to it`);
  if (!check && kvmProblem(QEMU_USER)) {
    missing.push(`${KVM_DEVICE} for QEMU's account ${QEMU_USER}`);
    await addToGroup(QEMU_USER, KVM_GROUP, progress);
    if (kvmProblem(QEMU_USER)) await shareKvmDevice();
    const left = kvmProblem(QEMU_USER);
    if (left) cannot.push(left);
  }

  const caps = await capabilitiesCache(cacheDir);
  if ((await readdir(caps).catch(() => [])).length === 0) {
    missing.push(`QEMU's capabilities for libvirt (${caps})`);
    if (!check) await probeCapabilities(caps, progress);
  }
  const plan = await planAssets(cacheDir, accel);
  if (!plan.kernel) missing.push(`the guest kernel ${plan.kernelPackage}`);
  if (!plan.built) missing.push(`the guest initramfs ${plan.key}`);
  if (!check) {
    const assets = await buildAssets(cacheDir, plan, accel, caps, progress);
    progress.step(`guest assets ready: ${assets.kernel}, ${assets.initrd}`);
    const qemu = account(QEMU_USER);
    for (const file of qemu ? [assets.kernel, assets.initrd] : []) {
      const why = unreadableBy(file, qemu!);
      if (why) cannot.push(`QEMU runs as ${QEMU_USER} and must read the guest's ${file}: ${why}`);
    }
    // Terminals (--console-socket) and hooks need them; built now, not at a container's first.
    for (const helper of HOST_HELPERS) await hostHelper(cacheDir, helper);
    if (await imageMissing(cacheDir, assets, accel.accel, caps)) {
      missing.push('the restore image of a booted guest');
      await makeRestoreImage(cacheDir, assets, accel, caps, await hostHelper(cacheDir, 'vmrun-warden'), progress);
    }
  } else if (!plan.built || (await imageMissing(cacheDir, plan.built, accel.accel, caps))) {
    missing.push('the restore image of a booted guest');
  }

  const installed = await checkInstalled();
  if (installed.cannot) cannot.push(installed.cannot);
  if (installed.missing) {
    missing.push(installed.missing);
    if (!check) {
      progress.step(`putting vmrun on the PATH: ${INSTALLED_COMMAND} -> ${THIS_COMMAND}`);
      await install();
    }
  }

  const seccomp = await qemuSeccompProblem(caps);
  if (seccomp) cannot.push(seccomp);
  return { missing, cannot, accel };
}

/** libvirt turns QEMU's seccomp sandbox on only when its capabilities say QEMU has one. */
async function qemuSeccompProblem(caps: string): Promise<string | undefined> {
  for (const file of await readdir(caps).catch(() => [] as string[])) {
    const xml = await readFile(join(caps, file), 'utf8').catch(() => '');
    if (!xml.includes("<flag name='seccomp-sandbox'/>")) return `${EMULATOR} has no seccomp sandbox (libvirt's capabilities ${join(caps, file)} lack seccomp-sandbox): QEMU runs without one`;
  }
  return undefined;
}

/** Lets libvirt probe QEMU once in a scratch root, and keeps the result for every container. */
async function probeCapabilities(caps: string, progress: Progress): Promise<void> {
  progress.step("probing QEMU's capabilities for libvirt (once per QEMU and libvirt version)");
  const root = await scratchDir('/tmp', 'vmrun-probe-');
  try {
    await prepareRoot(root, caps);
    await execa('virsh', ['-q', '-c', embedUri(root), 'domcapabilities', '--emulatorbin', EMULATOR, '--virttype', 'qemu'], {
      stdout: 'ignore',
    });
    await keepCapabilities(root, caps);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

// vmrun's restore image: a guest booted once, up to its agent's hello, and saved by libvirt, so
// that a container's VM is restored from it instead of booting (docs/architecture.md, "Restore").
// One image per host, for the default guest's shape under the accelerator in use; `vmrun setup`
// makes it. It serves every guest no bigger than it, and a VM it does not fit boots as before.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentChannel } from '../agent/channel.js';
import type { Accel, AccelChoice } from '../host/accel.js';
import { writeFileAtomically } from '../host/atomic-file.js';
import { connectWhenListening } from '../host/unix-socket.js';
import { hostLimits } from '../host/limits.js';
import type { Progress } from '../host/progress.js';
import { checkTrusted, untrustedPath } from '../host/trusted.js';
import { defaultSpec } from '../oci/default-spec.js';
import { domainXml, GUEST_RAM_BLOCK, type DomainOptions } from '../vm/domain-xml.js';
import { layoutOf, VM_DIR_BASE } from '../vm/layout.js';
import { admitQemu, EMULATOR, EmbeddedDriver, prepareRoot, VIRTIOFSD } from '../vm/libvirt.js';
import { dropZeroPages } from '../vm/save-image.js';
import { guestSize, type GuestSize } from '../vm/sizing.js';
import type { GuestAssets } from './ready.js';
import { scratchDir } from '../host/scratch-dir.js';

/** Bumped when what the image holds changes in a way its key does not show. */
const IMAGE_FORMAT = 1;
/** The kernel command line word of the image's boot: init.sh then mounts no share. */
export const IMAGE_KERNEL_ARG = 'vmrun.image';
/** The file in the cache that names the current image. */
const CURRENT = 'restore.json';
const BOOT_TIMEOUT_MS = 300_000;
/**
 * After the hello, before the save: the balloon's free page reporting gives the host back what
 * the boot freed (the initramfs image, ~100 MiB) within about 2 s; those pages then are zero
 * and left out of the image.
 */
const SETTLE_MS = 4_000;

/**
 * The image's guest: the default guest's memory, a vCPU per CPU vmrun may use, and room to grow
 * to the host's memory, plugged in after a restore for a container whose limit needs more.
 */
export interface ImageShape {
  memoryMiB: number;
  vcpus: number;
  growsToMiB: number;
}

export interface RestoreImage extends ImageShape {
  /** libvirt's save image, its zero pages left out (src/vm/save-image.ts). */
  file: string;
  key: string;
  accel: Accel;
}

/**
 * The most a restored guest grows to: its RAM and memory devices stay well within the 40
 * physical address bits (1 TiB) of QEMU's default CPU model.
 */
const MAX_GROWS_TO_MIB = 512 * 1024;
/**
 * From 64 GiB of boot memory's end (a `pc` guest of 3.5 GiB or more ends 1 GiB above its size)
 * the guest kernel's memory blocks are bigger than the DIMMs' 128 MiB.
 */
const LARGE_BLOCKS_FROM_MIB = 63 * 1024;

/** The shape of the image's guest on this host now. */
export function imageShape(): ImageShape {
  const host = hostLimits();
  const size = guestSize(defaultSpec(), host);
  const growsToMiB = size.memoryMiB >= LARGE_BLOCKS_FROM_MIB ? size.memoryMiB : Math.max(size.memoryMiB, Math.min(host.memoryMiB, MAX_GROWS_TO_MIB));
  return { memoryMiB: size.memoryMiB, vcpus: size.vcpus, growsToMiB };
}

/** The domain of the image's guest, or of a VM restored from it, with these host paths. */
export function restorableXml(o: Omit<DomainOptions, 'restorable' | 'kernelArgs' | 'shares' | 'vcpusOnline' | 'size' | 'growsToMiB'> & { shape: ImageShape }, spec = defaultSpec()): string {
  const { shape, ...rest } = o;
  // Booted once, on every vCPU: a restored VM plugs none in.
  return domainXml(spec, { ...rest, size: shape, growsToMiB: shape.growsToMiB, restorable: true, kernelArgs: [IMAGE_KERNEL_ARG], vcpusOnline: shape.vcpus });
}

/**
 * What the image is made of: the guest assets, the accelerator, QEMU and libvirt (through their
 * capabilities' cache), the guest's shape, and the domain itself with fixed host paths.
 */
export function imageKey(assets: GuestAssets, accel: Accel, shape: ImageShape, capsCache: string): string {
  const layout = layoutOf(join(VM_DIR_BASE, 'image'));
  const xml = restorableXml({ id: 'image', bundle: '/', rootfs: '/', accel, shape, layout, kernel: assets.kernel, initrd: assets.initrd, node: assets.node, emulator: EMULATOR, virtiofsd: VIRTIOFSD });
  return createHash('sha256').update([IMAGE_FORMAT, assets.key, accel, basename(capsCache), xml].join('\n')).digest('hex').slice(0, 16);
}

/** The image `vmrun setup` last made, if there is one and its files are root's. */
export async function readyImage(cacheDir: string): Promise<RestoreImage | undefined> {
  try {
    const image = JSON.parse(await readFile(join(cacheDir, CURRENT), 'utf8')) as RestoreImage;
    await stat(image.file);
    checkTrusted(join(cacheDir, CURRENT), 'the restore image record');
    checkTrusted(image.file, 'the restore image');
    return image;
  } catch {
    return undefined;
  }
}

/** Why a VM of this shape is not restored from `image`; undefined when it is. */
export function whyNotRestored(image: RestoreImage | undefined, assets: GuestAssets, accel: Accel, size: GuestSize, capsCache: string, userNetwork: boolean): string | undefined {
  if (!image) return 'there is no restore image: `vmrun setup` makes one';
  if (image.accel !== accel) return `the restore image is for ${image.accel}`;
  // A guest without limits is the image's shape; limits make it smaller, and the container's
  // cgroup in the guest holds it to them. What differs without limits is another shape.
  const open = size.unlimited;
  if (open.memoryMiB !== image.memoryMiB) return `a guest without a memory limit has ${open.memoryMiB} MiB here (VMRUN_DEFAULT_MEMORY), not the restore image's ${image.memoryMiB} MiB`;
  if (open.vcpus > image.vcpus) return `vmrun may run on ${open.vcpus} CPUs here, more than the restore image's guest has (${image.vcpus})`;
  if (size.memoryMiB > image.growsToMiB) return `the guest's ${size.memoryMiB} MiB are more than the restore image's guest can grow to (${image.growsToMiB} MiB)`;
  if (userNetwork) return 'its user-mode network card is there from boot';
  if (imageKey(assets, accel, image, capsCache) !== image.key) return 'the restore image is of another kernel, agent, QEMU or libvirt: `vmrun setup` makes it again';
  return undefined;
}

/** Whether setup has to make the image: none, or one of other inputs. */
export async function imageMissing(cacheDir: string, assets: GuestAssets, accel: Accel, capsCache: string): Promise<boolean> {
  const image = await readyImage(cacheDir);
  return !image || image.key !== imageKey(assets, accel, imageShape(), capsCache) || !!untrustedPath(image.file);
}

/** Boots the image's guest once, saves it, and makes it the current image; earlier ones go. */
export async function makeRestoreImage(cacheDir: string, assets: GuestAssets, accel: AccelChoice, capsCache: string, warden: string, progress: Progress): Promise<RestoreImage> {
  const shape = imageShape();
  const key = imageKey(assets, accel.accel, shape, capsCache);
  progress.step(`booting a guest once to make the restore image (${accel.accel}, ${shape.memoryMiB} MiB, ${shape.vcpus} vCPUs)`);
  const imagesDir = join(cacheDir, 'restore');
  await mkdir(imagesDir, { recursive: true, mode: 0o700 });
  await mkdir(VM_DIR_BASE, { recursive: true, mode: 0o711 });
  const dir = await scratchDir(VM_DIR_BASE, 'image-');
  await admitQemu(dir);
  const layout = layoutOf(dir);
  const saved = join(dir, 'saved');
  try {
    await prepareRoot(layout.libvirtRoot, capsCache);
    const xml = join(dir, 'domain.xml');
    await writeFile(xml, restorableXml({ id: 'image', bundle: '/', rootfs: '/', accel: accel.accel, shape, layout, kernel: assets.kernel, initrd: assets.initrd, node: assets.node, emulator: EMULATOR, virtiofsd: VIRTIOFSD }));
    const driver = await EmbeddedDriver.open(layout.libvirtRoot, warden);
    try {
      await driver.createDomain(xml);
      await readyGuest(layout.agentSocket, Date.now() + BOOT_TIMEOUT_MS);
      await sleep(SETTLE_MS);
      progress.step('saving the booted guest');
      await driver.saveDomain(saved);
    } finally {
      await driver.destroyDomain();
      await driver.close();
    }
    const file = join(imagesDir, key, 'image.save');
    await rm(join(imagesDir, key), { recursive: true, force: true });
    await mkdir(join(imagesDir, key), { mode: 0o700 });
    const { dropped, kept } = dropZeroPages(saved, file, [GUEST_RAM_BLOCK]);
    progress.step(`restore image ready: ${file} (${Math.round((kept * 4) / 1024)} MiB of guest memory, ${Math.round((dropped * 4) / 1024)} MiB of zero pages left out)`);
    const image: RestoreImage = { file, key, accel: accel.accel, ...shape };
    await writeFileAtomically(join(cacheDir, CURRENT), JSON.stringify(image, null, 2) + '\n');
    for (const old of await readdir(imagesDir)) if (old !== key) await rm(join(imagesDir, old), { recursive: true, force: true });
    return image;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Waits for the image's agent to say hello, has it drop what it no longer needs, and hangs up:
 * the agent then waits for the next host, the restored VM's monitor.
 */
async function readyGuest(path: string, deadline: number): Promise<void> {
  const socket = await connectWhenListening(path, deadline, () => new Error("the restore image's guest made no agent socket"), 50);
  const channel = new AgentChannel(socket, { peer: "the restore image's agent" });
  channel.on('error', () => undefined);
  const stop = new AbortController();
  try {
    const timeout = sleep(Math.max(0, deadline - Date.now()), undefined, { signal: stop.signal }).then(() => {
      throw new Error("the restore image's guest did not answer");
    });
    timeout.catch(() => undefined);
    await Promise.race([channel.hello('vmrun-setup'), timeout]);
    await channel.request({ op: 'image' });
  } finally {
    stop.abort();
    channel.close();
  }
}

/** The random bytes a restored guest mixes into its kernel's pool. */
export const freshSeed = (): string => randomBytes(64).toString('hex');

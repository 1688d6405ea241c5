// The guest kernel: Debian's cloud kernel package, unpacked once per package version into the
// host-wide cache with just the modules the guest loads.
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Progress } from '../host/progress.js';
import { extractPvhKernel } from './vmlinux.js';
import { VmrunError } from '../errors.js';
import { scratchDir } from '../host/scratch-dir.js';

/** The modules the guest's init loads, in this order (each needs the ones before it). */
export const BOOT_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci',
  'virtio_console', 'fuse', 'virtiofs',
  // The virtio-pmem disk node runs from (src/guest/node-image.ts).
  'libnvdimm', 'nd_btt', 'nd_pmem', 'nd_virtio', 'virtio_pmem',
];
/** The modules the agent loads, in this order, for a container with network interfaces. */
export const NETWORK_MODULES = ['failover', 'net_failover', 'virtio_net'];
/**
 * The modules init.sh loads while node starts: the balloon, whose free page reporting gives the
 * host back the memory the guest frees (docs/architecture.md).
 */
export const BACKGROUND_MODULES = ['virtio_balloon'];
export const GUEST_MODULES = [...BOOT_MODULES, ...NETWORK_MODULES, ...BACKGROUND_MODULES];

const META_PACKAGE = 'linux-image-cloud-amd64';

export interface GuestKernel {
  /** Debian package name, such as linux-image-6.1.0-56-cloud-amd64. */
  package: string;
  /** The kernel release, such as 6.1.0-56-cloud-amd64. */
  release: string;
  vmlinuz: string;
  /** What the VM boots: the uncompressed kernel when it has a PVH entry point, else vmlinuz. */
  image: string;
  /** A folder of NAME.ko for each of GUEST_MODULES that is not built in. */
  modules: string;
  /** The modules the cache was made for (built-in ones included). */
  moduleNames?: string[];
}

/** The kernel package Debian's meta package names now, or undefined when apt knows none. */
export async function currentKernelPackage(): Promise<string | undefined> {
  const r = await execa('apt-cache', ['show', '--no-all-versions', META_PACKAGE], { reject: false });
  return /^Depends:.*?\b(linux-image-[\w.+-]+-cloud-amd64)\b/m.exec(r.stdout)?.[1];
}

export function kernelDir(cacheDir: string, pkg: string): string {
  return join(cacheDir, 'kernel', pkg);
}

/** The cached kernel of that package, if it is complete. */
export async function cachedKernel(cacheDir: string, pkg: string): Promise<GuestKernel | undefined> {
  try {
    const kernel = JSON.parse(await readFile(join(kernelDir(cacheDir, pkg), 'kernel.json'), 'utf8')) as GuestKernel;
    // A cache made before `image`, or for fewer modules, is made again.
    const complete = kernel.image && GUEST_MODULES.every((m) => kernel.moduleNames?.includes(m));
    return complete ? kernel : undefined;
  } catch {
    return undefined;
  }
}

export async function fetchKernel(cacheDir: string, pkg: string, progress: Progress): Promise<GuestKernel> {
  const dir = kernelDir(cacheDir, pkg);
  await mkdir(join(cacheDir, 'kernel'), { recursive: true });
  const work = await scratchDir(join(cacheDir, 'kernel'), '.work-');
  try {
    progress.step(`downloading the guest kernel ${pkg}`);
    // As root into a folder the _apt user cannot enter: say so, or apt warns about its sandbox.
    await execa('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', pkg], { cwd: work, stdout: progress.stream, stderr: progress.stream });
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmrunError('InvalidState', `apt-get download ${pkg} left no .deb in ${work}`);
    progress.step(`unpacking ${deb}`);
    const root = join(work, 'root');
    await execa('dpkg-deb', ['-x', join(work, deb), root]);
    const release = pkg.replace(/^linux-image-/, '');
    // The package carries no modules.dep; modinfo needs one to find the modules.
    await execa('depmod', ['-b', root, release]);

    const out = join(work, 'out');
    const modules = join(out, 'modules');
    await mkdir(modules, { recursive: true });
    const vmlinuz = join(out, 'vmlinuz');
    await copyFile(join(root, 'boot', `vmlinuz-${release}`), vmlinuz);
    progress.step('unpacking the uncompressed kernel for a direct (PVH) boot');
    const noPvh = await extractPvhKernel(vmlinuz, join(out, 'vmlinux'));
    if (noPvh) progress.step(`booting the compressed kernel: ${noPvh}`);
    for (const name of GUEST_MODULES) {
      const path = (await execa('modinfo', ['-b', root, '-k', release, '-n', name])).stdout.trim();
      if (path === '(builtin)') continue;
      if (!path.endsWith('.ko')) throw new VmrunError('InvalidState', `module ${name} of ${pkg} is ${path}, which busybox insmod cannot load`);
      await copyFile(path, join(modules, `${name}.ko`));
    }
    const kernel: GuestKernel = {
      package: pkg, release, vmlinuz: join(dir, 'vmlinuz'), image: join(dir, noPvh ? 'vmlinuz' : 'vmlinux'), modules: join(dir, 'modules'),
      moduleNames: GUEST_MODULES,
    };
    await writeFile(join(out, 'kernel.json'), JSON.stringify(kernel, null, 2) + '\n');
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    return kernel;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

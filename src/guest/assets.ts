// The guest assets (kernel and initramfs), built once per host into the cache and rebuilt only
// when something they are made of changes: the kernel package, busybox, node, the agent, init.
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { AccelChoice } from '../host/accel.js';
import { writeFileAtomically } from '../host/atomic-file.js';
import type { Progress } from '../host/progress.js';
import { GUEST_AGENT_SOURCES } from '../paths.js';
import { VmrunError } from '../errors.js';
import { untrustedPath } from '../host/trusted.js';
import { CURRENT, type GuestAssets } from './ready.js';
import { cachedKernel, currentKernelPackage, fetchKernel, GUEST_MODULES, type GuestKernel } from './kernel.js';
import { buildTree, bundleAgent, packTree, stripNode, VMRUN_EXEC_SOURCES } from './initramfs.js';
import { buildNodeImage } from './node-image.js';
import { makeAgentSnapshot } from './snapshot.js';
import { hostHelper } from '../host/helpers.js';
import { scratchDir } from '../host/scratch-dir.js';

export interface AssetPlan {
  kernelPackage: string;
  /** The agent, bundled into one file. */
  agent: string;
  kernel?: GuestKernel;
  key: string;
  /** Undefined when assets for this key are not built yet. */
  built?: GuestAssets;
}

/** What the assets would be made of now, and whether they exist. Changes nothing. */
export async function planAssets(cacheDir: string, accel: AccelChoice): Promise<AssetPlan> {
  const kernelPackage = await currentKernelPackage();
  if (!kernelPackage) {
    throw new VmrunError('InvalidState', 'apt knows no linux-image-cloud-amd64 package: run `apt-get update`');
  }
  // Files another user could have written are made again.
  const cached = await cachedKernel(cacheDir, kernelPackage);
  const kernel = cached && !untrustedPath(cached.image) ? cached : undefined;
  const agent = await bundleAgent();
  // The accelerator too: the agent's snapshot is made under it and refused under another.
  const key = await inputsKey([kernelPackage, accel.accel], agent);
  const initrd = join(cacheDir, 'guest', key, 'initrd.img');
  const nodeImage = join(cacheDir, 'guest', key, NODE_IMAGE);
  const sizeOf = async (f: string) => (untrustedPath(f) ? undefined : await stat(f).then((s) => s.size, () => undefined));
  const nodeBytes = await sizeOf(nodeImage);
  const built = kernel && (await sizeOf(initrd)) !== undefined && nodeBytes !== undefined
    ? { kernel: kernel.image, initrd, node: { path: nodeImage, bytes: nodeBytes }, kernelPackage, key }
    : undefined;
  return { kernelPackage, agent, kernel, key, built };
}

export async function buildAssets(cacheDir: string, plan: AssetPlan, accel: AccelChoice, capsCache: string, progress: Progress): Promise<GuestAssets> {
  const kernel = plan.kernel ?? (await fetchKernel(cacheDir, plan.kernelPackage, progress));
  let assets = plan.built;
  if (!assets) {
    progress.step('building the guest initramfs (busybox, kernel modules, node, the agent)');
    const guestDir = join(cacheDir, 'guest');
    await mkdir(guestDir, { recursive: true, mode: 0o755 });
    const work = await scratchDir(guestDir, '.work-');
    let nodeBytes = 0;
    // QEMU's account boots the new initramfs once, for the agent's snapshot, from in here.
    await chmod(work, 0o755);
    try {
      await buildTree(join(work, 'tree'), kernel, plan.agent);
      await mkdir(join(work, 'out'));
      const initrd = join(work, 'out', 'initrd.img');
      await packTree(join(work, 'tree'), initrd);
      await mkdir(join(work, 'node'));
      await stripNode(join(work, 'node', 'node'));
      const nodeImage = join(work, 'out', NODE_IMAGE);
      nodeBytes = await buildNodeImage(join(work, 'node'), nodeImage, plan.key);
      // The snapshot goes in a second cpio archive after the first; the kernel unpacks both.
      const blob = await makeAgentSnapshot({ kernel: kernel.image, initrd, node: { path: nodeImage, bytes: nodeBytes } }, accel, capsCache, await hostHelper(cacheDir, 'vmrun-warden'), progress);
      if (blob) {
        await mkdir(join(work, 'snapshot', 'agent'), { recursive: true });
        await writeFile(join(work, 'snapshot', 'agent', 'agent.blob'), blob);
        await packTree(join(work, 'snapshot'), join(work, 'snapshot.cpio'));
        await appendFile(initrd, await readFile(join(work, 'snapshot.cpio')));
      }
      await rm(join(guestDir, plan.key), { recursive: true, force: true });
      await rename(join(work, 'out'), join(guestDir, plan.key));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    // Earlier builds are of no more use (a VM still running one keeps its open file).
    for (const old of await readdir(guestDir)) {
      if (old !== plan.key && !old.startsWith('.work-')) await rm(join(guestDir, old), { recursive: true, force: true });
    }
    assets = { kernel: kernel.image, initrd: join(guestDir, plan.key, 'initrd.img'), node: { path: join(guestDir, plan.key, NODE_IMAGE), bytes: nodeBytes }, kernelPackage: plan.kernelPackage, key: plan.key };
  }
  await writeFileAtomically(join(cacheDir, CURRENT), JSON.stringify(assets, null, 2) + '\n');
  return assets;
}

/** node's disk, beside the initramfs. */
const NODE_IMAGE = 'node.img';

/** A digest of everything the initramfs is made of. */
async function inputsKey(names: string[], agent: string): Promise<string> {
  // busybox's and libseccomp's versions: both are copied or linked into the image; e2fsprogs
  // makes node's disk.
  const versions = await execa('dpkg-query', ['-W', '-f', '${Version}\n', 'busybox-static', 'libseccomp-dev', 'e2fsprogs'], { reject: false });
  const node = await stat(process.execPath);
  const hash = createHash('sha256')
    .update([...names, ...GUEST_MODULES, versions.stdout, process.version, node.size, node.mtimeMs].join('\n'))
    .update(agent);
  for (const file of ['init.sh', 'vmrun-exec.h', ...VMRUN_EXEC_SOURCES]) hash.update(await readFile(join(GUEST_AGENT_SOURCES, file)));
  return hash.digest('hex').slice(0, 16);
}

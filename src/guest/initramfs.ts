// The guest's initramfs: busybox, the kernel modules, node's libraries and the agent, vmrun-exec,
// and init.sh as /init. Node itself is on a virtio-pmem disk of its own (src/guest/node-image.ts),
// which the host's page cache holds once for every VM (docs/architecture.md, "Guest").
import { chmod, copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { execa } from 'execa';
import { DIST_DIR, GUEST_AGENT_SOURCES } from '../paths.js';
import { BACKGROUND_MODULES, BOOT_MODULES, GUEST_MODULES, NETWORK_MODULES, type GuestKernel } from './kernel.js';

export const BUSYBOX = '/bin/busybox';
/** vmrun-exec's sources in guest-agent/ (with vmrun-exec.h); the guest's assets are keyed on them. */
export const VMRUN_EXEC_SOURCES = ['vmrun-exec.c', 'namespaces.c', 'device-filter.c', 'seccomp.c', 'seccomp.h'];

/** Fills `tree` with the initramfs's files. */
export async function buildTree(tree: string, kernel: GuestKernel, agent: string): Promise<void> {
  for (const d of ['bin', 'usr/bin', 'proc', 'sys', 'dev', 'run', 'tmp', 'lib/modules', 'agent']) {
    await mkdir(join(tree, d), { recursive: true });
  }
  await copyFile(BUSYBOX, join(tree, 'bin/busybox'));
  const applets = (await execa(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => symlink('busybox', join(tree, 'bin', a))));
  await execa('mknod', ['-m', '600', join(tree, 'dev/console'), 'c', '5', '1']);

  const modules = (await readdir(kernel.modules)).map((f) => f.replace(/\.ko$/, ''));
  for (const m of GUEST_MODULES.filter((m) => modules.includes(m))) {
    await copyFile(join(kernel.modules, `${m}.ko`), join(tree, 'lib/modules', `${m}.ko`));
  }
  // init.sh loads `order` at boot and `background` while node starts; the agent loads `network`
  // when a container has interfaces.
  const list = (names: string[]) => names.filter((m) => modules.includes(m)).join('\n') + '\n';
  await writeFile(join(tree, 'lib/modules/order'), list(BOOT_MODULES));
  await writeFile(join(tree, 'lib/modules/network'), list(NETWORK_MODULES));
  await writeFile(join(tree, 'lib/modules/background'), list(BACKGROUND_MODULES));

  await copyNodeLibraries(tree);
  await writeFile(join(tree, 'agent', 'main.cjs'), agent);
  const sources = VMRUN_EXEC_SOURCES.filter((f) => f.endsWith('.c')).map((f) => join(GUEST_AGENT_SOURCES, f));
  // libseccomp (libseccomp-dev's libseccomp.a) for the container's system call filter.
  await execa('gcc', ['-static', '-Os', '-s', '-Wall', '-o', join(tree, 'bin/vmrun-exec'), ...sources, '-lseccomp']);
  await copyFile(join(GUEST_AGENT_SOURCES, 'init.sh'), join(tree, 'init'));
  await chmod(join(tree, 'init'), 0o755);
}

/** Packs the tree as a newc cpio archive owned by root. */
export async function packTree(tree: string, out: string): Promise<void> {
  await execa('sh', ['-c', 'find . -print0 | cpio --null --quiet -o -H newc -R 0:0 > "$0"', out], { cwd: tree });
}

/** The node binary running vmrun, for its own image (src/guest/node-image.ts). */
export async function stripNode(out: string): Promise<void> {
  // Without its debug sections node is 86 MB instead of 99.
  await execa('objcopy', ['--strip-all', process.execPath, out]);
}

/** The libraries node loads; node itself is on its own disk, mounted on usr/bin. */
async function copyNodeLibraries(tree: string): Promise<void> {
  const ldd = (await execa('ldd', [process.execPath])).stdout;
  for (const lib of ldd.match(/\/\S+/g) ?? []) {
    await mkdir(join(tree, dirname(lib)), { recursive: true });
    await copyFile(lib, join(tree, lib));
  }
}

/**
 * The agent as one CommonJS file: under TCG, node takes 0.8 s less to load it than the dozen
 * ES modules it is made of (esbuild, from the JavaScript in dist/).
 */
export async function bundleAgent(): Promise<string> {
  const result = await build({
    entryPoints: [join(DIST_DIR, 'guest-agent', 'main.js')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

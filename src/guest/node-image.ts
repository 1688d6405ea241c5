// The guest's node on a disk of its own: an ext4 image that every VM maps from the host's page
// cache through a virtio-pmem device, and the guest mounts with DAX, so node's 86 MB are in
// the host's memory once however many VMs run, instead of in each guest's RAM (the initramfs).
import { mkdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** Where the guest mounts it (guest-agent/init.sh): node is /usr/bin/node, as in the initramfs. */
export const NODE_MOUNT = '/usr/bin';
/** virtio-pmem's size is whole 2 MiB pages (the guest maps it in huge pages with DAX). */
const ALIGN = 2 * 1024 * 1024;
/** Room for ext4's own blocks beside node. */
const SLACK = 8 * 1024 * 1024;

/** Writes the image of `node` (already stripped) to `out`; returns its size in bytes. */
export async function buildNodeImage(node: string, out: string, work: string): Promise<number> {
  const tree = join(work, 'node-tree');
  await mkdir(tree, { recursive: true });
  await execa('cp', ['-p', node, join(tree, 'node')]);
  const bytes = Math.ceil(((await stat(node)).size + SLACK) / ALIGN) * ALIGN;
  // 4 KiB blocks, as DAX needs; no journal (it is mounted read-only); owned by root.
  await execa('mkfs.ext4', ['-q', '-F', '-b', '4096', '-O', '^has_journal', '-E', 'root_owner=0:0', '-L', 'vmrun-node', '-d', tree, out, `${bytes / 1024}k`]);
  await truncate(out, bytes);
  return bytes;
}

// The guest's node on a disk of its own: an ext4 image that every VM maps from the host's page
// cache through a virtio-pmem device, and the guest mounts with DAX, so node's 86 MB are in
// the host's memory once however many VMs run, instead of in each guest's RAM (the initramfs).
import { createHash } from 'node:crypto';
import { chmod, stat, truncate, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** virtio-pmem's size is whole 2 MiB pages (the guest maps it in huge pages with DAX). */
const ALIGN = 2 * 1024 * 1024;
/** What e2fsprogs stamps for "now", in seconds. */
const FIXED_TIME = { E2FSPROGS_FAKE_TIME: '1' };
/** Room for ext4's own blocks beside node. */
const SLACK = 8 * 1024 * 1024;

/**
 * Writes the image of `tree`, a folder holding only node (stripped), to `out`; returns its size
 * in bytes. The image is
 * the same bytes whenever it is made from the same `seed` and node: a restore image holds the
 * guest's cached view of this filesystem, so a rebuild under the same assets key must not change
 * it (mkfs would pick a new UUID, hash seed and times).
 */
export async function buildNodeImage(tree: string, out: string, seed: string): Promise<number> {
  const node = join(tree, 'node');
  await utimes(node, 1, 1);
  await utimes(tree, 1, 1);
  const bytes = Math.ceil(((await stat(node)).size + SLACK) / ALIGN) * ALIGN;
  const uuid = createHash('sha256').update(seed).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/, '$1-$2-$3-$4-$5');
  // 4 KiB blocks, as DAX needs; no journal (it is mounted read-only); owned by root; a few
  // inodes (mkfs's default for this size is one per block, a sixteenth of the disk).
  await execa('mkfs.ext4', [
    '-q', '-F', '-b', '4096', '-O', '^has_journal,^resize_inode', '-N', '16', '-m', '0', '-U', uuid,
    '-E', `root_owner=0:0,hash_seed=${uuid}`, '-L', 'vmrun-node', '-d', tree, out, `${bytes / 1024}k`,
  ], { env: FIXED_TIME });
  // mkfs copies the file's ctime, which no call can set on the host.
  await execa('debugfs', ['-w', '-f', '-', out], { input: 'sif /node ctime 1\nsif / ctime 1\n', env: FIXED_TIME });
  await truncate(out, bytes);
  await chmod(out, 0o644);
  return bytes;
}

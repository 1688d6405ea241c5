// OCI image archives made without any registry, from plain folders: what busybox-image and
// test/cri/images/build-images share. Plain JavaScript, so that both run under node as they are.
// Fixed owners and times, so that the same input always gives the same digests.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const TAR_FLAGS = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0'];
export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A plain tarball of folder `tree` (a layer before compression). */
export function tarOf(tree) {
  return execFileSync('tar', ['-C', tree, ...TAR_FLAGS, '-c', '.'], { maxBuffer: 1 << 28 });
}

/**
 * A busybox root filesystem in `tree`: the binary at /bin/busybox, a minimal /etc/passwd and
 * /etc/group, and its applets either as symlinks in /bin (`--list`, as busybox-image has always
 * made) or, with `fullPaths`, at busybox's own paths (`--list-full`), as hard links when
 * `hardLinks` (as the real busybox images: masking /bin/ls then masks ls only).
 */
export function busyboxTree(tree, { busybox = '/bin/busybox', fullPaths = false, hardLinks = false } = {}) {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(tree, d), { recursive: true });
  copyFileSync(busybox, join(tree, 'bin/busybox'));
  const applets = execFileSync(busybox, [fullPaths ? '--list-full' : '--list'], { encoding: 'utf8' }).split('\n');
  for (const a of applets) {
    if (!a || a === 'busybox' || a === 'bin/busybox') continue;
    const path = join(tree, fullPaths ? a : join('bin', a));
    mkdirSync(dirname(path), { recursive: true });
    if (hardLinks) linkSync(join(tree, 'bin/busybox'), path);
    else symlinkSync(fullPaths ? '/bin/busybox' : 'busybox', path);
  }
  writeFileSync(join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(tree, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/**
 * Writes an OCI image layout tarball holding `images`, each
 * `{ layers: [folder...], config: {Env, Cmd, ...}, name? }`. A `name` goes into the index's
 * `io.containerd.image.name` annotation, which `ctr images import` names the image by (without
 * one, import with --index-name). Layers shared by several images are stored once.
 */
export function writeOciArchive(out, images) {
  const work = mkdtempSync(join(tmpdir(), 'oci-layout-'));
  try {
    const layout = join(work, 'layout');
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    const blob = (bytes, mediaType) => {
      const digest = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(layout, 'blobs/sha256', digest), bytes);
      return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
    };
    const json = (value, mediaType) => blob(Buffer.from(JSON.stringify(value)), mediaType);
    const layers = new Map();
    const layerOf = (tree) => {
      if (!layers.has(tree)) {
        const tar = tarOf(tree);
        const gz = execFileSync('gzip', ['-n', '-9'], { input: tar, maxBuffer: 1 << 28 });
        // The diff id is the digest of the layer before compression.
        layers.set(tree, { desc: blob(gz, 'application/vnd.oci.image.layer.v1.tar+gzip'), diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` });
      }
      return layers.get(tree);
    };
    const manifests = images.map(({ layers: trees, config, name }) => {
      const ls = trees.map(layerOf);
      const cfg = json({
        architecture: 'amd64',
        os: 'linux',
        config,
        rootfs: { type: 'layers', diff_ids: ls.map((l) => l.diffId) },
      }, 'application/vnd.oci.image.config.v1+json');
      const manifest = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers: ls.map((l) => l.desc) },
        'application/vnd.oci.image.manifest.v1+json');
      const annotations = name ? { annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').at(-1) } } : {};
      return { ...manifest, platform: { architecture: 'amd64', os: 'linux' }, ...annotations };
    });
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    execFileSync('tar', ['-C', layout, ...TAR_FLAGS, '-cf', resolve(out), 'oci-layout', 'index.json', 'blobs']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

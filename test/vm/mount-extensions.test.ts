// runc's mount extensions in the guest, each compared with Debian's runc on the same bundle:
// propagation options on binds, tmpcopyup, rro over a bind's tree, and a Podman-like bundle
// (read-only root, tmpfs with tmpcopyup); and a config.json of runtime-spec 1.3.
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Spec } from '../../src/generated/config.js';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const PROPAGATION = ['rshared', 'shared', 'rslave', 'slave', 'rprivate', 'private', 'runbindable', 'unbindable'];
let runcRoot = '';

/** Runs the same bundle under Debian's runc: its stdout, or the error it printed. */
function underRunc(bundle: string, id: string): string {
  return execFileSync('runc', ['--root', runcRoot, 'run', '--bundle', bundle, id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Two bundles made alike, one for each runtime. */
async function bundles(script: string, edit: (spec: Spec) => void, rootfs: (dir: string) => Promise<void> = async () => {}) {
  const made: string[] = [];
  for (let i = 0; i < 2; i++) {
    const b = await vm.bundle('sh', '-c', script);
    await editConfig(b, edit);
    await rootfs(join(b, 'rootfs'));
    made.push(b);
  }
  return made as [string, string];
}

/** mountinfo's lines for mount points under `under`: the point and its propagation fields (shared:N → shared). */
function propagationOf(mountinfo: string, under: string): string[] {
  return mountinfo.split('\n').flatMap((line) => {
    const fields = line.split(' - ')[0]!.split(' ');
    if (!fields[4]?.startsWith(under)) return [];
    return [[fields[4], ...fields.slice(6).map((f) => f.replace(/:\d+$/, ''))].join(' ')];
  });
}

afterAll(() => {
  if (runcRoot) execFileSync('rm', ['-rf', runcRoot]);
});

describe('mount extensions, as under runc', () => {
  test('each propagation option on a bind shows in mountinfo as under runc', async () => {
    runcRoot = await mkdtemp(join(tmpdir(), 'vmrun-runc-root-'));
    const host = await mkdtemp(join(tmpdir(), 'vmrun-prop-'));
    const [forRunc, forVmrun] = await bundles('cat /proc/self/mountinfo', (spec) => {
      for (const o of PROPAGATION) spec.mounts!.push({ destination: `/p/${o}`, type: 'bind', source: host, options: ['rbind', o] });
    });
    const runc = propagationOf(underRunc(forRunc, 'prop-runc'), '/p/');
    const r = await vm.vmrun(['run', '--bundle', forVmrun, 'prop-vmrun']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(propagationOf(r.stdout, '/p/')).toEqual(runc);
    // What runc shows here: shared binds in peer groups, a slave of a private mount private.
    expect(runc).toEqual([
      '/p/rshared shared', '/p/shared shared', '/p/rslave', '/p/slave', '/p/rprivate', '/p/private',
      '/p/runbindable unbindable', '/p/unbindable unbindable',
    ]);
  });

  test("tmpcopyup starts the tmpfs with the folder's files, modes, owners and links, as runc does", async () => {
    const script = [
      "grep ' /opt/data ' /proc/self/mountinfo | cut -d' ' -f5,9",
      'cd /opt/data && find . | sort | while read f; do stat -c "%n %F %a %u %g %s" "$f"; done',
      'cat /opt/data/file /opt/data/sub/deep; readlink /opt/data/link',
      'echo new > /opt/data/new && echo writable',
    ].join('\n');
    const [forRunc, forVmrun] = await bundles(script, (spec) => {
      spec.mounts!.push({ destination: '/opt/data', type: 'tmpfs', source: 'tmpfs', options: ['rprivate', 'nosuid', 'tmpcopyup', 'size=4m'] });
    }, async (rootfs) => {
      const data = join(rootfs, 'opt', 'data');
      await mkdir(join(data, 'sub'), { recursive: true });
      await chmod(data, 0o750);
      await writeFile(join(data, 'file'), 'in the image\n', { mode: 0o604 });
      await chown(join(data, 'file'), 1000, 1001);
      await writeFile(join(data, 'sub', 'deep'), 'deeper\n');
      await mkdir(join(data, 'sticky'));
      await chmod(join(data, 'sticky'), 0o1777);
      await symlink('file', join(data, 'link'));
    });
    const runc = underRunc(forRunc, 'copyup-runc').trimEnd();
    const r = await vm.vmrun(['run', '--bundle', forVmrun, 'copyup-vmrun']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    // runc 1.1 makes the copied folders under its umask (later runc keeps their modes, as vmrun does).
    const sticky = /^\.\/sticky directory .*\n/m;
    expect(r.stdout.replace(sticky, '')).toBe(runc.replace(sticky, ''));
    expect(r.stdout).toMatch(/^\.\/sticky directory 1777 /m);
    expect(runc).toMatch(/^\.\/sticky directory 1755 /m);
    expect(runc).toMatch(/^\/opt\/data tmpfs$/m);
    expect(runc).toMatch(/^\. directory 750 0 0 /m);
    expect(runc).toMatch(/^\.\/file regular file 604 1000 1001 13$/m);
    expect(runc).toMatch(/^\.\/sub directory 755 /m);
    expect(runc).toMatch(/^in the image\ndeeper\nfile\nwritable$/m);
  });

  test('rro makes a bind read-only with its submounts; ro only its top, as runc 1.1 does', async () => {
    const host = await mkdtemp(join(tmpdir(), 'vmrun-rro-'));
    await mkdir(join(host, 'inner'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'vmrun-test', join(host, 'inner')]);
    try {
      const script = ['rro', 'ro'].map((o) =>
        `touch /${o}/x 2>/dev/null && echo "${o} top rw" || echo "${o} top ro"; ` +
        `touch /${o}/inner/x 2>/dev/null && echo "${o} inner rw" || echo "${o} inner ro"`).join('\n');
      const [forRunc, forVmrun] = await bundles(script, (spec) => {
        spec.mounts!.push(
          { destination: '/rro', type: 'bind', source: host, options: ['rbind', 'rro'] },
          { destination: '/ro', type: 'bind', source: host, options: ['rbind', 'ro'] },
        );
      });
      const runc = underRunc(forRunc, 'rro-runc').trimEnd();
      const r = await vm.vmrun(['run', '--bundle', forVmrun, 'rro-vmrun']);
      expect(r).toMatchObject({ exitCode: 0, stderr: '' });
      expect(r.stdout).toBe(runc);
      expect(runc.split('\n')).toEqual(['rro top ro', 'rro inner ro', 'ro top ro', 'ro inner rw']);
    } finally {
      execFileSync('umount', [join(host, 'inner')]);
    }
  });

  test('a Podman-like bundle runs: a read-only root, tmpfs with tmpcopyup on /run, /tmp and /scratch', async () => {
    const bundle = await vm.bundle('sh', '-c', 'touch /scratch/x && ls /scratch && touch /run/y && touch /z 2>/dev/null || echo "root ro"');
    await editConfig(bundle, (spec) => {
      spec.root.readonly = true;
      for (const dir of ['/run', '/tmp', '/var/tmp']) {
        spec.mounts!.push({ destination: dir, type: 'tmpfs', source: 'tmpfs', options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'] });
      }
      spec.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'rprivate', 'noexec', 'nosuid', 'nodev', 'tmpcopyup'] });
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'podmanish']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '', stdout: 'x\nroot ro' });
  });

  test('linux.rootfsPropagation shared makes the root a shared mount', async () => {
    const bundle = await vm.bundle('sh', '-c', "grep ' / / ' /proc/self/mountinfo | cut -d' ' -f7");
    await editConfig(bundle, (spec) => void (spec.linux!.rootfsPropagation = 'shared'));
    const r = await vm.vmrun(['run', '--bundle', bundle, 'rootprop']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/^shared:\d+$/);
  });
});

test('a config.json of runtime-spec 1.3.0 runs, and its fields vmrun does not apply are named', async () => {
  const bundle = await vm.bundle('echo', 'ran');
  await editConfig(bundle, (spec) => {
    const s = spec as Spec & { linux: Record<string, unknown> };
    s.ociVersion = '1.3.0';
    s.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0' };
    s.linux.resources = { pids: {} };
  });
  // Said in the --log file, as runc warns; never on stderr, which may be the container's own.
  const log = join(bundle, 'vmrun.log');
  const r = await vm.vmrun(['--log', log, 'run', '--bundle', bundle, 'spec13']);
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toBe('ran');
  expect(r.stderr).toBe('');
  expect(await readFile(log, 'utf8')).toMatch(/config\.json fields vmrun does not apply: \/linux\/memoryPolicy/);
  // Without --log, only --debug says it.
  const quiet = await vm.vmrun(['run', '--bundle', bundle, 'spec13b']);
  expect(quiet).toMatchObject({ exitCode: 0, stdout: 'ran', stderr: '' });
});

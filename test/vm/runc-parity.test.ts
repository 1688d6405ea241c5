// A bundle made by `spec` and edited the way Docker edits one, run under runc and under vmrun
// on the same host: the process must see the same things (test/run installs Debian's runc).
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();

/** What the process reports about itself: nothing that differs by nature (kernel, pids, fs types). */
const OBSERVE = [
  'id; echo "umask $(umask)"; echo "pwd $(pwd)"; hostname; env | sort',
  "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Groups):' /proc/self/status",
  "grep -E '^Max (open files|processes)' /proc/self/limits",
  'touch /x 2>/dev/null && echo "root rw" || echo "root ro"',
  'touch /tmp/x && echo "tmp rw"; stat -c "tmp mode %a" /tmp; stat -c "cache mode %a" /cache',
  'cat /data/hello; touch /data/y 2>/dev/null && echo "data rw" || echo "data ro"',
  "grep -E ' /(tmp|data) ' /proc/self/mountinfo | awk '{ split($6, o, \",\"); print \"mount\", $5, o[1] }' | sort",
  // runc's default devices and links in /dev
  'for d in null zero full random urandom tty ptmx fd stdin stdout stderr pts shm mqueue; do stat -c "%n %F %t:%T %a" /dev/$d; done',
].join('\n');

/** Docker's edits: a user with groups, a read-only root, a tmpfs, a bind, rlimits, capabilities, a hostname, a prestart hook. */
async function dockerLikeBundle(hostData: string, hookLog: string): Promise<string> {
  const bundle = await vm.bundle('sh', '-c', OBSERVE);
  await editConfig(bundle, (spec) => {
    spec.process.user = { uid: 1000, gid: 1000, additionalGids: [10, 20] };
    spec.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=dockerish'];
    spec.process.cwd = '/home/app';
    spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }, { type: 'RLIMIT_NPROC', soft: 500, hard: 600 }];
    const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_SETGID', 'CAP_SETUID',
      'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
    spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    spec.root.readonly = true;
    spec.hostname = 'dockerish';
    spec.mounts!.push(
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'noexec', 'mode=1777'] },
      // runc 1.1 gives a tmpfs over an existing folder that folder's mode, whatever mode= says.
      { destination: '/cache', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777'] },
      { destination: '/data', type: 'bind', source: hostData, options: ['rbind', 'ro', 'rprivate'] },
    );
    spec.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `grep -o '"status":"[a-z]*"' >> ${hookLog}`] }] };
  });
  await mkdir(join(bundle, 'rootfs', 'data'));
  await chmod(join(bundle, 'rootfs', 'tmp'), 0o1777); // as in images
  await mkdir(join(bundle, 'rootfs', 'cache'), 0o700);
  await writeFile(join(bundle, 'rootfs', 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  return bundle;
}

describe('runc parity', () => {
  test('a Docker-like bundle shows the same process, mounts and hook state under runc and vmrun', async () => {
    const host = await mkdtemp(join(tmpdir(), 'vmrun-parity-'));
    await chmod(host, 0o755); // user 1000 reads the bound folder
    await writeFile(join(host, 'hello'), 'hello from the host\n');

    const runcBundle = await dockerLikeBundle(host, join(host, 'runc-hook.log'));
    const underRunc = execFileSync('runc', ['--root', join(host, 'runc-root'), 'run', '--bundle', runcBundle, 'parity-runc'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });

    const vmrunBundle = await dockerLikeBundle(host, join(host, 'vmrun-hook.log'));
    const r = await vm.vmrun(['run', '--bundle', vmrunBundle, 'parity-vmrun']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);

    expect(r.stdout.split('\n')).toEqual(underRunc.trimEnd().split('\n'));
    // Worth seeing on its own too: what the observations are.
    expect(underRunc).toMatch(/^uid=1000\(app\) gid=1000 groups=10,20/);
    expect(underRunc).toMatch(/^root ro$/m);
    expect(underRunc).toMatch(/^data ro$/m);
    expect(underRunc).toMatch(/^tmp rw$/m);
    expect(underRunc).toMatch(/^cache mode 700$/m);
    expect(await readFile(join(host, 'vmrun-hook.log'), 'utf8')).toBe(await readFile(join(host, 'runc-hook.log'), 'utf8'));
  });
});

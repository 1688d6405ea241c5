// Podman (with conmon) for one test file, with storage, networks and vmrun's --root of the
// file's own: before it, a busybox image imported from busybox-static (no registry); after it,
// every container, volume and network removed, and a check that nothing of vmrun is left.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { VMRUN } from '../helpers/cli.js';
import { cli, expectNothingLeft, importBusybox, type Engine } from './engine.js';

/** runc and crun need these on these machines (no CAP_SYS_RESOURCE here); vmrun does not. */
const RUNC_ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000'];
const SYSTEM_CONF = '/usr/share/containers/containers.conf';

/**
 * The system's containers.conf with RUNC_ULIMITS as defaults, for runc: a pod's infra container
 * takes no --ulimit. Podman then reads this file instead of the system's.
 */
function runcConf(): string {
  const ulimits = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]';
  const system = existsSync(SYSTEM_CONF) ? readFileSync(SYSTEM_CONF, 'utf8') : '';
  return /^\[containers\]$/m.test(system) ? system.replace(/^\[containers\]$/m, ulimits) : `${ulimits}\n${system}`;
}

export function podmanEngine(): Engine {
  const e: Engine = {
    name: 'podman',
    dir: '',
    vmrunRoot: '',
    argv: (runtime = 'vmrun') => [
      ...(runtime === 'runc' ? ['env', `CONTAINERS_CONF=${join(e.dir, 'runc-containers.conf')}`] : []),
      'podman', '--root', join(e.dir, 'storage'), '--runroot', join(e.dir, 'run'), '--tmpdir', join(e.dir, 'tmp'),
      '--network-config-dir', join(e.dir, 'networks'), '--events-backend', 'file', '--cgroup-manager', 'cgroupfs',
      '--runtime', runtime === 'vmrun' ? VMRUN : 'runc',
    ],
    runFlags: (runtime = 'vmrun') => (runtime === 'runc' ? RUNC_ULIMITS : []),
  };

  beforeAll(async () => {
    e.dir = await mkdtemp('/tmp/vmrun-podman-');
    // Podman passes its runtime no --root (nor --runtime-flag to the cleanup conmon runs).
    e.vmrunRoot = '/run/vmrun';
    await writeFile(join(e.dir, 'runc-containers.conf'), runcConf());
    await importBusybox(e, ['CMD=["sh"]', 'ENV=PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  afterAll(async () => {
    if (!e.dir) return;
    const ids = (await cli(e, ['events', '--stream=false', '--filter', 'type=container', '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);
    // Whatever a failed test left (pods first: rm --all leaves their infra containers running),
    // then the storage itself.
    await cli(e, ['pod', 'rm', '--all', '--force', '--time', '0']);
    await cli(e, ['rm', '--all', '--force', '--time', '0']);
    await cli(e, ['system', 'reset', '--force']);
    await expectNothingLeft(e, ids);
  });
  return e;
}

// Docker (dockerd and the containerd it starts) for one test file, started by hand rather than by
// systemd, with its data root, exec root and socket in a scratch folder and vmrun added as the
// runtime `vmrun`: before it, a busybox image imported from busybox-static (no registry); after
// it, every container, volume and network removed, dockerd stopped, and a check that nothing of
// vmrun, dockerd or its containerd is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { VMRUN } from '../helpers/cli.js';
import { until } from '../vm/harness.js';
import { cli, expectNothingLeft, importBusybox, psLines, type Engine } from './engine.js';

/** Debian's docker.io; /usr/local/bin/docker may be another client. */
const DOCKER = '/usr/bin/docker';

export function dockerEngine(): Engine {
  let daemon: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const e: Engine = {
    name: 'docker',
    dir: '',
    vmrunRoot: '',
    argv: () => [DOCKER, '-H', `unix://${join(e.dir, 'docker.sock')}`],
    runFlags: (runtime = 'vmrun') => ['--runtime', runtime],
  };

  beforeAll(async () => {
    e.dir = await mkdtemp('/tmp/vmrun-docker-');
    // The shim gives its runtime the root <exec-root>/runtime-runc/<namespace>: Docker 20.10
    // names every runc-like runtime's root after runc, its default (seen for --add-runtime ones).
    e.vmrunRoot = join(e.dir, 'exec', 'runtime-runc', 'moby');
    // A configuration of its own: the host's /etc/docker/daemon.json may name vmrun already.
    const config = join(e.dir, 'daemon.json');
    await writeFile(config, '{}\n');
    const log = openSync(join(e.dir, 'dockerd.log'), 'a');
    try {
      daemon = spawn('dockerd', [
        '--config-file', config, '--data-root', join(e.dir, 'data'), '--exec-root', join(e.dir, 'exec'), '--pidfile', join(e.dir, 'dockerd.pid'),
        '-H', `unix://${join(e.dir, 'docker.sock')}`, '--add-runtime', `vmrun=${VMRUN}`,
      ], { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    exited = new Promise((resolve) => daemon!.on('exit', resolve).on('error', resolve));
    const up = async () => (await cli(e, ['info', '--format', '{{.ServerVersion}}'])).exitCode === 0;
    await until(up, 60_000).catch(async () => {
      throw new Error(`dockerd did not start: ${(await readFile(join(e.dir, 'dockerd.log'), 'utf8')).slice(-2000)}`);
    });
    await importBusybox(e, ['CMD ["sh"]', 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  afterAll(async () => {
    if (!e.dir) return;
    let ids: string[] = [];
    if (daemon) {
      const since = ['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000)), '--filter', 'type=container', '--format', '{{.ID}}'];
      ids = (await cli(e, since)).stdout.split('\n').filter(Boolean);
      // Whatever a failed test left.
      const all = (await cli(e, ['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean);
      if (all.length) await cli(e, ['rm', '-f', ...all]);
      await cli(e, ['volume', 'prune', '-f']);
      await cli(e, ['network', 'prune', '-f']);
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    // dockerd's containerd ends once dockerd has.
    await until(() => !psLines().some((l) => l.includes(e.dir)), 20_000).catch(() => undefined);
    await expectNothingLeft(e, ids);
  });
  return e;
}

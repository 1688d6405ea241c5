// A containerd of the tests' own, started by hand rather than by systemd: its config, root,
// state, socket and log all in one scratch folder, so that it shares nothing with the host's.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { until } from '../vm/harness.js';
import { ctr } from './ctr.js';

export interface Daemon {
  address: string;
  log: string;
  /** overlayfs when containerd found it usable here, else native. */
  snapshotter: string;
  /** TERM, then KILL if containerd has not ended within 10 s. */
  stop(): Promise<void>;
}

/** With `config` (a whole config.toml whose grpc address is dir/containerd.sock), that one. */
export async function startContainerd(dir: string, opts: { config?: string } = {}): Promise<Daemon> {
  const address = join(dir, 'containerd.sock');
  const log = join(dir, 'containerd.log');
  const config = join(dir, 'config.toml');
  // TOML's basic strings are JSON's. The CRI plugin would want a CNI set-up nobody uses here;
  // "opt" would otherwise be /opt/containerd. Debug, so that the shim's messages reach the log.
  await writeFile(config, opts.config ?? [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '[debug]',
    '  level = "debug"',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(dir, 'opt'))}`,
    '',
  ].join('\n'));
  const fd = openSync(log, 'a');
  let daemon: ChildProcess;
  try {
    daemon = spawn('containerd', ['--config', config], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  /** Why containerd is gone, once it is. */
  let ended: string | undefined;
  const exited = new Promise<void>((resolve) => {
    daemon.on('exit', (code, signal) => {
      ended = `ended with ${signal ?? code}`;
      resolve();
    });
    daemon.on('error', (e) => {
      ended = e.message; // not installed, say
      resolve();
    });
  });
  const stop = async () => {
    if (ended) return;
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await until(async () => {
      if (ended) throw new Error(`containerd ${ended} at start:\n${await readFile(log, 'utf8')}`);
      return (await ctr(['--address', address, 'version'], { timeoutMs: 5_000 })).exitCode === 0;
    }, 30_000);
    // The overlayfs plugin loads only where an overlay mount works (not on an overlay root, say).
    const plugins = await ctr(['--address', address, 'plugins', 'ls']);
    const overlay = /^io\.containerd\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok\s*$/m.test(plugins.stdout);
    return { address, log, snapshotter: overlay ? 'overlayfs' : 'native', stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

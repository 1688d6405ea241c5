import type { Command } from 'commander';
import { VmrunError } from '../../errors.js';
import { accelRequest, chooseAccel } from '../../host/accel.js';
import { cacheDir } from '../../paths.js';
import type { CreateOptions } from '../../runtime/create.js';
import { contextOf, globalsOf } from '../globals.js';
import { verb } from '../run-verb.js';

export interface CreateFlags {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: string;
}

/** The flags runc's create takes, shared with run. */
export function createFlags(cmd: Command): Command {
  return cmd
    .option('-b, --bundle <dir>', 'the bundle of the container', '.')
    .option('--pid-file <file>', 'write the pid of the container\'s monitor here')
    .option('--console-socket <path>', 'unix socket to receive the pty master of a terminal')
    .option('--no-pivot', 'accepted for runc compatibility')
    .option('--no-new-keyring', 'accepted for runc compatibility')
    .option('--preserve-fds <n>', 'extra fds to pass to the container', '0');
}

/** What create needs beyond the flags: the accelerator, the cache, the logging of the monitor. */
export function createOptions(flags: CreateFlags, cmd: Command): CreateOptions {
  if (flags.preserveFds !== '0') {
    throw new VmrunError('InvalidArgument', `--preserve-fds ${flags.preserveFds}: host fds cannot be passed into a VM`);
  }
  const g = globalsOf(cmd);
  const accel = chooseAccel(accelRequest(g.accel));
  return {
    bundle: flags.bundle, pidFile: flags.pidFile, consoleSocket: flags.consoleSocket, accel, cacheDir: cacheDir(),
    logFile: g.log, logFormat: g.logFormat, debug: g.debug,
  };
}

export function register(program: Command): void {
  createFlags(program.command('create'))
    .description('create a container in a new VM; its process waits for start')
    .argument('<container-id>')
    .action(
      verb(async (id: string, flags: CreateFlags, cmd: Command) => {
        const { createContainer } = await import('../../runtime/create.js');
        const monitor = await createContainer(contextOf(cmd), id, createOptions(flags, cmd));
        // The monitor lives on after create returns, with the container's stdio.
        monitor.unref();
      }),
    );
}

import type { Command } from 'commander';
import { VmrunError } from '../../errors.js';
import type { Spec } from '../../generated/config.js';
import { cacheDir } from '../../paths.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { contextOf } from '../globals.js';
import { readJsonFlag } from '../json-input.js';
import { verb } from '../run-verb.js';

interface ExecFlags {
  process?: string;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  tty?: boolean;
  cwd?: string;
  env: string[];
  user?: string;
  additionalGids: string[];
  cap: string[];
  /** false with --no-new-privs (commander's negated form). */
  newPrivs?: boolean;
  preserveFds: string;
}

const collect = (value: string, all: string[]) => [...all, value];

export function register(program: Command): void {
  program
    .command('exec')
    .description('run another process in a running container; exits with its status')
    .argument('<container-id>')
    .argument('[command...]', 'the program and its arguments, unless --process gives them')
    .option('-p, --process <file>', 'the process as JSON (config.json\'s process), instead of a command')
    .option('-d, --detach', 'return once it runs; the pid in --pid-file exits with its status')
    .option('--pid-file <file>', 'write the pid of the process\'s host stand-in here')
    .option('--console-socket <path>', 'unix socket to receive the pty master of its terminal')
    .option('-t, --tty', 'give it a terminal')
    .option('--cwd <dir>', 'its working directory')
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-u, --user <uid[:gid]>', 'its user and group ids')
    .option('-g, --additional-gids <gid>', 'an additional group (repeatable)', collect, [])
    .option('-c, --cap <capability>', 'add a capability (repeatable)', collect, [])
    .option('--no-new-privs', 'set no_new_privileges')
    .option('--process-label <label>', 'accepted for runc compatibility; the guest has no SELinux')
    .option('--apparmor <profile>', 'accepted for runc compatibility; the guest has no AppArmor')
    .option('--cgroup <path>', 'accepted for runc compatibility; the process joins the container\'s cgroup')
    .option('--ignore-paused', 'accepted for runc compatibility')
    .option('--preserve-fds <n>', 'extra fds to pass to the process', '0')
    .passThroughOptions()
    .action(
      verb(async (id: string, command: string[], flags: ExecFlags, cmd: Command) => {
        if (flags.preserveFds !== '0') {
          throw new VmrunError('InvalidArgument', `--preserve-fds ${flags.preserveFds}: host fds cannot be passed into a VM`);
        }
        const ctx = contextOf(cmd);
        // Loaded here, not by every verb (the relay and its channel cost 0.1 s to load).
        const { execProcess } = await import('../../runtime/exec.js');
        const proc = await processOf(ctx, id, command, flags);
        const status = await execProcess(ctx, id, {
          process: proc, detach: !!flags.detach, pidFile: flags.pidFile, consoleSocket: flags.consoleSocket, cacheDir: cacheDir(),
        });
        if (status !== undefined) process.exitCode = status;
      }),
    );
}

/** --process's file, or config.json's process with the command and the flags in it, as runc does. */
async function processOf(ctx: RuntimeContext, id: string, command: string[], f: ExecFlags): Promise<Spec['process']> {
  const { checkConfigPart, loadBundle } = await import('../../oci/bundle.js');
  if (f.process) {
    if (command.length > 0) throw new VmrunError('InvalidArgument', `--process ${f.process}: give either a process file or a command, not both`);
    return checkConfigPart('process', await readJsonFlag('--process', f.process), `--process ${f.process}`);
  }
  if (command.length === 0) throw new VmrunError('InvalidArgument', 'exec: give a command, or a process file with --process');
  const record = await ctx.store.load(id);
  const base = (await loadBundle(record.bundle)).spec.process;
  const p: Spec['process'] = { ...base, args: command as [string, ...string[]], terminal: !!f.tty };
  delete p.consoleSize;
  if (f.cwd) p.cwd = f.cwd;
  if (f.env.length > 0) p.env = [...(p.env ?? []), ...f.env];
  if (f.user) {
    const [uid, gid] = f.user.split(':').map(Number);
    if (!Number.isInteger(uid) || (gid !== undefined && !Number.isInteger(gid))) throw new VmrunError('InvalidArgument', `--user ${f.user}: not uid[:gid]`);
    p.user = { ...p.user, uid: uid!, gid: gid ?? 0 };
  }
  if (f.additionalGids.length > 0) p.user = { ...p.user, additionalGids: f.additionalGids.map(Number) } as Spec['process']['user'];
  if (f.cap.length > 0 && p.capabilities) {
    const add = (set?: string[]) => [...new Set([...(set ?? []), ...f.cap])];
    p.capabilities = { ...p.capabilities, bounding: add(p.capabilities.bounding), effective: add(p.capabilities.effective), permitted: add(p.capabilities.permitted) };
  }
  if (f.newPrivs === false) p.noNewPrivileges = true;
  return checkConfigPart('process', p, 'exec');
}

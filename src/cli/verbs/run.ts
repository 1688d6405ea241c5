import { once } from 'node:events';
import type { Command } from 'commander';
import { deleteContainer, startContainer } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';
import { createFlags, createOptions, type CreateFlags } from './create.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

export function register(program: Command): void {
  createFlags(program.command('run'))
    .description('create, start, wait for and delete a container; exits with its status')
    .argument('<container-id>')
    .action(
      verb(async (id: string, flags: CreateFlags, cmd: Command) => {
        const { createContainer } = await import('../../runtime/create.js');
        const ctx = contextOf(cmd);
        const monitor = await createContainer(ctx, id, createOptions(flags, cmd));
        const exited = once(monitor, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
        // The monitor has its own session: pass on what this process gets, as runc run does.
        for (const signal of FORWARDED) process.on(signal, () => monitor.kill(signal));
        try {
          await startContainer(ctx, id);
        } catch (e) {
          await deleteContainer(ctx, id, true);
          throw e;
        }
        const [code] = await exited;
        await deleteContainer(ctx, id, true);
        process.exitCode = code ?? 255;
      }),
    );
}

import { once } from 'node:events';
import type { Command } from 'commander';
import { FORWARDED_SIGNALS } from '../../host/signals.js';
import { SizeFollower } from '../../host/stdio.js';
import { loadBundle } from '../../oci/bundle.js';
import { deleteContainer, resizeTerminal, startContainer } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';
import { createFlags, createOptions, type CreateFlags } from './create.js';

async function ttyRequested(bundle: string): Promise<boolean> {
  return !!(await loadBundle(bundle)).spec.process.terminal;
}

export function register(program: Command): void {
  createFlags(program.command('run'))
    .description('create, start, wait for and delete a container; exits with its status')
    .argument('<container-id>')
    .action(
      verb(async (id: string, flags: CreateFlags, cmd: Command) => {
        const { createContainer } = await import('../../runtime/create.js');
        const ctx = contextOf(cmd);
        const monitor = await createContainer(ctx, id, { ...createOptions(flags, cmd), foreground: true });
        const exited = once(monitor, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
        // The monitor has its own session: pass on what this process gets, as runc run does.
        for (const signal of FORWARDED_SIGNALS) process.on(signal, () => monitor.kill(signal));
        // A terminal of the container's own that is this process's: raw here, its size followed.
        const ownTerminal = !flags.consoleSocket && process.stdin.isTTY && (await ttyRequested(flags.bundle));
        if (ownTerminal) {
          process.stdin.setRawMode(true);
          new SizeFollower(process.stdout, ({ rows, cols }) => resizeTerminal(ctx, id, rows, cols));
        }
        try {
          await startContainer(ctx, id);
        } catch (e) {
          await deleteContainer(ctx, id, true);
          throw e;
        }
        const [code] = await exited;
        if (ownTerminal) process.stdin.setRawMode(false);
        await deleteContainer(ctx, id, true);
        process.exitCode = code ?? 255;
      }),
    );
}

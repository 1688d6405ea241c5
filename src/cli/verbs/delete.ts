import type { Command } from 'commander';
import { deleteContainer } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('delete')
    .alias('rm')
    .description('delete a container, its VM and every file of it')
    .argument('<container-id>')
    .option('-f, --force', 'delete it even when it runs (its VM is destroyed)')
    .action(
      verb(async (id: string, opts: { force?: boolean }, cmd: Command) => deleteContainer(contextOf(cmd), id, !!opts.force)),
    );
}

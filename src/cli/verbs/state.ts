import type { Command } from 'commander';
import { containerState } from '../../runtime/state.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('state')
    .description('print the state of a container as JSON')
    .argument('<container-id>')
    .action(
      verb(async (id: string, _opts: object, cmd: Command) => {
        const state = await containerState(contextOf(cmd), id);
        process.stdout.write(JSON.stringify(state, null, 2) + '\n');
      }),
    );
}

import type { Command } from 'commander';
import { startContainer } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('start')
    .description('run the program of a created container')
    .argument('<container-id>')
    .action(verb(async (id: string, _opts: object, cmd: Command) => startContainer(contextOf(cmd), id)));
}

import type { Command } from 'commander';
import { freeze } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

/** pause and resume: the whole guest stops and goes on, as a frozen cgroup does. */
export function register(program: Command): void {
  for (const [op, description] of [
    ['pause', 'freeze every process of a container (its VM stops running)'],
    ['resume', 'let a paused container run again'],
  ] as const) {
    program
      .command(op)
      .description(description)
      .argument('<container-id>')
      .action(verb(async (id: string, _opts: object, cmd: Command) => freeze(contextOf(cmd), id, op)));
  }
}

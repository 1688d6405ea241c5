import type { Command } from 'commander';
import { parseSignal } from '../../host/signals.js';
import { killContainer } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('kill')
    .description('send a signal (default TERM) to the container\'s process')
    .argument('<container-id>')
    .argument('[signal]', 'name or number', 'SIGTERM')
    .option('-a, --all', 'send it to all processes of the container')
    .action(
      verb(async (id: string, signal: string, opts: { all?: boolean }, cmd: Command) =>
        killContainer(contextOf(cmd), id, parseSignal(signal), !!opts.all),
      ),
    );
}

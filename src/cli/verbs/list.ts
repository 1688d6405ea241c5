import { Option, type Command } from 'commander';
import type { ContainerState } from '../../generated/state.js';
import { listContainers } from '../../runtime/state.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list the containers under --root')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'print only the ids')
    .action(
      verb(async (opts: { format: string; quiet?: boolean }, cmd: Command) => {
        const states = await listContainers(contextOf(cmd));
        process.stdout.write(
          opts.quiet
            ? states.map((s) => `${s.id}\n`).join('')
            : opts.format === 'json'
              ? JSON.stringify(states) + '\n'
              : table(states),
        );
      }),
    );
}

/** runc's columns, aligned as its tabwriter does (cells at least 12 wide, 3 spaces apart). */
function table(states: ContainerState[]): string {
  const rows = [
    ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'],
    ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(12, 3 + Math.max(...rows.map((r) => r[col]!.length))));
  return rows
    .map((r) => r.map((cell, col) => (col < r.length - 1 ? cell.padEnd(widths[col]!) : cell)).join(''))
    .join('\n') + '\n';
}

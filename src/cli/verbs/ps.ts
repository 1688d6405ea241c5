import { Option, type Command } from 'commander';
import { listProcesses, type GuestProcess } from '../../runtime/lifecycle.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('ps')
    .description('list the processes of a container, as its guest numbers them')
    .argument('<container-id>')
    .argument('[ps-options...]', 'accepted for runc compatibility; the table has fixed columns')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(
      verb(async (id: string, _psOptions: string[], opts: { format: string }, cmd: Command) => {
        const processes = await listProcesses(contextOf(cmd), id);
        // runc's json is the list of pids, which containerd's shim reads.
        process.stdout.write(opts.format === 'json' ? JSON.stringify(processes.map((p) => p.pid)) + '\n' : table(processes));
      }),
    );
}

function table(processes: GuestProcess[]): string {
  const rows = [['UID', 'PID', 'PPID', 'CMD'], ...processes.map((p) => [String(p.uid), String(p.pid), String(p.ppid), p.cmd])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ') + '\n').join('');
}

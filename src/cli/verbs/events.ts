import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmrunError } from '../../errors.js';
import { statsEvent } from '../../runtime/lifecycle.js';
import { containerState } from '../../runtime/state.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

/** A duration as runc takes it (Go's): 5s, 500ms, 1m. */
function parseInterval(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!m) throw new VmrunError('InvalidArgument', `--interval ${value}: not a duration such as 5s or 500ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export function register(program: Command): void {
  program
    .command('events')
    .description('print the resource use of a container as JSON lines, every interval, until it stops')
    .argument('<container-id>')
    .option('--stats', 'print once and exit')
    .option('--interval <duration>', 'time between lines', '5s')
    .action(
      verb(async (id: string, opts: { stats?: boolean; interval: string }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const interval = parseInterval(opts.interval);
        for (;;) {
          process.stdout.write(JSON.stringify(await statsEvent(ctx, id)) + '\n');
          if (opts.stats) return;
          await sleep(interval);
          if ((await containerState(ctx, id)).status === 'stopped') return;
        }
      }),
    );
}

import type { Command } from 'commander';
import { writeDefaultSpec } from '../../runtime/spec.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('spec')
    .description('write a new config.json (runc\'s default) that runs sh in rootfs/')
    .option('-b, --bundle <dir>', 'the bundle to write config.json into', '.')
    .option('--rootless', 'accepted for runc compatibility; a VM needs no rootless spec')
    .action(
      verb(async (opts: { bundle: string }) => {
        await writeDefaultSpec(opts.bundle);
      }),
    );
}

import type { Command } from 'commander';
import { loadBundle } from '../../oci/bundle.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a bundle (config.json and rootfs) without running it')
    .option('-b, --bundle <dir>', 'the bundle to check', '.')
    .action(
      verb(async (opts: { bundle: string }) => {
        const bundle = await loadBundle(opts.bundle);
        process.stdout.write(`${bundle.dir}: valid bundle\n`);
      }),
    );
}

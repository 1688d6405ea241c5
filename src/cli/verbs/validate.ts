import type { Command } from 'commander';
import { hostLimits } from '../../host/limits.js';
import { loadBundle } from '../../oci/bundle.js';
import { guestSize } from '../../vm/sizing.js';
import { globalsOf, loggerFor } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a bundle (config.json and rootfs) without running it')
    .option('-b, --bundle <dir>', 'the bundle to check', '.')
    .action(
      verb(async (opts: { bundle: string }, cmd: Command) => {
        const bundle = await loadBundle(opts.bundle);
        const size = guestSize(bundle.spec, hostLimits());
        for (const reason of size.reasons) loggerFor(globalsOf(cmd)).debug(reason);
        process.stdout.write(
          `${bundle.dir}: valid bundle; its VM would have ${size.memoryMiB} MiB ` +
            `(${size.containerMemoryMiB} MiB for the container) and ${size.vcpus} vCPU${size.vcpus === 1 ? '' : 's'}\n`,
        );
      }),
    );
}

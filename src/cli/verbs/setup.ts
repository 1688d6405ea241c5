import type { Command } from 'commander';
import { accelRequest, chooseAccel } from '../../host/accel.js';
import { silentProgress, stderrProgress } from '../../host/progress.js';
import { cacheDir } from '../../paths.js';
import { globalsOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('setup')
    .description('install what this host needs (Debian packages, guest kernel and initramfs); idempotent')
    .option('--check', 'change nothing; report what is missing and which accelerator would be used')
    .action(
      verb(async (opts: { check?: boolean }, cmd: Command) => {
        const { setup } = await import('../../runtime/setup.js');
        const accel = chooseAccel(accelRequest(globalsOf(cmd).accel));
        const report = await setup(cacheDir(), accel, opts.check ? silentProgress : stderrProgress(), !!opts.check);
        const out = [`accelerator: ${accel.accel} (${accel.reason})`];
        if (report.cannot.length) {
          out.push('cannot be done on this host:', ...report.cannot.map((c) => `  ${c}`));
          process.exitCode = 1;
        }
        if (opts.check) {
          out.push(report.missing.length ? 'missing:' : 'ready: nothing is missing', ...report.missing.map((m) => `  ${m}`));
          if (report.missing.length) process.exitCode = 1;
        } else {
          out.push('ready');
        }
        process.stdout.write(out.join('\n') + '\n');
      }),
    );
}

import type { Command } from 'commander';
import { VmrunError } from '../../errors.js';
import { debugConsole, debugVirsh } from '../../runtime/debug.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

export function register(program: Command): void {
  program
    .command('debug')
    .description("look inside a container's VM: `debug ID -- virsh CMD…` runs libvirt's virsh against its root; `debug ID console` prints its guest console")
    .argument('<container-id>')
    .argument('<what...>', '`virsh CMD…` or `console`')
    .action(
      verb(async (id: string, what: string[], _opts: object, cmd: Command) => {
        const ctx = contextOf(cmd);
        const [tool, ...args] = what;
        if (tool === 'console' && args.length === 0) process.stdout.write(await debugConsole(ctx, id));
        else if (tool === 'virsh') {
          const output = await debugVirsh(ctx, id, args);
          process.stdout.write(output.endsWith('\n') || output === '' ? output : `${output}\n`);
        } else throw new VmrunError('InvalidArgument', `debug: unknown ${JSON.stringify(what.join(' '))}: use \`virsh CMD…\` or \`console\``);
      }),
    );
}

// vmrun's command line: runc's global flags and one module per verb under ./verbs.
import { Command, Option } from 'commander';
import { SPEC_VERSION, VMRUN_VERSION } from '../version.js';
import { DEFAULT_ROOT } from './globals.js';
import * as create from './verbs/create.js';
import * as del from './verbs/delete.js';
import * as events from './verbs/events.js';
import * as exec from './verbs/exec.js';
import * as features from './verbs/features.js';
import * as kill from './verbs/kill.js';
import * as list from './verbs/list.js';
import * as pause from './verbs/pause.js';
import * as ps from './verbs/ps.js';
import * as run from './verbs/run.js';
import * as start from './verbs/start.js';
import * as setup from './verbs/setup.js';
import * as debug from './verbs/debug.js';
import * as spec from './verbs/spec.js';
import * as state from './verbs/state.js';
import * as update from './verbs/update.js';
import * as validate from './verbs/validate.js';

export function program(): Command {
  const program = new Command('vmrun')
    .description('run OCI containers, each in its own virtual machine')
    .version(`vmrun version ${VMRUN_VERSION}\nspec: ${SPEC_VERSION}`, '-v, --version')
    .option('--root <dir>', 'where container state is kept', DEFAULT_ROOT)
    .option('--log <file>', 'append logs to this file instead of stderr')
    .addOption(new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text'))
    .option('--debug', 'log debug messages', false)
    .option('--systemd-cgroup', 'accepted for runc compatibility', false)
    .option('--accel <auto|kvm|tcg>', 'accelerator for new VMs (default: VMRUN_ACCEL, else auto)')
    // Global flags come before the verb, as runc's do; `exec ID sh -c …` keeps its -c.
    .enablePositionalOptions()
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'vmrun: ')) });
  for (const verb of [create, start, state, kill, del, run, exec, ps, pause, update, events, list, features, spec, validate, setup, debug]) verb.register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await program().parseAsync(argv);
}

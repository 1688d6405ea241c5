import type { Command } from 'commander';
import { VmrunError } from '../../errors.js';
import type { Resources } from '../../generated/config.js';
import { updateContainer } from '../../runtime/update.js';
import { memoryLimitProblem } from '../../vm/sizing.js';
import { readJsonFlag } from '../json-input.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

interface UpdateFlags {
  resources?: string;
  memory?: string;
  cpuShares?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
  pidsLimit?: string;
}

export function register(program: Command): void {
  program
    .command('update')
    .description("change a running container's resource limits (those its guest applies)")
    .argument('<container-id>')
    .option('-r, --resources <file>', 'linux.resources as JSON; - reads it from stdin')
    .option('--memory <bytes>', 'memory limit')
    .option('--cpu-shares <n>', 'CPU shares')
    .option('--cpu-quota <us>', 'CPU quota per period')
    .option('--cpu-period <us>', 'CPU period')
    .option('--pids-limit <n>', 'maximum number of processes')
    .action(
      verb(async (id: string, flags: UpdateFlags, cmd: Command) => updateContainer(contextOf(cmd), id, await resourcesOf(flags))),
    );
}

/** --resources, with the single-value flags over it, as runc's update does. */
async function resourcesOf(f: UpdateFlags): Promise<Resources> {
  let resources: Resources = {};
  if (f.resources) {
    const { checkConfigPart } = await import('../../oci/bundle.js');
    resources = checkConfigPart('resources', await readJsonFlag('--resources', f.resources), '--resources') ?? {};
  }
  const n = (flag: string, v?: string) => {
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new VmrunError('InvalidArgument', `${flag} ${v}: not a number`);
    return Number(v);
  };
  const memory = n('--memory', f.memory);
  const tooSmall = memoryLimitProblem(memory, `--memory`);
  if (tooSmall) throw new VmrunError('InvalidArgument', tooSmall);
  if (memory !== undefined) resources.memory = { ...resources.memory, limit: memory };
  const [shares, quota, period] = [n('--cpu-shares', f.cpuShares), n('--cpu-quota', f.cpuQuota), n('--cpu-period', f.cpuPeriod)];
  if (shares !== undefined || quota !== undefined || period !== undefined) {
    resources.cpu = { ...resources.cpu, ...(shares !== undefined && { shares }), ...(quota !== undefined && { quota }), ...(period !== undefined && { period }) };
  }
  const pids = n('--pids-limit', f.pidsLimit);
  if (pids !== undefined) resources.pids = { limit: pids };
  return resources;
}

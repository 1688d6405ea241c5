import { Option, type Command } from 'commander';
import { VmrunError } from '../../errors.js';
import type { Resources } from '../../generated/config.js';
import { FLAG_OF, parseInteger, parseSize } from '../../oci/resource-update.js';
import { updateContainer, type UpdateRequest } from '../../runtime/update.js';
import { readJsonFlag } from '../json-input.js';
import { contextOf } from '../globals.js';
import { verb } from '../run-verb.js';

type UpdateFlags = Record<string, string | undefined>;

/** runc 1.1's update flags: [flag, commander's key, help]. */
const FLAGS: [string, string, string][] = [
  ['--memory <size>', 'memory', 'memory limit (bytes, or 200m, 1g; -1 for none)'],
  ['--memory-reservation <size>', 'memoryReservation', 'memory reservation or soft limit (memory.low in the guest)'],
  ['--memory-swap <size>', 'memorySwap', 'total memory usage (memory + swap); -1 for unlimited swap. The guest has no swap space'],
  ['--cpu-share <n>', 'cpuShare', 'CPU shares (relative weight vs. other containers)'],
  ['--cpu-quota <us>', 'cpuQuota', 'CPU CFS hardcap limit (in usecs), allowed CPU time in a period'],
  ['--cpu-period <us>', 'cpuPeriod', 'CPU CFS period (in usecs); 0 keeps it'],
  ['--cpu-rt-period <us>', 'cpuRtPeriod', 'CPU realtime period: taken and ignored (cgroup v2 guest)'],
  ['--cpu-rt-runtime <us>', 'cpuRtRuntime', 'CPU realtime runtime: taken and ignored (cgroup v2 guest)'],
  ['--cpuset-cpus <list>', 'cpusetCpus', "CPU(s) to use: the host cgroup's, and as many of the guest's vCPUs"],
  ['--cpuset-mems <list>', 'cpusetMems', "memory node(s) to use: the host cgroup's (the guest has one)"],
  ['--blkio-weight <n>', 'blkioWeight', 'block IO weight: taken and ignored (the guest has no block device)'],
  ['--pids-limit <n>', 'pidsLimit', 'maximum number of processes; -1 for none'],
  ['--l3-cache-schema <schema>', 'l3CacheSchema', 'Intel RDT/CAT L3 cache schema: refused, as runc does where RDT is not enabled (the guest has none)'],
  ['--mem-bw-schema <schema>', 'memBwSchema', 'Intel RDT/MBA memory bandwidth schema: refused likewise'],
];

export function register(program: Command): void {
  const cmd = program
    .command('update')
    .description("change a running container's resource limits: memory, CPU and pids in its guest, mirrored on its host cgroup (docs/compat.md)")
    .argument('<container-id>')
    .option('-r, --resources <file>', 'linux.resources as JSON, - for stdin; the other flags are then ignored, as by runc');
  for (const [flag, , help] of FLAGS) cmd.option(flag, help);
  // runc's hidden, obsolete flags, and the plural name vmrun once had.
  cmd.addOption(new Option('--kernel-memory <size>', 'ignored, as runc ignores kernel memory').hideHelp());
  cmd.addOption(new Option('--kernel-memory-tcp <size>', 'ignored, as runc ignores kernel memory').hideHelp());
  cmd.addOption(new Option('--cpu-shares <n>', 'as --cpu-share').hideHelp());
  cmd.action(verb(async (id: string, flags: UpdateFlags, c: Command) => updateContainer(contextOf(c), id, await requestOf(flags))));
}

/** --resources, or else the flags, as runc's update reads them. */
async function requestOf(f: UpdateFlags): Promise<UpdateRequest> {
  if (f.l3CacheSchema !== undefined) throw new VmrunError('InvalidArgument', '--l3-cache-schema: Intel RDT/CAT: l3 cache schema is not enabled (the guest has no RDT)');
  if (f.memBwSchema !== undefined) throw new VmrunError('InvalidArgument', '--mem-bw-schema: Intel RDT/MBA: memory bandwidth schema is not enabled (the guest has no RDT)');
  if (f.cpuShares !== undefined && f.cpuShare === undefined) f.cpuShare = f.cpuShares;
  const given = [...FLAGS.map(([flag, key]) => [flag, key] as const), ['--kernel-memory', 'kernelMemory'] as const, ['--kernel-memory-tcp', 'kernelMemoryTcp'] as const]
    .filter(([, key]) => f[key] !== undefined)
    .map(([flag]) => flag.split(' ')[0]!);
  if (f.resources) {
    const { checkConfigPart } = await import('../../oci/bundle.js');
    const raw = await readJsonFlag('--resources', f.resources);
    // A period of 0 keeps the period here, so create's rule that a quota needs one does not apply.
    const cpu = (raw as { cpu?: { period?: unknown } } | null)?.cpu;
    if (cpu && cpu.period === 0) delete cpu.period;
    return {
      resources: checkConfigPart('resources', raw, '--resources') ?? {},
      name: (pointer) => pointer,
      prefix: '--resources is invalid: ',
      ignored: given.map((flag) => `${flag}: ignored beside --resources, as runc ignores it`),
    };
  }
  return { resources: fromFlags(f), name: (pointer) => FLAG_OF[pointer] ?? pointer, prefix: '', ignored: [] };
}

function fromFlags(f: UpdateFlags): Resources {
  const size = (flag: string, v?: string) => (v === undefined ? undefined : parseSize(flag, v));
  const int = (flag: string, v: string | undefined, signed: boolean) => (v === undefined ? undefined : parseInteger(flag, v, signed));
  const r: Resources & { blockIO?: { weight?: number } } = {
    memory: {
      limit: size('--memory', f.memory),
      reservation: size('--memory-reservation', f.memoryReservation),
      swap: size('--memory-swap', f.memorySwap),
      kernel: size('--kernel-memory', f.kernelMemory),
      kernelTCP: size('--kernel-memory-tcp', f.kernelMemoryTcp),
    },
    cpu: {
      shares: int('--cpu-share', f.cpuShare, false),
      quota: int('--cpu-quota', f.cpuQuota, true),
      period: int('--cpu-period', f.cpuPeriod, false),
      realtimeRuntime: int('--cpu-rt-runtime', f.cpuRtRuntime, true),
      realtimePeriod: int('--cpu-rt-period', f.cpuRtPeriod, false),
      cpus: f.cpusetCpus,
      mems: f.cpusetMems,
    },
    pids: { limit: int('--pids-limit', f.pidsLimit, true) },
    blockIO: { weight: int('--blkio-weight', f.blkioWeight, false) },
  };
  return r;
}

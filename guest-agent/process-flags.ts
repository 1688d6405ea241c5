// vmrun-exec's flags for a process's attributes: working directory, user and groups, umask,
// limits, capabilities, no_new_privs and the OOM score (guest-agent/vmrun-exec.c applies them).
import type { GuestPlan, ProcessPlan } from '../src/generated/agent-protocol.js';
import { CAPABILITIES, RLIMITS } from '../src/oci/linux-ids.js';
import { FIRST, type ContainerScope } from './scope.js';

const CAPABILITY_SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

export function processFlags(p: ProcessPlan): string[] {
  const flags = ['--cwd', p.cwd, '--uid', String(p.user.uid), '--gid', String(p.user.gid)];
  if (p.user.additionalGids) flags.push('--groups', p.user.additionalGids.join(','));
  if (p.user.umask !== undefined) flags.push('--umask', String(p.user.umask));
  for (const { type, soft, hard } of p.rlimits ?? []) {
    const resource = RLIMITS[type];
    if (resource === undefined) throw new Error(`unknown rlimit ${type}`);
    flags.push('--rlimit', `${resource}:${limit(soft)}:${limit(hard)}`);
  }
  const caps = p.capabilities;
  if (caps) flags.push('--caps', CAPABILITY_SETS.map((set) => mask(caps[set] ?? [])).join(':'));
  if (p.noNewPrivileges) flags.push('--no-new-privileges');
  if (p.oomScoreAdj !== undefined) flags.push('--oom-score-adj', String(p.oomScoreAdj));
  return flags;
}

/** config.json writes RLIM_INFINITY as 2^64-1, which JSON numbers round to 2^64. */
function limit(value: number): string {
  return value >= 2 ** 64 - 1 ? 'unlimited' : BigInt(Math.trunc(value)).toString();
}

function mask(names: string[]): string {
  let bits = 0n;
  for (const name of names) {
    const cap = CAPABILITIES[name];
    if (cap === undefined) throw new Error(`unknown capability ${name}`);
    bits |= 1n << BigInt(cap);
  }
  return bits.toString(16);
}

/**
 * vmrun-exec's flags that put the process in the container's cgroup, with its limits; none
 * without limits for the first container (making the cgroup costs 0.1 s under TCG, and then
 * holds nothing back), always for a member, whose cgroup says which processes are its.
 */
export function cgroupFlags(plan: GuestPlan, scope: ContainerScope = FIRST): string[] {
  const flags = Object.entries(plan.cgroup ?? {}).flatMap(([file, value]) => ['--cgroup-set', `${file}=${value}`]);
  for (const r of plan.deviceRules ?? []) {
    flags.push('--device-rule', [r.allow ? 1 : 0, r.type, r.major ?? '*', r.minor ?? '*', r.access].join(':'));
  }
  if (flags.length === 0 && scope.name === '') return [];
  return [...flags, '--cgroup', scope.cgroup]; // the values first: --cgroup acts at once
}

/** The sysctls that belong to an IPC namespace: written from inside the container's own. */
const IPC_SYSCTL = /^(kernel\.(shm|msg|sem)|fs\.mqueue\.)/;

/**
 * vmrun-exec's flags that clone the container's process into its namespaces (after its cgroup,
 * so that its cgroup namespace is rooted there), with the user namespace's maps and the IPC
 * namespace's sysctls; and the sysctls left for the agent to write in the guest's own.
 */
export function namespaceFlags(plan: GuestPlan): { flags: string[]; guestSysctls: [string, string][] } {
  const namespaces = plan.namespaces ?? [];
  const sysctls = Object.entries(plan.sysctl ?? {});
  const own = namespaces.includes('ipc') ? sysctls.filter(([key]) => IPC_SYSCTL.test(key)) : [];
  if (namespaces.length === 0) return { flags: [], guestSysctls: sysctls };
  const maps = (flag: string, list: GuestPlan['uidMappings']) => (list ?? []).flatMap((m) => [flag, `${m.containerID}:${m.hostID}:${m.size}`]);
  const flags = [...maps('--uid-map', plan.uidMappings), ...maps('--gid-map', plan.gidMappings), '--namespaces', namespaces.join(',')];
  for (const [key, value] of own) flags.push('--sysctl', `${key}=${value}`);
  return { flags, guestSysctls: sysctls.filter((s) => !own.includes(s)) };
}

// Rules of the runtime-spec (and of runc) that a JSON Schema cannot state.
import type { Spec } from '../generated/config.js';
import { isBindMount, MAX_DEVICE_RULES, RUNC_ALLOWED_DEVICES } from './guest-plan.js';
import { RLIMITS } from './linux-ids.js';
import { mountOptionProblems, PROPAGATION } from './mount-options.js';
import { networkProblems } from './network-mode.js';
import { seccompProblems } from './seccomp.js';
import { memoryLimitProblem } from '../vm/sizing.js';
import { processSizeProblems } from './process-size.js';

export const RLIMIT_TYPES = new Set(Object.keys(RLIMITS));
/** A sysctl key: dotted names, nothing that could leave /proc/sys. */
const SYSCTL_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_:-]+)*$/;

/** Each broken rule as `JSON pointer: what is wrong`. */
export function semanticProblems(spec: Spec): string[] {
  const problems: string[] = processSizeProblems(spec.process);
  const seenLimits = new Set<string>();
  spec.process.rlimits?.forEach((limit, i) => {
    const at = `/process/rlimits/${i}`;
    if (!RLIMIT_TYPES.has(limit.type)) problems.push(`${at}/type: unknown rlimit "${limit.type}"`);
    if (seenLimits.has(limit.type)) problems.push(`${at}/type: duplicate rlimit "${limit.type}"`);
    if (limit.soft > limit.hard) problems.push(`${at}: soft limit ${limit.soft} exceeds hard limit ${limit.hard}`);
    seenLimits.add(limit.type);
  });
  const seenNamespaces = new Set<string>();
  spec.linux?.namespaces?.forEach((ns, i) => {
    if (seenNamespaces.has(ns.type)) problems.push(`/linux/namespaces/${i}/type: duplicate namespace "${ns.type}"`);
    seenNamespaces.add(ns.type);
  });
  spec.mounts?.forEach((m, i) => {
    if (isBindMount(m) && !m.source) problems.push(`/mounts/${i}/source: a bind mount needs a source`);
    problems.push(...mountOptionProblems(m, i, isBindMount(m)));
  });
  const rootPropagation = spec.linux?.rootfsPropagation;
  if (rootPropagation && !PROPAGATION.includes(rootPropagation)) {
    problems.push(`/linux/rootfsPropagation: unknown propagation "${rootPropagation}"`);
  }
  for (const key of Object.keys(spec.linux?.sysctl ?? {})) {
    if (!SYSCTL_KEY.test(key)) problems.push(`/linux/sysctl/${key}: not a sysctl name`);
  }
  spec.linux?.devices?.forEach((d, i) => {
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) {
      problems.push(`/linux/devices/${i}: a "${d.type}" device needs major and minor`);
    }
  });
  problems.push(...userNamespaceProblems(spec));
  const rules = spec.linux?.resources?.devices?.length ?? 0;
  if (rules > 0 && rules + (spec.linux?.devices?.length ?? 0) + RUNC_ALLOWED_DEVICES.length > MAX_DEVICE_RULES) {
    problems.push(`/linux/resources/devices: at most ${MAX_DEVICE_RULES - RUNC_ALLOWED_DEVICES.length} rules and linux.devices together (the guest kernel's verifier refuses a longer device program)`);
  }
  problems.push(...networkProblems(spec));
  problems.push(...seccompProblems(spec));
  const memory = memoryLimitProblem(spec.linux?.resources?.memory?.limit, '/linux/resources/memory/limit');
  if (memory) problems.push(memory);
  const cpu = spec.linux?.resources?.cpu;
  if (cpu?.quota !== undefined && cpu.quota > 0 && cpu.period === 0) {
    problems.push('/linux/resources/cpu/period: must be positive when a quota is set');
  }
  return problems;
}

/** runc's rules: a user namespace needs both mappings, and mappings need a user namespace. */
function userNamespaceProblems(spec: Spec): string[] {
  const linux = spec.linux ?? {};
  const userns = linux.namespaces?.some((ns) => ns.type === 'user') ?? false;
  const problems: string[] = [];
  for (const field of ['uidMappings', 'gidMappings'] as const) {
    const maps = linux[field] ?? [];
    if (userns && maps.length === 0) problems.push(`/linux/${field}: a user namespace needs ${field}`);
    if (!userns && maps.length > 0) problems.push(`/linux/${field}: mappings need a user namespace in /linux/namespaces`);
    maps.forEach((m, i) => {
      if (m.size === 0) problems.push(`/linux/${field}/${i}/size: must be at least 1`);
    });
    if (maps.length > 340) problems.push(`/linux/${field}: at most 340 mappings (the kernel's limit)`);
  }
  return problems;
}

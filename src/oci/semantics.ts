// Rules of the runtime-spec (and of runc) that a JSON Schema cannot state.
import type { Spec } from '../generated/config.js';

export const RLIMIT_TYPES = new Set([
  'RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_FSIZE', 'RLIMIT_LOCKS',
  'RLIMIT_MEMLOCK', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC',
  'RLIMIT_RSS', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME', 'RLIMIT_SIGPENDING', 'RLIMIT_STACK',
]);

/** Each broken rule as `JSON pointer: what is wrong`. */
export function semanticProblems(spec: Spec): string[] {
  const problems: string[] = [];
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
  const cpu = spec.linux?.resources?.cpu;
  if (cpu?.quota !== undefined && cpu.quota > 0 && cpu.period === 0) {
    problems.push('/linux/resources/cpu/period: must be positive when a quota is set');
  }
  return problems;
}

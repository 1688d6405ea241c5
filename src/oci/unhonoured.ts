// The config.json fields vmrun accepts and does not apply, each with the reason: `create` warns
// about them (docs/compat.md has the whole table).
import type { Spec } from '../generated/config.js';

const LATER_HOST = 'comes with the host network and cgroup work';
const NO_POLICY = 'the guest kernel has no such policy loaded';

/** Fields that are applied only when absent or empty, by JSON pointer, with why. */
const NOT_APPLIED: [string, string][] = [
  ['/process/apparmorProfile', NO_POLICY],
  ['/process/selinuxLabel', NO_POLICY],
  ['/linux/mountLabel', NO_POLICY],
  ['/process/ioPriority', 'not applied in the guest yet'],
  ['/process/scheduler', 'not applied in the guest yet'],
  ['/process/execCPUAffinity', 'not applied in the guest yet'],
  ['/linux/intelRdt', 'the guest has no RDT'],
  ['/linux/personality', 'not applied in the guest yet'],
  ['/linux/timeOffsets', 'the guest has its own clocks; offsets are not applied'],
  ['/linux/resources/memory/swap', 'the guest has no swap'],
  ['/linux/resources/blockIO', 'not applied yet'],
  ['/linux/resources/hugepageLimits', 'not applied yet'],
  ['/linux/resources/network', 'not applied yet'],
  ['/linux/resources/rdma', 'not applied yet'],
  ['/linux/resources/unified', 'not applied yet'],
  ['/linux/resources/memory/kernel', 'not applied yet'],
  ['/linux/resources/memory/kernelTCP', 'not applied yet'],
  ['/linux/resources/memory/swappiness', 'the guest has no swap'],
  ['/linux/resources/memory/disableOOMKiller', 'not applied yet'],
  ['/linux/resources/cpu/burst', 'not applied yet'],
  ['/linux/resources/cpu/idle', 'not applied yet'],
  ['/linux/resources/cpu/realtimeRuntime', 'not applied yet'],
  ['/linux/resources/cpu/realtimePeriod', 'not applied yet'],
  ['/linux/memoryPolicy', 'not applied yet'],
  ['/linux/netDevices', LATER_HOST],
  ['/vm', 'vmrun chooses the VM: its hypervisor, kernel, image and hardware'],
];

function at(spec: unknown, pointer: string): unknown {
  let value = spec;
  for (const key of pointer.split('/').slice(1)) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === false || v === 0 || (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && Object.keys(v).length === 0) || v === '';

/** Each field config.json sets that vmrun leaves out, as `FIELD (why)`. */
export function unhonouredFields(spec: Spec): string[] {
  const found = NOT_APPLIED.filter(([pointer]) => !isEmpty(at(spec, pointer))).map(([pointer, why]) => `${pointer} (${why})`);
  (spec.mounts as { uidMappings?: unknown; gidMappings?: unknown }[] | undefined)?.forEach((m, i) => {
    for (const key of ['uidMappings', 'gidMappings'] as const) {
      if (!isEmpty(m[key])) found.push(`/mounts/${i}/${key} (idmapped mounts are not made)`);
    }
  });
  spec.linux?.namespaces?.forEach((ns, i) => {
    if (ns.type === 'time' && !ns.path) found.push(`/linux/namespaces/${i} (no time namespace is made: the container shares the guest's clocks)`);
    else if (ns.path && ns.type !== 'network') found.push(`/linux/namespaces/${i}/path (a host namespace, which means nothing in the guest: the container shares the guest's ${ns.type} namespace)`);
  });
  return found;
}

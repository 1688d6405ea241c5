// `vmrun update`: new resource limits for a running container, applied to its cgroup in the
// guest. What a VM fixes at create (its memory, its vCPUs) cannot grow: asking for more than it
// has, or for a kind of limit the guest does not apply, fails and changes nothing.
import { VmrunError } from '../errors.js';
import type { Resources } from '../generated/config.js';
import { hostLimits } from '../host/limits.js';
import { loadBundle } from '../oci/bundle.js';
import { cgroupFiles } from '../oci/guest-plan.js';
import { guestSize } from '../vm/sizing.js';
import type { RuntimeContext } from './context.js';
import { askMonitor, liveRecord } from './lifecycle.js';

/** The fields the guest applies; every other one is refused by name. */
const APPLIED: Record<string, string[]> = {
  memory: ['limit', 'reservation'],
  cpu: ['shares', 'quota', 'period'],
  pids: ['limit'],
};

export async function updateContainer(ctx: RuntimeContext, id: string, resources: Resources): Promise<void> {
  const record = await liveRecord(ctx, id);
  const refused = Object.entries(resources).flatMap(([kind, value]) => {
    if (value === undefined || value === null) return [];
    const allowed = APPLIED[kind];
    if (!allowed) return [`${kind} (not applied in the guest)`];
    return Object.keys(value as object)
      .filter((field) => !allowed.includes(field) && (value as Record<string, unknown>)[field] !== undefined)
      .map((field) => `${kind}.${field} (${kind === 'cpu' ? "the VM's vCPUs are fixed at create" : 'not applied in the guest'})`);
  });
  if (refused.length > 0) throw new VmrunError('InvalidArgument', `--resources: cannot update ${refused.join(', ')}`);
  const limit = resources.memory?.limit;
  if (limit !== undefined && limit > 0) {
    const { memoryMiB } = guestSize((await loadBundle(record.bundle)).spec, hostLimits());
    if (limit > memoryMiB * 1024 * 1024) {
      throw new VmrunError('InvalidArgument', `--resources: memory.limit ${limit} is more than the container's VM has (${memoryMiB} MiB, fixed at create)`);
    }
  }
  const files = cgroupFiles(resources);
  if (Object.keys(files).length === 0) return;
  await askMonitor(record, { op: 'update', cgroup: files });
}

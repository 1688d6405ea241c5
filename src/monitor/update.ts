// `vmrun update` in the monitor: the checked request (src/oci/resource-update.ts) becomes files of
// the container's cgroup v2 group in the guest, with runc's v2 conversions, and the limits the
// host cgroup mirrors (src/host/cgroups.ts), sized as create sizes them. The VM's vCPUs are
// those it was created with, and its memory too unless memory is plugged in first (a restored
// guest: src/monitor/guest-memory.ts): a limit may exceed them, and the container then gets
// what the guest has.
import type { HostCgroupChange } from '../host/cgroups.js';
import { cpusInGuest, formatCpuset, parseCpuset, type ResourceUpdate } from '../oci/resource-update.js';
import { cpuWeight } from '../oci/linux-ids.js';
import type { Spec } from '../generated/config.js';
import { GUEST_OVERHEAD_MIB, guestSize, hostPidsLimit, VMM_OVERHEAD_MIB, type HostLimits } from '../vm/sizing.js';

const MiB = 1024 * 1024;

/** The VM as it was booted. */
export interface GuestShape {
  memoryMiB: number;
  /** The vCPUs the guest has online: its shape's all, unless plugging some in failed. */
  vcpus: number;
  /** Whether create made a host cgroup (linux.cgroupsPath) that mirrors the limits. */
  hostCgroup: boolean;
}

/**
 * The guest's answer to the cpus request (how many CPUs it has online), if it is one a guest of
 * `vcpus` can give: an integer from 1 to its shape.
 */
export function onlineCount(result: unknown, vcpus: number): number | undefined {
  const online = (result as { online?: unknown } | undefined)?.online;
  return typeof online === 'number' && Number.isInteger(online) && online >= 1 && online <= vcpus ? online : undefined;
}

/** The container's CPU bandwidth now: cpu.max holds both, so an update of one keeps the other. */
export interface CpuBandwidth {
  /** µs per period, or -1 for none. */
  quota: number;
  period: number;
}

/** The bandwidth create gave the container (src/oci/guest-plan.ts, cgroupFiles). */
export function initialBandwidth(cpu: { quota?: number; period?: number } = {}): CpuBandwidth {
  return { quota: cpu.quota && cpu.quota > 0 ? cpu.quota : -1, period: cpu.period || 100_000 };
}

export interface UpdatePlan {
  /** Files of the container's cgroup in the guest, and their values. */
  guest: Record<string, string>;
  host: HostCgroupChange;
  bandwidth: CpuBandwidth;
  /** What was not applied as asked, and why: logged at debug by the verb. */
  notes: string[];
}

export function planUpdate(u: ResourceUpdate, now: CpuBandwidth, shape: GuestShape, hostHas: HostLimits): UpdatePlan {
  const guest: Record<string, string> = {};
  const host: HostCgroupChange = {};
  const notes: string[] = [];
  const limitStr = (v: number) => (v > 0 ? String(v) : 'max');

  const { limit = 0, reservation = 0, swap = 0 } = u.memory ?? {};
  // runc's ConvertMemorySwapToCgroupV2Value: v1's memory+swap becomes v2's swap alone; -1 for
  // both lifts both; swap equal to the limit is no swap.
  const swapMax = limit === -1 && swap === 0 ? 'max' : swap === -1 ? 'max' : swap > 0 ? String(swap - limit) : undefined;
  if (swapMax !== undefined) {
    guest['memory.swap.max'] = swapMax;
    notes.push(`memory.swap: memory.swap.max is ${swapMax} in the guest, as runc converts memory+swap for cgroup v2; the guest has no swap space, so it limits nothing`);
  }
  if (limit !== 0) {
    guest['memory.max'] = limitStr(limit);
    host.memoryBytes = limit > 0 ? hostMemoryBytes(limit, shape, hostHas) : -1;
    const room = (shape.memoryMiB - GUEST_OVERHEAD_MIB) * MiB;
    if (limit > room) notes.push(`memory.limit: ${limit} is more than the guest has for the container (${room / MiB} MiB of a ${shape.memoryMiB} MiB guest, which does not grow so far now): the limit is set, and the container gets at most that`);
  }
  if (reservation !== 0) guest['memory.low'] = limitStr(reservation);

  const { shares = 0, quota = 0, period = 0, cpus, mems } = u.cpu ?? {};
  if (shares !== 0) {
    guest['cpu.weight'] = String(cpuWeight(shares));
    host.cpuShares = shares;
  }
  let bandwidth = now;
  if (quota !== 0 || period !== 0) {
    // As runc's update: the one not given keeps its value.
    bandwidth = { quota: quota === 0 ? now.quota : quota > 0 ? quota : -1, period: period || now.period };
    guest['cpu.max'] = `${limitStr(bandwidth.quota)} ${bandwidth.period}`;
    host.cpuQuota = bandwidth.quota;
    host.cpuPeriod = bandwidth.period;
  }
  if (cpus) {
    const ids = parseCpuset(cpus)!;
    host.cpus = cpus;
    const inGuest = cpusInGuest(ids, shape.vcpus);
    guest['cpuset.cpus'] = formatCpuset(inGuest);
    if (inGuest !== ids) notes.push(`cpu.cpus: the guest has ${shape.vcpus} vCPU${shape.vcpus === 1 ? '' : 's'}: cpuset.cpus is ${guest['cpuset.cpus']} in the guest, and ${shape.hostCgroup ? `${cpus} on the host cgroup` : 'the VM keeps its host CPUs (no host cgroup)'}`);
  }
  if (mems) {
    host.mems = mems;
    notes.push(`cpu.mems: the guest has one memory node: ${shape.hostCgroup ? 'set on the host cgroup only' : 'not applied (no host cgroup)'}`);
  }

  const pids = u.pids?.limit ?? 0;
  if (pids !== 0) {
    guest['pids.max'] = limitStr(pids);
    if (pids > 0) {
      const { pids: max, raisedBy } = hostPidsLimit(pids);
      host.pids = max;
      if (raisedBy > 0 && shape.hostCgroup) notes.push(`pids.limit: the host cgroup's pids.max is ${max}, raised by ${raisedBy} for the VM's own tasks; the guest holds the container to ${pids}`);
    } else {
      host.pids = -1;
    }
  }
  return { guest, host, bandwidth, notes };
}

/**
 * The host cgroup's memory for a container limit, as create sets it (the guest such a limit
 * would boot, and QEMU's own beside it), but never more than this VM's guest has.
 */
export function hostMemoryBytes(limit: number, shape: GuestShape, hostHas: HostLimits): number {
  return (Math.min(guestMemoryFor(limit, hostHas), shape.memoryMiB) + VMM_OVERHEAD_MIB) * MiB;
}

/** The guest's memory (MiB) that create would size for a container memory limit. */
export function guestMemoryFor(limit: number, hostHas: HostLimits): number {
  return guestSize({ linux: { resources: { memory: { limit } } } } as Spec, hostHas).memoryMiB;
}

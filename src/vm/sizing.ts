// How big a container's VM is, from linux.resources. Returns its reasons too, so the caller
// can log why a value differs from what config.json asked for.
import { VmrunError } from '../errors.js';
import type { Spec } from '../generated/config.js';
import { CRI_CONTAINER_TYPE } from '../oci/cri.js';

const MiB = 1024 * 1024;
/**
 * The whole guest's memory when config.json sets no limit, unless VMRUN_DEFAULT_MEMORY says
 * otherwise (docs/compat.md). The host pays only for what the guest touches, and free page
 * reporting gives back what it frees; every guest's struct pages cost ~1.6% of it, touched at boot.
 */
export const DEFAULT_GUEST_MEMORY_MIB = 2048;
/** Below this a guest kernel plus a process cannot do useful work. */
export const MIN_CONTAINER_MEMORY_MIB = 64;
/**
 * The smallest linux.resources.memory.limit vmrun accepts. Measured in the guest's cgroup v2
 * (kernel 6.1): `true` needs 400 KiB (vmrun-exec, the program, its page tables), `sh -c 'echo
 * hi'` 408 KiB; below that the container hangs for good, and at 1 byte vmrun-exec dies. 4 MiB
 * leaves a margin and is under Docker's own minimum (6 MB), so nothing Docker passes is refused.
 */
export const MIN_MEMORY_LIMIT_BYTES = 4 * MiB;

/** What is wrong with a memory limit, as `pointer: problem`; -1 (unlimited) and 0 (unset) are fine. */
export function memoryLimitProblem(limit: number | undefined, at: string): string | undefined {
  if (limit === undefined || limit <= 0 || limit >= MIN_MEMORY_LIMIT_BYTES) return undefined;
  return `${at}: ${limit} byte${limit === 1 ? '' : 's'} is too little for any process to start; vmrun accepts at least ${MIN_MEMORY_LIMIT_BYTES} (${MIN_MEMORY_LIMIT_BYTES / MiB} MiB)`;
}

/**
 * What the guest kernel, the initramfs held in RAM and the agent use, added on top of the
 * container's memory so that its processes get all of the limit (docs/architecture.md).
 */
export const GUEST_OVERHEAD_MIB = 192;
/**
 * The least a guest boots in: while the kernel unpacks the initramfs, its image and its files
 * are both in RAM (a 320 MiB guest runs out). Below it the VM gets more than the limit, and
 * the container's cgroup in the guest still holds its processes to the limit.
 */
export const MIN_GUEST_MEMORY_MIB = 352;
/**
 * What the host processes of one VM use beside the guest's memory, for the host cgroup's limit:
 * measured under TCG, QEMU about 115 MiB (its translation cache among it, at most 64 MiB:
 * src/vm/domain-xml.ts), the monitor 55,
 * virsh 30 and virtiofsd 10.
 */
export const VMM_OVERHEAD_MIB = 256;
/**
 * The fewest tasks the host cgroup of one VM must allow: QEMU (main loop, a thread per vCPU, and
 * its block I/O pool of up to 64 threads), each virtiofsd (two processes, and a pool of up to 64
 * threads under load; one per share: rootfs and binds), virsh (5), the monitor's node (11) and
 * passt (1), with room for hooks. Measured here: 26 tasks at rest, 32 with eight readers on both shares.
 */
export const VMM_TASKS = 256;

/**
 * The host cgroup's pids.max for linux.resources.pids.limit: the spec's value, as tools that look
 * there expect (the guest holds the container's own processes to it), unless it is below what the
 * VM's host processes need: then the margin, and how much it was raised by.
 */
export function hostPidsLimit(limit: number): { pids: number; raisedBy: number } {
  return limit >= VMM_TASKS ? { pids: limit, raisedBy: 0 } : { pids: VMM_TASKS, raisedBy: VMM_TASKS - limit };
}

export interface HostLimits {
  /** The CPUs vmrun may run on: its affinity, which its cpuset bounds. */
  cpus: number;
  memoryMiB: number;
  /** The guest's memory for a container without a memory limit (VMRUN_DEFAULT_MEMORY). */
  defaultGuestMemoryMiB: number;
}

/**
 * VMRUN_DEFAULT_MEMORY's value in MiB: a size such as 4G, 1536M or 1536MiB (binary units), a
 * bare number being MiB; undefined or empty gives the default.
 */
export function parseDefaultMemory(value: string | undefined, name = 'VMRUN_DEFAULT_MEMORY'): number {
  if (value === undefined || value.trim() === '') return DEFAULT_GUEST_MEMORY_MIB;
  const m = /^\s*(\d{1,9})\s*([kmgt]?)(i?b)?\s*$/i.exec(value);
  const shift = { '': 20, k: 10, m: 20, g: 30, t: 40 }[(m?.[2] ?? '').toLowerCase()];
  if (!m || shift === undefined || (m[2] === '' && m[3])) {
    throw new VmrunError('InvalidArgument', `${name}: "${value}" is not a size such as 4G, 1536M or 2048 (MiB)`);
  }
  const mib = Math.ceil((Number(m[1]) * 2 ** shift) / MiB);
  if (mib < MIN_GUEST_MEMORY_MIB) {
    throw new VmrunError('InvalidArgument', `${name}: ${value} is less than the ${MIN_GUEST_MEMORY_MIB} MiB a guest boots in`);
  }
  return mib;
}

export interface GuestSize {
  /** Memory for the container's processes. */
  containerMemoryMiB: number;
  /** The whole guest: container memory plus the guest's own overhead. */
  memoryMiB: number;
  vcpus: number;
  /**
   * The guest of the same container without its limits: the restore image's shape. A smaller
   * guest is restored from the image too, the container held to its limits by its cgroup in the
   * guest (src/guest/restore-image.ts).
   */
  unlimited: { memoryMiB: number; vcpus: number };
  /** Why a value is not simply what config.json says. */
  reasons: string[];
}

/** containerd's annotations of a CRI sandbox: the pod's resources, which its VM is sized for. */
const POD_MEMORY = 'io.kubernetes.cri.sandbox-memory';
const POD_CPU_QUOTA = 'io.kubernetes.cri.sandbox-cpu-quota';
const POD_CPU_PERIOD = 'io.kubernetes.cri.sandbox-cpu-period';

/**
 * What the VM is sized from: config.json's resources, or for a CRI pod's sandbox the pod's, from
 * its annotations (containerd 1.6 sets them only when the pod has resources; 0 is no limit).
 */
export function sizingResources(spec: Spec, reasons: string[] = []): NonNullable<NonNullable<Spec['linux']>['resources']> {
  const own = spec.linux?.resources ?? {};
  const a = spec.annotations ?? {};
  if (a[CRI_CONTAINER_TYPE[0]] !== 'sandbox') return own; // the pod's resources are containerd's annotations
  const number = (key: string) => (/^\d{1,19}$/.test(a[key] ?? '') ? Number(a[key]) : 0);
  const [memory, quota, period] = [number(POD_MEMORY), number(POD_CPU_QUOTA), number(POD_CPU_PERIOD)];
  if (memory > 0 || (quota > 0 && period > 0)) reasons.push(`sized for the pod, from its sandbox's annotations: memory ${memory || 'unlimited'}, CPU quota ${quota || 'unlimited'}/${period || '-'}`);
  return {
    ...own,
    ...(memory > 0 && { memory: { ...own.memory, limit: memory } }),
    ...(quota > 0 && period > 0 && { cpu: { ...own.cpu, quota, period } }),
  };
}

export function guestSize(spec: Spec, host: HostLimits): GuestSize {
  const reasons: string[] = [];
  const resources = sizingResources(spec, reasons);
  const containerMemoryMiB = containerMemory(resources.memory?.limit, host, reasons);
  let memoryMiB = containerMemoryMiB + GUEST_OVERHEAD_MIB;
  if (memoryMiB < MIN_GUEST_MEMORY_MIB) {
    reasons.push(`memory: the guest gets ${MIN_GUEST_MEMORY_MIB} MiB, the least it boots in; its cgroup keeps the container to the limit`);
    memoryMiB = MIN_GUEST_MEMORY_MIB;
  }
  return {
    containerMemoryMiB,
    memoryMiB,
    vcpus: vcpus(resources.cpu, host, reasons),
    unlimited: { memoryMiB: containerMemory(undefined, host, []) + GUEST_OVERHEAD_MIB, vcpus: vcpus(undefined, host, []) },
    reasons,
  };
}

function containerMemory(limit: number | undefined, host: HostLimits, reasons: string[]): number {
  if (limit === undefined || limit <= 0) {
    // As under runc, the container may use what the guest has; one size for all such guests.
    const guest = Math.min(host.defaultGuestMemoryMiB, host.memoryMiB);
    reasons.push(`memory: no limit set, the guest gets ${guest} MiB (VMRUN_DEFAULT_MEMORY, at most the host's memory), touched only as used`);
    return Math.max(guest - GUEST_OVERHEAD_MIB, MIN_CONTAINER_MEMORY_MIB);
  }
  let mib = Math.ceil(limit / MiB);
  if (mib * MiB !== limit) reasons.push(`memory: limit ${limit} bytes rounded up to ${mib} MiB`);
  if (mib < MIN_CONTAINER_MEMORY_MIB) {
    reasons.push(`memory: limit ${mib} MiB raised to the minimum of ${MIN_CONTAINER_MEMORY_MIB} MiB`);
    mib = MIN_CONTAINER_MEMORY_MIB;
  }
  const most = host.memoryMiB - GUEST_OVERHEAD_MIB;
  if (mib > most) {
    reasons.push(`memory: limit ${mib} MiB lowered to ${most} MiB, what the host has less the guest's overhead`);
    mib = most;
  }
  return mib;
}

type Cpu = NonNullable<NonNullable<NonNullable<Spec['linux']>['resources']>['cpu']>;

/** The most vCPUs QEMU's `pc` machine takes (255 with x2APIC off); a guest gets no more. */
export const MAX_VCPUS = 240;

function vcpus(cpu: Cpu | undefined, host: HostLimits, reasons: string[]): number {
  const n = wantedVcpus(cpu, host, reasons);
  if (n <= MAX_VCPUS) return n;
  reasons.push(`vcpus: ${n} lowered to ${MAX_VCPUS}, the most a guest has`);
  return MAX_VCPUS;
}

function wantedVcpus(cpu: Cpu | undefined, host: HostLimits, reasons: string[]): number {
  const wanted: number[] = [];
  if (cpu?.quota !== undefined && cpu.quota > 0) {
    const period = cpu.period || 100_000;
    wanted.push(Math.ceil(cpu.quota / period));
  }
  if (cpu?.cpus) wanted.push(cpusetSize(cpu.cpus));
  if (wanted.length === 0) {
    // As under runc, the container may run on every CPU vmrun may use.
    reasons.push(`vcpus: ${host.cpus}, the CPUs vmrun may run on (no CPU limit set)`);
    return host.cpus;
  }
  // Both a quota and a cpuset bound how many CPUs run at once: the smaller wins.
  let n = Math.min(...wanted);
  if (n < 1) n = 1;
  if (n > host.cpus) {
    reasons.push(`vcpus: ${n} lowered to the host's ${host.cpus} CPUs`);
    n = host.cpus;
  }
  reasons.push(`vcpus: ${n} from linux.resources.cpu`);
  return n;
}

/** The number of CPUs in a cpuset list such as "0-3,6" (ranges may overlap). */
export function cpusetSize(list: string): number {
  const ranges = list
    .split(',')
    .filter(Boolean)
    .map((part) => part.split('-').map(Number))
    .map(([from = 0, to = from]) => [Math.min(from, to), Math.max(from, to)] as const)
    .sort((a, b) => a[0] - b[0]);
  let count = 0;
  let next = 0; // the first CPU not yet counted
  for (const [from, to] of ranges) {
    const start = Math.max(from, next);
    if (to >= start) count += to - start + 1;
    next = Math.max(next, to + 1);
  }
  return count;
}

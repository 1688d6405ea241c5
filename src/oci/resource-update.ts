// `vmrun update`'s resources in runc 1.1's terms: what its flags and `--resources` JSON mean,
// which values runc refuses, and which fields it takes and then ignores. runc's update
// (update.go) reads the whole LinuxResources, keeps memory (limit, reservation, swap), cpu
// (shares, quota, period, cpuset), pids and blockIO.weight, and passes nothing else on; a value
// of 0 (or "") leaves the limit as it is and -1 lifts it. What the guest applies is planned in
// src/monitor/update.ts.
import { VmrunError } from '../errors.js';
import type { Resources } from '../generated/config.js';
import type { ControlRequest } from '../generated/control.js';
import { memoryLimitProblem } from '../vm/sizing.js';

/** The limits an update changes, as the monitor gets them. */
export type ResourceUpdate = Extract<ControlRequest, { op: 'update' }>['resources'];

/** How a field is named in messages: a flag, or a pointer in --resources' JSON. */
export type FieldName = (pointer: string) => string;

/** The flag of each field, as runc's update names them. */
export const FLAG_OF: Record<string, string> = {
  '/memory/limit': '--memory',
  '/memory/reservation': '--memory-reservation',
  '/memory/swap': '--memory-swap',
  '/memory/kernel': '--kernel-memory',
  '/memory/kernelTCP': '--kernel-memory-tcp',
  '/cpu/shares': '--cpu-share',
  '/cpu/quota': '--cpu-quota',
  '/cpu/period': '--cpu-period',
  '/cpu/realtimeRuntime': '--cpu-rt-runtime',
  '/cpu/realtimePeriod': '--cpu-rt-period',
  '/cpu/cpus': '--cpuset-cpus',
  '/cpu/mems': '--cpuset-mems',
  '/blockIO/weight': '--blkio-weight',
  '/pids/limit': '--pids-limit',
};

const SIZE = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const UNIT: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** A memory size as runc's flags read it (go-units' RAMInBytes): 200m, 1.5g, 1024k, 1GiB; "-1" lifts the limit. */
export function parseSize(flag: string, text: string): number {
  if (text === '-1') return -1;
  const m = SIZE.exec(text);
  const size = m ? Number(m[1]) : NaN;
  if (!m || Number.isNaN(size)) throw new VmrunError('InvalidArgument', `invalid value for ${flag}: invalid size: '${text}'`);
  return Math.trunc(size * (m[3] ? UNIT[m[3].toLowerCase()]! : 1));
}

/** An integer flag, as runc parses it (strconv.ParseUint or ParseInt). */
export function parseInteger(flag: string, text: string, signed: boolean): number {
  if (!(signed ? /^[+-]?\d+$/ : /^\+?\d+$/).test(text)) {
    throw new VmrunError('InvalidArgument', `invalid value for ${flag}: ${signed ? 'strconv.ParseInt' : 'strconv.ParseUint'}: parsing "${text}": invalid syntax`);
  }
  return Number(text);
}

/** What the update asks, and the fields it takes and leaves alone, each with why. */
export interface ReadUpdate {
  update: ResourceUpdate;
  ignored: string[];
}

/** Reads a checked LinuxResources (from --resources or the flags) as runc's update does. */
export function readResources(r: Resources, name: FieldName): ReadUpdate {
  const ignored: string[] = [];
  const ignore = (pointer: string, set: unknown, why: string) => {
    if (set !== undefined && set !== 0 && set !== '' && set !== false && !(Array.isArray(set) && set.length === 0)) {
      ignored.push(`${name(pointer)}: ignored, ${why}`);
    }
  };
  const update: ResourceUpdate = {};
  const { limit, reservation, swap, kernel, kernelTCP } = r.memory ?? {};
  if (nonZero(limit) || nonZero(reservation) || nonZero(swap)) update.memory = pick({ limit, reservation, swap });
  ignore('/memory/kernel', kernel, 'as runc 1.1 ignores kernel memory');
  ignore('/memory/kernelTCP', kernelTCP, 'as runc 1.1 ignores kernel memory');
  for (const field of ['swappiness', 'disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate'] as const) {
    ignore(`/memory/${field}`, r.memory?.[field], "as runc's update does not change it");
  }
  const { shares, quota, period, cpus, mems, realtimeRuntime, realtimePeriod } = r.cpu ?? {};
  if (nonZero(shares) || nonZero(quota) || nonZero(period) || cpus || mems) update.cpu = pick({ shares, quota, period, cpus: cpus || undefined, mems: mems || undefined });
  const noRealtime = 'as runc ignores it on cgroup v2, which the guest runs (no real-time group scheduling)';
  ignore('/cpu/realtimeRuntime', realtimeRuntime, noRealtime);
  ignore('/cpu/realtimePeriod', realtimePeriod, noRealtime);
  ignore('/cpu/idle', r.cpu?.idle, "as runc 1.1's update does not change it");
  ignore('/cpu/burst', r.cpu?.burst, "as runc 1.1's update does not change it");
  if (nonZero(r.pids?.limit)) update.pids = { limit: r.pids!.limit! };
  const raw = r as Record<string, unknown>;
  const blockIO = (raw.blockIO ?? {}) as Record<string, unknown>;
  ignore('/blockIO/weight', blockIO.weight, "the guest has no block device: the container's files are on virtiofs");
  for (const field of Object.keys(blockIO).filter((f) => f !== 'weight')) ignore(`/blockIO/${field}`, blockIO[field], "as runc's update changes only blockIO.weight");
  for (const field of ['hugepageLimits', 'network', 'rdma', 'devices']) ignore(`/${field}`, raw[field], "as runc's update does not change it");
  if (Object.keys(r.unified ?? {}).length > 0) ignored.push(`${name('/unified')}: ignored, not applied yet`);
  return { update, ignored };
}

const nonZero = (v: number | undefined) => v !== undefined && v !== 0;

/** The object without its undefined and zero fields (0 leaves a limit as it is). */
function pick<T extends Record<string, number | string | undefined>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== 0 && v !== '')) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The CPUs and memory nodes the host has online, which a cpuset may name. */
export interface HostTopology {
  cpus: Set<number>;
  nodes: Set<number>;
}

/**
 * What runc (or the kernel under it) refuses in an update, as `field: problem`. The guest runs
 * cgroup v2, so runc's v2 rules hold where v1 and v2 differ (a swap limit needs a memory limit
 * beside it).
 */
export function updateProblems(u: ResourceUpdate, name: FieldName, host: HostTopology): string[] {
  const problems: string[] = [];
  const { limit = 0, reservation = 0, swap = 0 } = u.memory ?? {};
  for (const [pointer, value] of [['/memory/limit', limit], ['/memory/reservation', reservation], ['/memory/swap', swap]] as const) {
    if (value < -1) problems.push(`${name(pointer)}: ${value} is not a size: bytes, or -1 for no limit`);
  }
  const tooSmall = memoryLimitProblem(limit, name('/memory/limit'));
  if (tooSmall) problems.push(tooSmall);
  if (swap > 0 && limit <= 0) problems.push(`${name('/memory/swap')}: unable to set swap limit without memory limit (${name('/memory/limit')})`);
  if (swap > 0 && limit > 0 && swap < limit) problems.push(`${name('/memory/swap')}: ${swap} is less than ${name('/memory/limit')} ${limit}: memory+swap limit should be >= memory limit`);
  const { shares = 0, quota = 0, period = 0, cpus, mems } = u.cpu ?? {};
  if (shares !== 0 && shares < 2) problems.push(`${name('/cpu/shares')}: the minimum allowed cpu-shares is 2`);
  if (shares > 262_144) problems.push(`${name('/cpu/shares')}: the maximum allowed cpu-shares is 262144`);
  if (period !== 0 && (period < 1000 || period > 1_000_000)) problems.push(`${name('/cpu/period')}: ${period} is out of the kernel's range, 1000 to 1000000 (µs)`);
  if (quota > 0 && quota < 1000) problems.push(`${name('/cpu/quota')}: ${quota} is below the kernel's least quota, 1000 (µs)`);
  if (cpus) problems.push(...cpusetProblems(cpus, host.cpus, 'CPU', name('/cpu/cpus')));
  if (mems) problems.push(...cpusetProblems(mems, host.nodes, 'memory node', name('/cpu/mems')));
  return problems;
}

function cpusetProblems(list: string, online: Set<number>, what: string, at: string): string[] {
  const ids = parseCpuset(list);
  if (!ids) return [`${at}: "${list}" is not a list such as 0-3,6`];
  const missing = ids.filter((n) => !online.has(n));
  if (missing.length === 0) return [];
  return [`${at}: ${what} ${missing[0]} is not online on this host (${formatCpuset([...online])})`];
}

/** The numbers of a cpuset list such as "0-3,6", sorted and each once; undefined if it is not one. */
export function parseCpuset(list: string): number[] | undefined {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(list)) return undefined;
  const ids = new Set<number>();
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    if (to! < from || to! - from > 4096) return undefined;
    for (let n = from; n <= to!; n++) ids.add(n);
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * A cpuset of host CPUs as the guest's: its vCPUs float over the VM's host CPUs, so the container
 * gets as many of them as the list names, the same numbers where the guest has them.
 */
export function cpusInGuest(ids: number[], vcpus: number): number[] {
  return ids.every((n) => n < vcpus) ? ids : Array.from({ length: Math.min(ids.length, vcpus) }, (_, i) => i);
}

/**
 * The vCPUs of a guest of `vcpus` that its container may run on, when not all of them: those of
 * its cpuset (as cpusInGuest maps them), and no more than the `mayRunOn` CPUs vmrun may run on
 * (its host cgroup's cpuset), so that nproc says what it says under runc.
 */
export function cpusForContainer(cpus: string | undefined, mayRunOn: number, vcpus: number): number[] | undefined {
  const ids = cpus ? cpusInGuest(parseCpuset(cpus) ?? [], vcpus) : Array.from({ length: vcpus }, (_, i) => i);
  const allowed = ids.slice(0, Math.max(1, mayRunOn));
  return allowed.length > 0 && allowed.length < vcpus ? allowed : undefined;
}

/** Numbers as a cpuset list: [0,1,2,5] is "0-2,5". */
export function formatCpuset(ids: number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

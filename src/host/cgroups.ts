// The host cgroup a container's VM lives in, at config.json's linux.cgroupsPath (cgroupfs form),
// as runc makes it: one directory per cgroup v1 hierarchy (or one in a pure cgroup v2 host), the
// limits written there, the monitor moved in before it starts anything, so that virsh, QEMU and
// virtiofsd are born inside (libvirt itself moves nothing: vmrun's qemu.conf lists no cgroup
// controllers). `delete` removes the directories it made.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmrunError } from '../errors.js';
import { cpuWeight } from '../oci/linux-ids.js';

export interface Hierarchy {
  /** Where it is mounted, such as /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** Its controllers (v1), or those cgroup.controllers lists (v2). */
  controllers: string[];
  version: 1 | 2;
}

/** What the host cgroup is to hold, in host terms. */
export interface HostCgroupLimits {
  memoryBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  cpus?: string;
  pids?: number;
}

/** The cgroup hierarchies this process sees, from its mountinfo. */
export function hierarchies(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Hierarchy[] {
  const found: Hierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype === 'cgroup') {
      const controllers = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro');
      found.push({ mountPoint, controllers, version: 1 });
    } else if (fstype === 'cgroup2') {
      const file = join(mountPoint, 'cgroup.controllers');
      const controllers = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean) : [];
      found.push({ mountPoint, controllers, version: 2 });
    }
  }
  // A hybrid host's cgroup2 mount has no controllers and is left alone; a pure v2 host has only it.
  const v1 = found.filter((h) => h.version === 1);
  return v1.length > 0 ? v1 : found.filter((h) => h.version === 2);
}

/** The directories of `cgroupsPath` in each hierarchy; a relative path is taken from the root, as runc does. */
export function cgroupDirs(cgroupsPath: string, all: Hierarchy[] = hierarchies()): string[] {
  const path = posix.normalize(posix.join('/', cgroupsPath));
  if (path === '/') throw new VmrunError('ConfigInvalid', `/linux/cgroupsPath: ${JSON.stringify(cgroupsPath)} names the root cgroup`);
  return all.map((h) => join(h.mountPoint, path));
}

/** The files and values that set `limits` in one hierarchy's directory. */
export function limitFiles(h: Hierarchy, limits: HostCgroupLimits): [string, string][] {
  const has = (c: string) => h.controllers.includes(c);
  const files: [string, string][] = [];
  const { memoryBytes, cpuQuota, cpuPeriod, cpuShares, cpus, pids } = limits;
  if (has('pids') && pids) files.push(['pids.max', String(pids)]);
  if (h.version === 1) {
    if (has('memory') && memoryBytes) files.push(['memory.limit_in_bytes', String(memoryBytes)]);
    if (has('cpu') && cpuPeriod) files.push(['cpu.cfs_period_us', String(cpuPeriod)]);
    if (has('cpu') && cpuQuota) files.push(['cpu.cfs_quota_us', String(cpuQuota)]);
    if (has('cpu') && cpuShares) files.push(['cpu.shares', String(cpuShares)]);
    if (has('cpuset') && cpus) files.push(['cpuset.cpus', cpus]);
  } else {
    if (has('memory') && memoryBytes) files.push(['memory.max', String(memoryBytes)]);
    if (has('cpu') && cpuQuota) files.push(['cpu.max', `${cpuQuota} ${cpuPeriod || 100_000}`]);
    if (has('cpu') && cpuShares) files.push(['cpu.weight', String(cpuWeight(cpuShares))]);
    if (has('cpuset') && cpus) files.push(['cpuset.cpus', cpus]);
  }
  return files;
}

/** What `update` changes in the host cgroup; -1 lifts a limit. */
export interface HostCgroupChange {
  memoryBytes?: number;
  cpuShares?: number;
  /** With cpuPeriod: cpu.max holds both on v2. */
  cpuQuota?: number;
  cpuPeriod?: number;
  cpus?: string;
  mems?: string;
  pids?: number;
}

/** The files and values that make `change` in one hierarchy's directory, in the order runc writes them. */
export function changeFiles(h: Hierarchy, change: HostCgroupChange): [string, string][] {
  const has = (c: string) => h.controllers.includes(c);
  const files: [string, string][] = [];
  const { memoryBytes, cpuShares, cpuQuota, cpuPeriod, cpus, mems, pids } = change;
  const v2 = (n: number) => (n > 0 ? String(n) : 'max');
  if (has('pids') && pids) files.push(['pids.max', v2(pids)]);
  if (h.version === 1) {
    if (has('memory') && memoryBytes) files.push(['memory.limit_in_bytes', String(memoryBytes > 0 ? memoryBytes : -1)]);
    if (has('cpu') && cpuShares) files.push(['cpu.shares', String(cpuShares)]);
    if (has('cpu') && cpuPeriod) files.push(['cpu.cfs_period_us', String(cpuPeriod)]);
    if (has('cpu') && cpuQuota) files.push(['cpu.cfs_quota_us', String(cpuQuota > 0 ? cpuQuota : -1)]);
  } else {
    if (has('memory') && memoryBytes) files.push(['memory.max', v2(memoryBytes)]);
    if (has('cpu') && cpuShares) files.push(['cpu.weight', String(cpuWeight(cpuShares))]);
    if (has('cpu') && cpuQuota) files.push(['cpu.max', `${v2(cpuQuota)} ${cpuPeriod || 100_000}`]);
  }
  if (has('cpuset') && cpus) files.push(['cpuset.cpus', cpus]);
  if (has('cpuset') && mems) files.push(['cpuset.mems', mems]);
  return files;
}

/**
 * Makes `change` in the cgroup's directories (those create made). A memory limit below what the
 * VM's processes hold and cannot give back (v1 refuses it, EBUSY; v2 would kill QEMU itself) is left as it was, and said in the notes it returns: the guest's own
 * limit holds the container.
 */
export async function changeCgroup(dirs: string[], change: HostCgroupChange, all: Hierarchy[] = hierarchies()): Promise<string[]> {
  const notes: string[] = [];
  for (const h of all) {
    const dir = dirs.find((d) => d.startsWith(h.mountPoint + '/'));
    if (!dir) continue;
    const files = changeFiles(h, change);
    const memory = files.find(([file]) => file === 'memory.max');
    if (memory && memory[1] !== 'max') {
      const held = await heldBytes(dir);
      if (held > Number(memory[1])) {
        notes.push(`${join(dir, 'memory.max')}: kept as it was: the VM's processes hold ${held} bytes, more than ${memory[1]}`);
        files.splice(files.indexOf(memory), 1);
      }
    }
    for (const [i, [file, value]] of files.entries()) {
      try {
        await writeFile(join(dir, file), value);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (file === 'memory.limit_in_bytes' && code === 'EBUSY') {
          notes.push(`${join(dir, file)}: kept as it was: the VM's processes use more than ${value} bytes`);
          continue;
        }
        // runc's order on v1: a shorter period may be refused until the new quota is in.
        const quota = files[i + 1];
        if (file === 'cpu.cfs_period_us' && code === 'EINVAL' && quota?.[0] === 'cpu.cfs_quota_us') {
          await writeFile(join(dir, quota[0]), quota[1]);
          await writeFile(join(dir, file), value).catch(() => undefined);
          continue;
        }
        throw new VmrunError('InvalidArgument', `cannot set ${file} to ${value} in the host cgroup ${dir}: ${(e as Error).message}`);
      }
    }
  }
  return notes;
}

/**
 * What a lower memory.max of a cgroup v2 directory cannot reclaim without swap: its anonymous
 * memory and its shmem (the guest's RAM is a memfd).
 */
async function heldBytes(dir: string): Promise<number> {
  const stat = await readFile(join(dir, 'memory.stat'), 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  return field('anon') + field('shmem');
}

/** Makes the cgroup in every hierarchy and writes its limits; returns its directories. */
export async function createCgroup(cgroupsPath: string, limits: HostCgroupLimits): Promise<string[]> {
  const all = hierarchies();
  const dirs = cgroupDirs(cgroupsPath, all);
  for (const [i, h] of all.entries()) {
    const dir = dirs[i]!;
    await makeDir(h, dir);
    for (const [file, value] of limitFiles(h, limits)) {
      await writeFile(join(dir, file), value).catch((e: Error) => {
        throw new VmrunError('ConfigInvalid', `/linux/cgroupsPath: cannot set ${file} to ${value} in ${dir}: ${e.message}`);
      });
    }
  }
  return dirs;
}

/** mkdir -p, where a new cpuset directory takes its parent's CPUs and memory nodes (v1 starts them empty). */
async function makeDir(h: Hierarchy, dir: string): Promise<void> {
  if (existsSync(dir)) return;
  const parent = posix.dirname(dir);
  if (parent !== h.mountPoint) await makeDir(h, parent);
  await mkdir(dir);
  if (h.version === 1 && h.controllers.includes('cpuset')) {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      await writeFile(join(dir, file), await readFile(join(parent, file), 'utf8'));
    }
  }
}

/** Moves this process into the cgroup: everything it starts afterwards is born there. */
export async function joinCgroup(dirs: string[]): Promise<void> {
  for (const dir of dirs) await writeFile(join(dir, 'cgroup.procs'), String(process.pid));
}

/** Removes the cgroup's directories once their processes are gone (a moment after they exit). */
/** Moves this process out of `dirs` into their parents, so that it can remove them itself. */
export async function leaveCgroup(dirs: string[]): Promise<void> {
  for (const dir of dirs) await writeFile(join(dirname(dir), 'cgroup.procs'), String(process.pid)).catch(() => undefined);
}

export async function removeCgroup(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt >= 50) throw e;
        await sleep(20);
      }
    }
  }
}

// The host cgroup a container's VM lives in, at config.json's linux.cgroupsPath (cgroupfs form),
// as runc makes it: one directory per cgroup v1 hierarchy (or one in a pure cgroup v2 host), the
// limits written there, the monitor moved in before it starts anything, so that virsh, QEMU and
// virtiofsd are born inside (libvirt itself moves nothing: vmrun's qemu.conf lists no cgroup
// controllers). `delete` removes the directories it made.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
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

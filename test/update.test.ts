// `vmrun update` as runc 1.1 reads it and as the engines send it: Podman 4.3's `update --memory
// 200m` (seen: --resources=FILE holding {"memory":{"limit":209715200,"swap":419430400}}) and Docker
// 20.10's containerd shim (`--resources -` with the whole LinuxResources, zeros included).
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { changeCgroup, changeFiles, type Hierarchy } from '../src/host/cgroups.js';
import { initialBandwidth, onlineCount, planUpdate } from '../src/monitor/update.js';
import { FLAG_OF, formatCpuset, parseCpuset, parseInteger, parseSize, readResources, updateProblems, type ResourceUpdate } from '../src/oci/resource-update.js';
import { checkConfigPart } from '../src/oci/bundle.js';
import { GUEST_OVERHEAD_MIB, MIN_GUEST_MEMORY_MIB, VMM_OVERHEAD_MIB, VMM_TASKS } from '../src/vm/sizing.js';
import { tempDir, vmrun } from './helpers/cli.js';

const MiB = 1024 * 1024;
const pointer = (p: string) => p;
const flag = (p: string) => FLAG_OF[p]!;
const HOST = { cpus: new Set([0, 1, 2, 3]), nodes: new Set([0]) };
const HAS = { cpus: 4, memoryMiB: 24 * 1024, defaultGuestMemoryMiB: 2048 };
const SHAPE = { memoryMiB: 512 + GUEST_OVERHEAD_MIB, vcpus: 2, hostCgroup: true };

/** Docker 20.10's update of `--memory 200m` on a container run with `-m 300m` (swap 600m, twice the memory). */
const DOCKER = {
  memory: { limit: 200 * MiB, reservation: 0, swap: 600 * MiB, kernel: 0, kernelTCP: 0 },
  cpu: { shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0 },
  blockIO: { weight: 0 },
  pids: { limit: 0 },
};
const PODMAN = { memory: { limit: 200 * MiB, swap: 400 * MiB } };

const read = (json: unknown) => readResources(checkConfigPart('resources', json, '--resources'), pointer);

describe("runc's update flags", () => {
  test.each([
    ['200m', 200 * MiB], ['1.5g', 1.5 * 1024 * MiB], ['1024k', MiB], ['1GiB', 1024 * MiB], ['64 MB', 64 * MiB], ['100', 100], ['-1', -1],
  ])('a size %s is %d bytes, as go-units reads it', (text, bytes) => expect(parseSize('--memory', text)).toBe(bytes));

  test.each(['-2', '1x', '1.2.3', '', 'm'])('%j is not a size', (text) => {
    expect(() => parseSize('--memory', text)).toThrow(`invalid value for --memory: invalid size: '${text}'`);
  });

  test('an unsigned flag refuses a sign, as strconv.ParseUint does', () => {
    expect(() => parseInteger('--cpu-share', '-5', false)).toThrow('invalid value for --cpu-share: strconv.ParseUint: parsing "-5": invalid syntax');
    expect(parseInteger('--cpu-quota', '-5', true)).toBe(-5);
  });

  test('cpuset lists are read and written back as the kernel does', () => {
    expect(parseCpuset('0-2,5,1')).toEqual([0, 1, 2, 5]);
    expect(parseCpuset('3-1')).toBeUndefined();
    expect(parseCpuset('a')).toBeUndefined();
    expect(formatCpuset([5, 0, 1, 2])).toBe('0-2,5');
  });
});

describe('what an update takes, and what it ignores', () => {
  test("Docker's whole LinuxResources, zeros included: only the memory limit and swap change", () => {
    expect(read(DOCKER)).toEqual({ update: { memory: { limit: 200 * MiB, swap: 600 * MiB } }, ignored: [] });
  });

  test("Podman's memory and swap", () => {
    expect(read(PODMAN)).toEqual({ update: { memory: { limit: 200 * MiB, swap: 400 * MiB } }, ignored: [] });
  });

  test('kernel memory, realtime CPU, block IO and the rest are taken and named as ignored, by field or flag', () => {
    const json = {
      ...DOCKER,
      memory: { ...DOCKER.memory, kernel: 64 * MiB, kernelTCP: MiB, swappiness: 10 },
      cpu: { ...DOCKER.cpu, realtimeRuntime: 950_000, realtimePeriod: 1_000_000 },
      blockIO: { weight: 300, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] },
      hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
      unified: { 'memory.high': '1G' },
    };
    const { update, ignored } = read(json);
    expect(update).toEqual({ memory: { limit: 200 * MiB, swap: 600 * MiB } });
    expect(ignored).toEqual([
      '/memory/kernel: ignored, as runc 1.1 ignores kernel memory',
      '/memory/kernelTCP: ignored, as runc 1.1 ignores kernel memory',
      "/memory/swappiness: ignored, as runc's update does not change it",
      '/cpu/realtimeRuntime: ignored, as runc ignores it on cgroup v2, which the guest runs (no real-time group scheduling)',
      '/cpu/realtimePeriod: ignored, as runc ignores it on cgroup v2, which the guest runs (no real-time group scheduling)',
      "/blockIO/weight: ignored, the guest has no block device: the container's files are on virtiofs",
      "/blockIO/throttleReadBpsDevice: ignored, as runc's update changes only blockIO.weight",
      "/hugepageLimits: ignored, as runc's update does not change it",
      '/unified: ignored, not applied yet',
    ]);
    expect(readResources({ memory: { kernel: MiB } }, flag).ignored).toEqual(['--kernel-memory: ignored, as runc 1.1 ignores kernel memory']);
  });

  test('a quota without a period is an update of the quota alone (create requires the period)', () => {
    expect(read({ cpu: { quota: 50_000 } }).update).toEqual({ cpu: { quota: 50_000 } });
  });

  test('a field of the wrong type is refused by its pointer, as Go refuses to unmarshal it', () => {
    expect(() => read({ memory: { limit: 'x' } })).toThrow('--resources is invalid: /memory/limit: must be integer');
    expect(() => read({ blockIO: { weight: 70_000 } })).toThrow('/blockIO/weight: must be <= 65535');
  });
});

describe('what runc refuses, before anything changes', () => {
  const problems = (u: ResourceUpdate, name = flag) => updateProblems(u, name, HOST);
  test.each<[string, ResourceUpdate, string]>([
    ['a negative memory limit', { memory: { limit: -2 } }, '--memory: -2 is not a size: bytes, or -1 for no limit'],
    ['a negative reservation', { memory: { reservation: -5 } }, '--memory-reservation: -5 is not a size: bytes, or -1 for no limit'],
    ['a limit below the least vmrun boots a process in', { memory: { limit: 4096 } }, '--memory: 4096 bytes is too little for any process to start; vmrun accepts at least 4194304 (4 MiB)'],
    ['swap below memory', { memory: { limit: 200 * MiB, swap: 100 * MiB } }, `--memory-swap: ${100 * MiB} is less than --memory ${200 * MiB}: memory+swap limit should be >= memory limit`],
    ['swap without a memory limit (runc on cgroup v2)', { memory: { swap: 100 * MiB } }, '--memory-swap: unable to set swap limit without memory limit (--memory)'],
    ['swap with the memory limit lifted', { memory: { limit: -1, swap: 100 * MiB } }, '--memory-swap: unable to set swap limit without memory limit (--memory)'],
    ['one CPU share', { cpu: { shares: 1 } }, '--cpu-share: the minimum allowed cpu-shares is 2'],
    ['too many CPU shares', { cpu: { shares: 300_000 } }, '--cpu-share: the maximum allowed cpu-shares is 262144'],
    ['a period out of range', { cpu: { period: 500 } }, "--cpu-period: 500 is out of the kernel's range, 1000 to 1000000 (µs)"],
    ['a quota below the least', { cpu: { quota: 10 } }, "--cpu-quota: 10 is below the kernel's least quota, 1000 (µs)"],
    ['a CPU the host does not have', { cpu: { cpus: '1,7' } }, '--cpuset-cpus: CPU 7 is not online on this host (0-3)'],
    ['a memory node the host does not have', { cpu: { mems: '3' } }, '--cpuset-mems: memory node 3 is not online on this host (0)'],
    ['a cpuset that is not a list', { cpu: { cpus: '0-' } }, '--cpuset-cpus: "0-" is not a list such as 0-3,6'],
  ])('%s', (_, u, says) => expect(problems(u)).toEqual([says]));

  test('named by their pointer in --resources', () => {
    expect(problems({ memory: { limit: 200 * MiB, swap: 100 * MiB } }, pointer)).toEqual([`/memory/swap: ${100 * MiB} is less than /memory/limit ${200 * MiB}: memory+swap limit should be >= memory limit`]);
  });

  test('what runc takes: -1 lifts, a negative quota or pids limit is none, a reservation above the limit, swap equal to memory', () => {
    expect(problems({ memory: { limit: -1, reservation: -1, swap: -1 }, cpu: { quota: -5 }, pids: { limit: -5 } })).toEqual([]);
    expect(problems({ memory: { limit: 100 * MiB, reservation: 200 * MiB, swap: 100 * MiB } })).toEqual([]);
    expect(problems(read(DOCKER).update)).toEqual([]);
    expect(problems(read(PODMAN).update)).toEqual([]);
  });
});

describe("the update's plan: the guest's cgroup v2 files and the host cgroup's limits", () => {
  const plan = (u: ResourceUpdate, now = initialBandwidth()) => planUpdate(u, now, SHAPE, HAS);
  const hostMemory = (limitMiB: number) => (Math.max(limitMiB + GUEST_OVERHEAD_MIB, MIN_GUEST_MEMORY_MIB) + VMM_OVERHEAD_MIB) * MiB;

  test("Docker's call: memory.max, and swap as runc converts memory+swap to v2 (swap - memory)", () => {
    const p = plan(read(DOCKER).update);
    expect(p.guest).toEqual({ 'memory.swap.max': String(400 * MiB), 'memory.max': String(200 * MiB) });
    expect(p.host).toEqual({ memoryBytes: hostMemory(200) });
    expect(p.notes[0]).toMatch(/^memory\.swap: memory\.swap\.max is 419430400 in the guest.*the guest has no swap space/);
  });

  test("Podman's call", () => {
    expect(plan(read(PODMAN).update).guest).toEqual({ 'memory.swap.max': String(200 * MiB), 'memory.max': String(200 * MiB) });
  });

  test.each<[string, ResourceUpdate['memory'], Record<string, string>]>([
    ['swap equal to memory: no swap', { limit: 100 * MiB, swap: 100 * MiB }, { 'memory.swap.max': '0', 'memory.max': String(100 * MiB) }],
    ['memory lifted, swap not given: both lifted', { limit: -1 }, { 'memory.swap.max': 'max', 'memory.max': 'max' }],
    ['swap -1: unlimited', { limit: 100 * MiB, swap: -1 }, { 'memory.swap.max': 'max', 'memory.max': String(100 * MiB) }],
    ['a reservation', { reservation: 50 * MiB }, { 'memory.low': String(50 * MiB) }],
    ['a reservation lifted', { reservation: -1 }, { 'memory.low': 'max' }],
  ])('%s', (_, memory, files) => expect(plan({ memory }).guest).toEqual(files));

  test('the host cgroup gets the guest create would boot for the limit, never more than this guest', () => {
    expect(plan({ memory: { limit: 64 * MiB } }).host.memoryBytes).toBe(hostMemory(64)); // the least guest
    expect(plan({ memory: { limit: 8 * 1024 * MiB } }).host.memoryBytes).toBe((SHAPE.memoryMiB + VMM_OVERHEAD_MIB) * MiB);
    expect(plan({ memory: { limit: -1 } }).host.memoryBytes).toBe(-1);
    expect(plan({ memory: { limit: 8 * 1024 * MiB } }).notes).toEqual([`memory.limit: ${8 * 1024 * MiB} is more than the guest has for the container (512 MiB of a ${SHAPE.memoryMiB} MiB guest, which does not grow so far now): the limit is set, and the container gets at most that`]);
  });

  test('CPU: shares as cpu.weight; a quota or a period alone keeps the other, as runc does', () => {
    expect(plan({ cpu: { shares: 512 } })).toMatchObject({ guest: { 'cpu.weight': '20' }, host: { cpuShares: 512 } });
    const quota = plan({ cpu: { quota: 50_000 } }, { quota: -1, period: 200_000 });
    expect(quota).toMatchObject({ guest: { 'cpu.max': '50000 200000' }, host: { cpuQuota: 50_000, cpuPeriod: 200_000 }, bandwidth: { quota: 50_000, period: 200_000 } });
    expect(plan({ cpu: { period: 50_000 } }, quota.bandwidth).guest).toEqual({ 'cpu.max': '50000 50000' });
    expect(plan({ cpu: { quota: -1 } }, quota.bandwidth).guest).toEqual({ 'cpu.max': 'max 200000' });
    expect(initialBandwidth({ quota: 30_000 })).toEqual({ quota: 30_000, period: 100_000 });
  });

  test("a cpuset: the host's as given, the guest's the same vCPUs where it has them, else as many as it has", () => {
    expect(plan({ cpu: { cpus: '1' } })).toMatchObject({ guest: { 'cpuset.cpus': '1' }, host: { cpus: '1' }, notes: [] });
    const wide = plan({ cpu: { cpus: '1-3' } });
    expect(wide).toMatchObject({ guest: { 'cpuset.cpus': '0-1' }, host: { cpus: '1-3' } });
    expect(wide.notes).toEqual(['cpu.cpus: the guest has 2 vCPUs: cpuset.cpus is 0-1 in the guest, and 1-3 on the host cgroup']);
    expect(planUpdate({ cpu: { cpus: '1-3' } }, initialBandwidth(), { ...SHAPE, hostCgroup: false }, HAS).notes).toEqual(['cpu.cpus: the guest has 2 vCPUs: cpuset.cpus is 0-1 in the guest, and the VM keeps its host CPUs (no host cgroup)']);
    expect(planUpdate({ cpu: { cpus: '3' } }, initialBandwidth(), { ...SHAPE, vcpus: 1 }, HAS).guest).toEqual({ 'cpuset.cpus': '0' });
    expect(plan({ cpu: { mems: '0' } })).toMatchObject({ guest: {}, host: { mems: '0' } });
  });

  test("pids: the guest's limit; the host's raised for the VM's own tasks, as create does", () => {
    expect(plan({ pids: { limit: 50 } })).toMatchObject({ guest: { 'pids.max': '50' }, host: { pids: VMM_TASKS } });
    expect(plan({ pids: { limit: 5000 } }).host.pids).toBe(5000);
    expect(plan({ pids: { limit: -1 } })).toMatchObject({ guest: { 'pids.max': 'max' }, host: { pids: -1 } });
  });
});

describe("the guest's count of CPUs online, which update's cpusets map onto", () => {
  test('is taken from 1 to the shape, and nothing else from the guest', () => {
    expect(onlineCount({ online: 2 }, 2)).toBe(2);
    expect(onlineCount({ online: 1 }, 4)).toBe(1);
    for (const bad of [{ online: 3 }, { online: 0 }, { online: 1.5 }, { online: '2' }, {}, undefined]) expect(onlineCount(bad, 2)).toBeUndefined();
  });
});

describe('the host cgroup mirror', () => {
  const v1 = (c: string): Hierarchy => ({ mountPoint: `/sys/fs/cgroup/${c}`, controllers: [c], version: 1 });
  const v2: Hierarchy = { mountPoint: '/sys/fs/cgroup', controllers: ['cpu', 'cpuset', 'memory', 'pids'], version: 2 };
  const change = { memoryBytes: 600 * MiB, cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, cpus: '0', pids: 300 };

  test('cgroup v1: each hierarchy its own files, as runc writes them', () => {
    expect([v1('memory'), v1('cpu'), v1('cpuset'), v1('pids')].flatMap((h) => changeFiles(h, change))).toEqual([
      ['memory.limit_in_bytes', String(600 * MiB)],
      ['cpu.shares', '512'], ['cpu.cfs_period_us', '100000'], ['cpu.cfs_quota_us', '50000'],
      ['cpuset.cpus', '0'],
      ['pids.max', '300'],
    ]);
    expect(changeFiles(v1('memory'), { memoryBytes: -1 })).toEqual([['memory.limit_in_bytes', '-1']]);
    expect(changeFiles(v1('cpu'), { cpuQuota: -1, cpuPeriod: 100_000 })).toEqual([['cpu.cfs_period_us', '100000'], ['cpu.cfs_quota_us', '-1']]);
  });

  test('cgroup v2: one directory, v2 names and values', () => {
    expect(changeFiles(v2, change)).toEqual([
      ['pids.max', '300'], ['memory.max', String(600 * MiB)], ['cpu.weight', '20'], ['cpu.max', '50000 100000'], ['cpuset.cpus', '0'],
    ]);
    expect(changeFiles(v2, { memoryBytes: -1, pids: -1, cpuQuota: -1, cpuPeriod: 50_000 })).toEqual([['pids.max', 'max'], ['memory.max', 'max'], ['cpu.max', 'max 50000']]);
  });

  test('writes the files of the directories create made, and keeps a memory limit below what the VM holds', async () => {
    const mount = await mkdtemp(join(tmpdir(), 'vmrun-cg-'));
    const dir = join(mount, 'ctr');
    await mkdir(dir);
    await writeFile(join(dir, 'memory.stat'), `anon ${300 * MiB}\nfile ${100 * MiB}\nshmem ${200 * MiB}\n`);
    const h: Hierarchy = { ...v2, mountPoint: mount };
    const notes = await changeCgroup([dir], { memoryBytes: 400 * MiB, pids: 300 }, [h]);
    expect(await readFile(join(dir, 'pids.max'), 'utf8')).toBe('300');
    await expect(readFile(join(dir, 'memory.max'), 'utf8')).rejects.toThrow(/ENOENT/);
    expect(notes).toEqual([`${dir}/memory.max: kept as it was: the VM's processes hold ${500 * MiB} bytes, more than ${400 * MiB}`]);
    expect(await changeCgroup([dir], { memoryBytes: 600 * MiB }, [h])).toEqual([]);
    expect(await readFile(join(dir, 'memory.max'), 'utf8')).toBe(String(600 * MiB));
  });
});

describe('vmrun update on the command line', () => {
  const update = async (args: string[], input?: string) => vmrun(['--root', await tempDir(), 'update', ...args, 'nosuch'], input === undefined ? {} : { input });

  test.each<[string[], string | undefined, string]>([
    [['--memory', '200m', '--memory-swap', '100m'], undefined, `--memory-swap: ${100 * MiB} is less than --memory ${200 * MiB}: memory+swap limit should be >= memory limit`],
    [['--cpu-share', '-5'], undefined, 'invalid value for --cpu-share: strconv.ParseUint: parsing "-5": invalid syntax'],
    [['--memory', '-2'], undefined, "invalid value for --memory: invalid size: '-2'"],
    [['--l3-cache-schema', 'L3:0=f'], undefined, '--l3-cache-schema: Intel RDT/CAT: l3 cache schema is not enabled (the guest has no RDT)'],
    [['--resources', '-'], '{"memory":{"swap":104857600}}', '--resources is invalid: /memory/swap: unable to set swap limit without memory limit (/memory/limit)'],
  ])('%j is refused before the container is looked up', async (args, input, says) => {
    expect(await update(args, input)).toMatchObject({ exitCode: 1, stderr: says });
  });

  test("what runc takes passes to the container's lookup; with --debug, what it ignores is named", async () => {
    expect(await update(['--memory', '200m', '--kernel-memory', '10m', '--cpu-rt-runtime', '1000', '--blkio-weight', '300'])).toMatchObject({ exitCode: 1, stderr: 'container "nosuch" does not exist' });
    const r = await vmrun(['--root', await tempDir(), '--debug', 'update', '--resources', '-', '--memory', '1g', 'nosuch'], { input: JSON.stringify({ ...DOCKER, memory: { ...DOCKER.memory, kernel: MiB } }) });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('--memory: ignored beside --resources, as runc ignores it');
    expect(r.stderr).toContain('/memory/kernel: ignored, as runc 1.1 ignores kernel memory');
  });
});

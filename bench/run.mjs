#!/usr/bin/env node
// vmrun's benchmark: one run, interleaved, medians of RUNS each (the machine is noisy, so only
// ratios within one run mean anything):
//   (a) the floor: plain qemu-system-x86_64, the guest kernel as Debian packages it (vmlinuz),
//       1 vCPU, 256 MiB, a busybox-only initramfs whose /init prints one line; time to that line;
//       and beside it the same floor booting the unpacked kernel directly (PVH), as vmrun does
//   (b) vmrun create + start to the container's first output line, restored from the restore
//       image (the default) and booted cold (VMRUN_BOOT=cold), with breakdowns; the same without
//       namespaces in config.json; a pod member's, its pod's VM running
//   (c) 8 containers created at once: time until all have printed their first line, against one alone
//   (d) host PSS per idle container, split by process, and the guest's memory in use, with 8
//       running and with 1
//   (e) file I/O on the container's rootfs against the same on the host: sequential write MB/s
//       and 4 KiB random reads per second
//   (f) the QMP commands libvirt sends per start, restored and cold, counted from its log
//   (g) opening a fresh libvirt root with and without the seeded QEMU capabilities
// Writes bench/results.json and bench/results.md. Needs `vmrun setup` done; run as root.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { containerMemory, guestUsed, qmpCommands, qmpLogging } from './measure.mjs';

const top = fileURLToPath(new URL('..', import.meta.url));
const VMRUN = join(top, 'bin/vmrun');
const RUNS = Number(process.env.RUNS ?? 5);
/** How many containers (c) and (d) run at once. */
const MANY = 8;
const cache = process.env.VMRUN_CACHE ?? '/var/lib/vmrun';
const guest = JSON.parse(readFileSync(join(cache, 'guest.json'), 'utf8'));
const { vmlinuz } = JSON.parse(readFileSync(join(cache, 'kernel', guest.kernelPackage, 'kernel.json'), 'utf8'));
const { capabilitiesCache, prepareRoot, EMULATOR } = await import(join(top, 'dist/src/vm/libvirt.js'));
const work = mkdtempSync(join(tmpdir(), 'vmrun-bench-'));
const root = join(work, 'root');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (ms) => (ms / 1000).toFixed(2);
const vmrun = (args, opts = {}) => execFileSync(VMRUN, ['--root', root, ...args], { encoding: 'utf8', ...opts });
const cold = { ...process.env, VMRUN_BOOT: 'cold' };

/** The floor's initramfs: busybox, and an /init that prints one line and powers off. */
function floorInitrd() {
  const tree = join(work, 'floor');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'dev'));
  copyFileSync('/bin/busybox', join(tree, 'bin/busybox'));
  writeFileSync(join(tree, 'init'), '#!/bin/busybox sh\n/bin/busybox echo VMRUN-FLOOR\n/bin/busybox poweroff -f\n');
  chmodSync(join(tree, 'init'), 0o755);
  execFileSync('mknod', ['-m', '600', join(tree, 'dev/console'), 'c', '5', '1']);
  const out = join(work, 'floor.cpio');
  execFileSync('sh', ['-c', `cd ${tree} && find . | cpio --quiet -o -H newc -R 0:0 > ${out}`]);
  return out;
}

/** Spawns a command and resolves with the ms until a stdout line matches. */
async function untilLine(cmd, args, match, opts = {}) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], ...opts });
  for await (const line of createInterface({ input: child.stdout })) {
    if (match.test(line)) {
      const ms = performance.now() - t0;
      return { ms, child };
    }
  }
  throw new Error(`${cmd} ended before printing ${match}`);
}

async function floor(initrd, kernel) {
  const { ms, child } = await untilLine('qemu-system-x86_64', [
    '-machine', 'pc,accel=tcg', '-m', '256', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none',
    '-serial', 'stdio', '-kernel', kernel, '-initrd', initrd,
    '-append', 'console=ttyS0 quiet panic=-1 cryptomgr.notests 8250.nr_uarts=1 random.trust_cpu=on',
  ], /VMRUN-FLOOR/);
  child.kill('SIGKILL');
  await once(child, 'exit');
  return ms;
}

let containers = 0;
async function vmrunFirstLine(bundle, env = process.env) {
  const id = `bench-${process.pid}-${++containers}`;
  const log = join(work, `${id}.log`);
  const t0 = performance.now();
  // create's stdout is the container's: its first line is the container's first output.
  const create = spawn(VMRUN, ['--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', bundle, id], {
    stdio: ['ignore', 'pipe', 'inherit'], env,
  });
  const firstLine = new Promise((resolve) => createInterface({ input: create.stdout }).once('line', () => resolve(performance.now())));
  const [code] = await once(create, 'exit');
  if (code !== 0) throw new Error(`vmrun create exited ${code}`);
  const tCreated = performance.now();
  vmrun(['start', id]);
  const tStarted = performance.now();
  const tFirst = await firstLine;
  vmrun(['delete', '--force', id]);
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const record = lines.find((r) => r.msg === 'container created');
  const restored = lines.some((r) => r.msg === 'restoring the VM from the restore image');
  if (restored !== (env.VMRUN_BOOT !== 'cold')) throw new Error(`${id} was ${restored ? 'restored' : 'booted'}, not as asked`);
  return {
    total: tFirst - t0,
    create: tCreated - t0,
    libvirt: record.libvirtMs,
    // Of the guest's own boot (the image's, for a restored guest): meaningful when cold.
    kernelToNode: record.guest.nodeExec * 1000,
    nodeToAgent: (record.guest.agentStart - record.guest.nodeExec) * 1000,
    hello: record.helloMs,
    containerCreate: record.createMs,
    cpus: record.cpusMs,
    start: tStarted - tCreated,
    startToOutput: tFirst - tStarted,
  };
}

/** (c): `count` containers created at once, then started; ms until the last one's first line. */
async function manyAtOnce(bundle, count) {
  const ids = Array.from({ length: count }, () => `bench-${process.pid}-${++containers}`);
  const t0 = performance.now();
  const lines = await Promise.all(ids.map(async (id) => {
    const create = spawn(VMRUN, ['--root', root, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'inherit'] });
    const firstLine = new Promise((resolve) => createInterface({ input: create.stdout }).once('line', () => resolve(performance.now())));
    const [code] = await once(create, 'exit');
    if (code !== 0) throw new Error(`vmrun create of ${id} exited ${code}`);
    const start = spawn(VMRUN, ['--root', root, 'start', id], { stdio: 'ignore' });
    await once(start, 'exit');
    return firstLine;
  }));
  return { ms: Math.max(...lines) - t0, ids };
}

/** (d): the memory of running containers `ids`, per container: host PSS by process (MiB), and the guest's in use. */
async function memoryOf(ids) {
  await sleep(10_000); // idle: the balloon has reported what the guests freed
  const each = ids.map((id) => {
    const monitor = JSON.parse(readFileSync(join(root, id, 'state.json'), 'utf8')).monitor.pid;
    return { host: containerMemory(monitor), guest: guestUsed(VMRUN, root, id) };
  });
  const kinds = [...new Set(each.flatMap((e) => Object.keys(e.host)))].sort();
  const mean = (f) => each.reduce((sum, e) => sum + f(e), 0) / each.length;
  const host = Object.fromEntries(kinds.map((k) => [k, mean((e) => e.host[k] ?? 0)]));
  return { host, total: Object.values(host).reduce((a, b) => a + b, 0), guest: mean((e) => e.guest) };
}

/** (e): sequential write and cold 4 KiB random reads, in the container's rootfs and in the folder beside it on the host. */
function fileIo(ioBundle, id) {
  const sizeMiB = 256;
  const reads = 20_000;
  const host = join(ioBundle, 'host-io.dat');
  const inRootfs = join(ioBundle, 'rootfs/io.dat');
  const iobench = join(ioBundle, 'rootfs/bin/iobench');
  const measure = (run, file, dropOnHost) => {
    const write = Number(run(['write', file, String(sizeMiB)]));
    if (dropOnHost) execFileSync(iobench, ['drop', dropOnHost]);
    run(['drop', file]);
    const cold = Number(run(['randread', file, String(reads)]));
    const warm = Number(run(['randread', file, String(reads)]));
    return { writeMBs: write, coldReads: cold, warmReads: warm };
  };
  const onHost = measure((args) => execFileSync(iobench, args, { encoding: 'utf8' }), host);
  const inVm = measure((args) => vmrun(['exec', id, '/bin/iobench', ...args]), '/io.dat', inRootfs);
  rmSync(host);
  return { host: onHost, container: inVm };
}

/** (f): the QMP commands of one create, by name. */
async function qmpOfCreate(bundle, env) {
  const log = join(work, `qmp-${++containers}.log`);
  await vmrunFirstLine(bundle, { ...env, ...qmpLogging(log) });
  return qmpCommands(log);
}

/** A pod member's create + start to its first line: no boot, its pod's VM runs already. */
async function memberFirstLine(bundle) {
  const id = `bench-${process.pid}-member-${++containers}`;
  const t0 = performance.now();
  const create = spawn(VMRUN, ['--root', root, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = new Promise((resolve) => createInterface({ input: create.stdout }).once('line', () => resolve(performance.now())));
  const [code] = await once(create, 'exit');
  if (code !== 0) throw new Error(`vmrun create of a pod member exited ${code}`);
  const tCreated = performance.now();
  vmrun(['start', id]);
  const tFirst = await firstLine;
  vmrun(['delete', '--force', id]);
  return { total: tFirst - t0, create: tCreated - t0 };
}

async function openRoot(seeded) {
  const root = mkdtempSync(join(work, 'lv-'));
  await prepareRoot(root, seeded ? await capabilitiesCache(cache) : join(work, 'no-capabilities'));
  const t0 = performance.now();
  execFileSync('virsh', ['-q', '-c', `qemu:///embed?root=${root}`, 'domcapabilities', '--emulatorbin', EMULATOR, '--virttype', 'qemu'], { stdio: 'ignore' });
  const ms = performance.now() - t0;
  rmSync(root, { recursive: true, force: true });
  return ms;
}

const fixture = (dir, ...args) => execFileSync(join(top, 'test/fixtures/busybox-bundle'), [dir, ...args]);
const bundle = join(work, 'bundle');
fixture(bundle, 'echo', 'first line');
// The same container without the namespaces runc's default config.json asks for (in the guest
// and for the host process whose pid is reported), its network namespace kept.
const bundleNoNs = join(work, 'bundle-no-namespaces');
fixture(bundleNoNs, 'echo', 'first line');
const specNoNs = JSON.parse(readFileSync(join(bundleNoNs, 'config.json'), 'utf8'));
specNoNs.linux.namespaces = specNoNs.linux.namespaces.filter((ns) => ns.type === 'network');
writeFileSync(join(bundleNoNs, 'config.json'), JSON.stringify(specNoNs));
// The same container with limits: restored too, held to them by its cgroup in the guest; and
// with a memory limit above the image's guest, which gets the rest plugged in.
const withResources = (name, resources) => {
  const dir = join(work, name);
  fixture(dir, 'echo', 'first line');
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.linux.resources = resources;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
};
const bundleLimited = withResources('bundle-limited', { memory: { limit: 256 * 1024 * 1024 }, cpu: { quota: 50_000, period: 100_000 } });
const bundleGrown = withResources('bundle-grown', { memory: { limit: 4096 * 1024 * 1024 } });
// (c) and (d): containers that print a line and stay.
const idleBundle = join(work, 'idle');
fixture(idleBundle, 'sh', '-c', 'echo first line; exec sleep 3600');
// (e): the same program on the host and in the container.
const ioBundle = join(work, 'io');
fixture(ioBundle, 'sleep', '3600');
execFileSync('gcc', ['-O2', '-static', '-o', join(ioBundle, 'rootfs/bin/iobench'), join(top, 'bench/iobench.c')]);
// (b‴): the pod's first container, running for the whole run, and a member naming its namespaces.
const podHost = `bench-${process.pid}-pod`;
const podBundle = join(work, 'pod-host');
fixture(podBundle, 'sleep', '3600');
vmrun(['create', '--bundle', podBundle, podHost], { stdio: 'ignore' });
vmrun(['start', podHost]);
const podPid = JSON.parse(vmrun(['state', podHost])).pid;
const memberBundle = join(work, 'pod-member');
fixture(memberBundle, 'echo', 'first line');
const specMember = JSON.parse(readFileSync(join(memberBundle, 'config.json'), 'utf8'));
const procName = { network: 'net', ipc: 'ipc', uts: 'uts' };
specMember.linux.namespaces = specMember.linux.namespaces.map((ns) => (procName[ns.type] ? { ...ns, path: `/proc/${podPid}/ns/${procName[ns.type]}` } : ns));
writeFileSync(join(memberBundle, 'config.json'), JSON.stringify(specMember));
const initrd = floorInitrd();
const rows = [];
for (let i = 1; i <= RUNS; i++) {
  const row = {
    floor: await floor(initrd, vmlinuz), floorPvh: await floor(initrd, guest.kernel),
    restored: await vmrunFirstLine(bundle), cold: await vmrunFirstLine(bundle, cold), noNamespaces: await vmrunFirstLine(bundleNoNs),
    limited: await vmrunFirstLine(bundleLimited), grown: await vmrunFirstLine(bundleGrown),
    member: await memberFirstLine(memberBundle), rootSeeded: await openRoot(true), rootProbed: await openRoot(false),
  };
  rows.push(row);
  console.error(`run ${i}/${RUNS}: floor ${seconds(row.floor)} s (PVH ${seconds(row.floorPvh)} s), restored ${seconds(row.restored.total)} s, cold ${seconds(row.cold.total)} s, without namespaces ${seconds(row.noNamespaces.total)} s, limited ${seconds(row.limited.total)} s, 4 GiB ${seconds(row.grown.total)} s, pod member ${seconds(row.member.total)} s, root ${seconds(row.rootSeeded)} s seeded / ${seconds(row.rootProbed)} s probed`);
}
vmrun(['delete', '--force', podHost]);

// (c), then (d) on the containers it leaves running; fewer rounds: each is MANY VMs.
const batches = [];
let running = [];
for (let i = 1; i <= Math.min(RUNS, 3); i++) {
  const alone = await vmrunFirstLine(bundle);
  const batch = await manyAtOnce(idleBundle, MANY);
  batches.push({ alone: alone.total, many: batch.ms });
  console.error(`batch ${i}: one alone ${seconds(alone.total)} s, ${MANY} at once ${seconds(batch.ms)} s`);
  if (running.length) for (const id of running) vmrun(['delete', '--force', id]);
  running = batch.ids;
}
const memoryMany = await memoryOf(running);
for (const id of running.slice(1)) vmrun(['delete', '--force', id]);
const memoryOne = await memoryOf(running.slice(0, 1));
vmrun(['delete', '--force', running[0]]);
console.error(`memory per container: ${memoryMany.total.toFixed(0)} MiB with ${MANY}, ${memoryOne.total.toFixed(0)} MiB alone`);

const ioId = `bench-${process.pid}-io`;
vmrun(['create', '--bundle', ioBundle, ioId], { stdio: 'ignore' });
vmrun(['start', ioId]);
const io = fileIo(ioBundle, ioId);
vmrun(['delete', '--force', ioId]);
console.error(`file I/O: ${JSON.stringify(io)}`);

const qmp = { restored: await qmpOfCreate(bundle, process.env), cold: await qmpOfCreate(bundle, cold) };
const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
rmSync(work, { recursive: true, force: true });

const m = (f) => median(rows.map(f));
const parts = Object.keys(rows[0].restored);
const results = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model, cores: cpus().length,
    accel: JSON.parse(readFileSync(join(cache, 'restore.json'), 'utf8')).accel,
    qemu: execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0],
    libvirt: execFileSync('virsh', ['--version'], { encoding: 'utf8' }).trim(),
    node: process.version,
  },
  runs: RUNS,
  medianMs: {
    floor: m((r) => r.floor),
    floorPvh: m((r) => r.floorPvh),
    ...Object.fromEntries(['restored', 'cold', 'noNamespaces', 'limited', 'grown'].flatMap((k) => parts.map((p) => [`${k}.${p}`, m((r) => r[k][p])]))),
    'member.total': m((r) => r.member.total),
    'member.create': m((r) => r.member.create),
    rootSeeded: m((r) => r.rootSeeded),
    rootProbed: m((r) => r.rootProbed),
    alone: median(batches.map((b) => b.alone)),
    many: median(batches.map((b) => b.many)),
  },
  memoryMiB: { many: memoryMany, one: memoryOne },
  io,
  qmp,
};
const ms = results.medianMs;
results.ratios = {
  restoredToFloor: ms['restored.total'] / ms.floor,
  coldToFloor: ms['cold.total'] / ms.floor,
  restoredToFloorPvh: ms['restored.total'] / ms.floorPvh,
  manyToAlone: ms.many / ms.alone,
  memberToRestored: ms['member.total'] / ms['restored.total'],
  writeToHost: io.container.writeMBs / io.host.writeMBs,
  coldReadsToHost: io.container.coldReads / io.host.coldReads,
  warmReadsToHost: io.container.warmReads / io.host.warmReads,
};
results.rows = rows;
results.batches = batches;
writeFileSync(join(top, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');

const r2 = (x) => x.toFixed(2);
const mib = (x) => `${x.toFixed(0)} MiB`;
const breakdown = (k) => [
  `| &nbsp;&nbsp;vmrun create returns | ${seconds(ms[`${k}.create`])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;libvirt ${k === 'cold' ? 'creates' : 'restores'} the domain | ${seconds(ms[`${k}.libvirt`])} s |`,
  ...(k === 'cold' ? [
    `| &nbsp;&nbsp;&nbsp;&nbsp;guest kernel start to node (guest clock) | ${seconds(ms[`${k}.kernelToNode`])} s |`,
    `| &nbsp;&nbsp;&nbsp;&nbsp;node start to the agent running (guest clock) | ${seconds(ms[`${k}.nodeToAgent`])} s |`,
  ] : []),
  `| &nbsp;&nbsp;&nbsp;&nbsp;domain ${k === 'cold' ? 'created' : 'restored'} to the agent ready${k === 'cold' ? '' : ' (hello, shares plugged in, clock and entropy)'} | ${seconds(ms[`${k}.hello`])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;agent creates the container's process | ${seconds(ms[`${k}.containerCreate`])} s |`,
  // A restored guest has its vCPUs online already.
  ...(k === 'cold' ? [`| &nbsp;&nbsp;&nbsp;&nbsp;agent ready to the plugged vCPUs online | ${seconds(ms[`${k}.cpus`])} s |`] : []),
  `| &nbsp;&nbsp;vmrun start returns | ${seconds(ms[`${k}.start`])} s |`,
  `| &nbsp;&nbsp;start to the first line | ${seconds(ms[`${k}.startToOutput`])} s |`,
];
const memoryRows = (label, mem) => [
  `| ${label}: host PSS per container, all its processes | ${mib(mem.total)} |`,
  ...Object.entries(mem.host).map(([k, v]) => `| &nbsp;&nbsp;${k} | ${mib(v)} |`),
  `| &nbsp;&nbsp;without QEMU's TCG cache (none under KVM) | ${mib(mem.total - (mem.host['qemu: TCG cache'] ?? 0))} |`,
  `| &nbsp;&nbsp;the guest's memory in use (MemTotal − MemFree) | ${mib(mem.guest)} |`,
];
const md = [
  `Measured ${results.date.slice(0, 10)} on ${results.machine.cores} × ${results.machine.cpu}, ${results.machine.qemu}, libvirt ${results.machine.libvirt}, ${results.machine.accel.toUpperCase()}; medians of ${RUNS} interleaved runs (${batches.length} for (c)).`,
  '',
  '| what | median |',
  '|---|---|',
  `| (a) floor: bare QEMU, busybox /init prints a line | ${seconds(ms.floor)} s |`,
  `| (a') the floor booting the unpacked kernel directly (PVH), as vmrun does | ${seconds(ms.floorPvh)} s |`,
  `| (b) vmrun create + start to the container's first line, restored from the image | ${seconds(ms['restored.total'])} s |`,
  ...breakdown('restored'),
  `| (b') the same booted cold (VMRUN_BOOT=cold) | ${seconds(ms['cold.total'])} s |`,
  ...breakdown('cold'),
  `| (b'') restored, without namespaces in config.json | ${seconds(ms['noNamespaces.total'])} s |`,
  `| (b'') restored, with a 256 MiB memory limit and half a CPU (held by its cgroup in the guest) | ${seconds(ms['limited.total'])} s |`,
  `| (b'') restored, with a 4 GiB memory limit (the rest plugged in after the restore) | ${seconds(ms['grown.total'])} s |`,
  `| (b‴) a pod member's create + start to its first line, its pod's VM running | ${seconds(ms['member.total'])} s |`,
  `| **ratio b/a: restored against the floor** | **${r2(results.ratios.restoredToFloor)}** |`,
  `| **ratio b'/a: cold against the floor** | **${r2(results.ratios.coldToFloor)}** |`,
  `| ratio b/a' | ${r2(results.ratios.restoredToFloorPvh)} |`,
  `| (c) ${MANY} containers created at once, until all have printed their first line | ${seconds(ms.many)} s |`,
  `| &nbsp;&nbsp;one alone, in the same rounds | ${seconds(ms.alone)} s |`,
  `| **ratio: ${MANY} at once against one alone** | **${r2(results.ratios.manyToAlone)}** |`,
  ...memoryRows(`(d) ${MANY} idle containers running`, memoryMany),
  ...memoryRows('(d) 1 idle container running', memoryOne),
  `| (e) sequential write, 1 MiB blocks + fsync: container's rootfs / host | ${io.container.writeMBs.toFixed(0)} / ${io.host.writeMBs.toFixed(0)} MB/s (**${r2(results.ratios.writeToHost)}**) |`,
  `| (e) 4 KiB random reads, no cache: container / host | ${io.container.coldReads.toFixed(0)} / ${io.host.coldReads.toFixed(0)} per s (**${r2(results.ratios.coldReadsToHost)}**) |`,
  `| (e) 4 KiB random reads, read again: container / host | ${io.container.warmReads.toFixed(0)} / ${io.host.warmReads.toFixed(0)} per s (${r2(results.ratios.warmReadsToHost)}) |`,
  `| (f) QMP commands libvirt sends per create: restored / cold | ${sum(qmp.restored)} / ${sum(qmp.cold)} |`,
  `| (g) fresh libvirt root, capabilities seeded | ${seconds(ms.rootSeeded)} s |`,
  `| (g) fresh libvirt root, QEMU probed | ${seconds(ms.rootProbed)} s |`,
  '',
  `(f) by command, restored: ${Object.entries(qmp.restored).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
  '',
  `(f) by command, cold: ${Object.entries(qmp.cold).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
  '',
].join('\n');
writeFileSync(join(top, 'bench/results.md'), md);
console.log(md);

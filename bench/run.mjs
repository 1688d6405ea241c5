#!/usr/bin/env node
// vmrun's benchmark: one run, interleaved, medians of RUNS each (the machine is noisy, so only
// ratios within one run mean anything):
//   (a) the floor: plain qemu-system-x86_64, the guest kernel as Debian packages it (vmlinuz),
//       1 vCPU, 256 MiB, a busybox-only initramfs whose /init prints one line; time to that line;
//       and beside it the same floor booting the unpacked kernel directly (PVH), as vmrun does
//   (b) vmrun create + start to the container's first output line, with its breakdown, and the
//       same for a config.json without namespaces: the difference is what they cost
//   (c) opening a fresh libvirt root with and without the seeded QEMU capabilities
//   (d) a pod member's create + start to its first line, in a pod whose VM runs already
// Writes bench/results.json and bench/results.md. Needs `vmrun setup` done; run as root.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const top = fileURLToPath(new URL('..', import.meta.url));
const VMRUN = join(top, 'bin/vmrun');
const RUNS = Number(process.env.RUNS ?? 5);
const cache = process.env.VMRUN_CACHE ?? '/var/lib/vmrun';
const guest = JSON.parse(readFileSync(join(cache, 'guest.json'), 'utf8'));
const { vmlinuz } = JSON.parse(readFileSync(join(cache, 'kernel', guest.kernelPackage, 'kernel.json'), 'utf8'));
const { capabilitiesCache, prepareRoot, EMULATOR } = await import(join(top, 'dist/src/vm/libvirt.js'));
const work = mkdtempSync(join(tmpdir(), 'vmrun-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (ms) => (ms / 1000).toFixed(2);

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
async function vmrunFirstLine(bundle) {
  const id = `bench-${process.pid}-${++containers}`;
  const log = join(work, `${id}.log`);
  const root = join(work, 'root');
  const t0 = performance.now();
  // create's stdout is the container's: its first line is the container's first output.
  const create = spawn(VMRUN, ['--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', bundle, id], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const firstLine = new Promise((resolve) => createInterface({ input: create.stdout }).once('line', () => resolve(performance.now())));
  const [code] = await once(create, 'exit');
  if (code !== 0) throw new Error(`vmrun create exited ${code}`);
  const tCreated = performance.now();
  execFileSync(VMRUN, ['--root', root, 'start', id]);
  const tStarted = performance.now();
  const tFirst = await firstLine;
  execFileSync(VMRUN, ['--root', root, 'delete', '--force', id]);
  const record = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.msg === 'container created');
  return {
    total: tFirst - t0,
    create: tCreated - t0,
    libvirt: record.libvirtMs,
    kernelToNode: record.guest.nodeExec * 1000,
    nodeToAgent: (record.guest.agentStart - record.guest.nodeExec) * 1000,
    hello: record.helloMs,
    containerCreate: record.createMs,
    start: tStarted - tCreated,
    startToOutput: tFirst - tStarted,
  };
}

/** A pod member's create + start to its first line: no boot, its pod's VM runs already. */
async function memberFirstLine(bundle) {
  const id = `bench-${process.pid}-member-${++containers}`;
  const root = join(work, 'root');
  const t0 = performance.now();
  const create = spawn(VMRUN, ['--root', root, 'create', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = new Promise((resolve) => createInterface({ input: create.stdout }).once('line', () => resolve(performance.now())));
  const [code] = await once(create, 'exit');
  if (code !== 0) throw new Error(`vmrun create of a pod member exited ${code}`);
  const tCreated = performance.now();
  execFileSync(VMRUN, ['--root', root, 'start', id]);
  const tFirst = await firstLine;
  execFileSync(VMRUN, ['--root', root, 'delete', '--force', id]);
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

const bundle = join(work, 'bundle');
execFileSync(join(top, 'test/fixtures/busybox-bundle'), [bundle, 'echo', 'first line']);
// The same container without the namespaces runc's default config.json asks for (in the guest
// and for the host process whose pid is reported), its network namespace kept.
const bundleNoNs = join(work, 'bundle-no-namespaces');
execFileSync(join(top, 'test/fixtures/busybox-bundle'), [bundleNoNs, 'echo', 'first line']);
const specNoNs = JSON.parse(readFileSync(join(bundleNoNs, 'config.json'), 'utf8'));
specNoNs.linux.namespaces = specNoNs.linux.namespaces.filter((ns) => ns.type === 'network');
writeFileSync(join(bundleNoNs, 'config.json'), JSON.stringify(specNoNs));
// (d): the pod's first container, running for the whole run, and a member naming its namespaces.
const podRoot = join(work, 'root');
const podHost = `bench-${process.pid}-pod`;
const podBundle = join(work, 'pod-host');
execFileSync(join(top, 'test/fixtures/busybox-bundle'), [podBundle, 'sleep', '3600']);
execFileSync(VMRUN, ['--root', podRoot, 'create', '--bundle', podBundle, podHost], { stdio: 'ignore' });
execFileSync(VMRUN, ['--root', podRoot, 'start', podHost]);
const podPid = JSON.parse(execFileSync(VMRUN, ['--root', podRoot, 'state', podHost], { encoding: 'utf8' })).pid;
const memberBundle = join(work, 'pod-member');
execFileSync(join(top, 'test/fixtures/busybox-bundle'), [memberBundle, 'echo', 'first line']);
const specMember = JSON.parse(readFileSync(join(memberBundle, 'config.json'), 'utf8'));
const procName = { network: 'net', ipc: 'ipc', uts: 'uts' };
specMember.linux.namespaces = specMember.linux.namespaces.map((ns) => (procName[ns.type] ? { ...ns, path: `/proc/${podPid}/ns/${procName[ns.type]}` } : ns));
writeFileSync(join(memberBundle, 'config.json'), JSON.stringify(specMember));
const initrd = floorInitrd();
const rows = [];
for (let i = 1; i <= RUNS; i++) {
  const row = { floor: await floor(initrd, vmlinuz), floorPvh: await floor(initrd, guest.kernel), vmrun: await vmrunFirstLine(bundle), noNamespaces: await vmrunFirstLine(bundleNoNs), rootSeeded: await openRoot(true), rootProbed: await openRoot(false), member: await memberFirstLine(memberBundle) };
  rows.push(row);
  console.error(`run ${i}/${RUNS}: floor ${seconds(row.floor)} s (PVH ${seconds(row.floorPvh)} s), vmrun ${seconds(row.vmrun.total)} s (without namespaces ${seconds(row.noNamespaces.total)} s), root ${seconds(row.rootSeeded)} s seeded / ${seconds(row.rootProbed)} s probed, pod member ${seconds(row.member.total)} s`);
}
execFileSync(VMRUN, ['--root', podRoot, 'delete', '--force', podHost]);
rmSync(work, { recursive: true, force: true });

const m = (f) => median(rows.map(f));
const parts = Object.keys(rows[0].vmrun);
const results = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model, cores: cpus().length, accel: 'tcg',
    qemu: execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0],
    libvirt: execFileSync('virsh', ['--version'], { encoding: 'utf8' }).trim(),
    node: process.version,
  },
  runs: RUNS,
  medianMs: {
    floor: m((r) => r.floor),
    floorPvh: m((r) => r.floorPvh),
    ...Object.fromEntries(parts.map((p) => [`vmrun.${p}`, m((r) => r.vmrun[p])])),
    ...Object.fromEntries(parts.map((p) => [`noNamespaces.${p}`, m((r) => r.noNamespaces[p])])),
    rootSeeded: m((r) => r.rootSeeded),
    rootProbed: m((r) => r.rootProbed),
    'member.total': m((r) => r.member.total),
    'member.create': m((r) => r.member.create),
  },
};
results.memberRatio = results.medianMs['member.total'] / results.medianMs['vmrun.total'];
results.ratio = results.medianMs['vmrun.total'] / results.medianMs.floor;
results.ratioPvh = results.medianMs['vmrun.total'] / results.medianMs.floorPvh;
results.rows = rows;
writeFileSync(join(top, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');

const md = [
  `Measured ${results.date.slice(0, 10)} on ${results.machine.cores} × ${results.machine.cpu}, ${results.machine.qemu}, libvirt ${results.machine.libvirt}, TCG; medians of ${RUNS} interleaved runs.`,
  '',
  '| what | median |',
  '|---|---|',
  `| (a) floor: bare QEMU, busybox /init prints a line | ${seconds(results.medianMs.floor)} s |`,
  `| (a') the floor booting the unpacked kernel directly (PVH), as vmrun does | ${seconds(results.medianMs.floorPvh)} s |`,
  `| (b) vmrun create + start to the container's first line | ${seconds(results.medianMs['vmrun.total'])} s |`,
  `| &nbsp;&nbsp;vmrun create returns | ${seconds(results.medianMs['vmrun.create'])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;libvirt creates the domain | ${seconds(results.medianMs['vmrun.libvirt'])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;guest kernel start to node (guest clock) | ${seconds(results.medianMs['vmrun.kernelToNode'])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;node start to the agent running (guest clock) | ${seconds(results.medianMs['vmrun.nodeToAgent'])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;domain created to the agent's hello | ${seconds(results.medianMs['vmrun.hello'])} s |`,
  `| &nbsp;&nbsp;&nbsp;&nbsp;agent creates the container's process | ${seconds(results.medianMs['vmrun.containerCreate'])} s |`,
  `| &nbsp;&nbsp;vmrun start returns | ${seconds(results.medianMs['vmrun.start'])} s |`,
  `| &nbsp;&nbsp;start to the first line | ${seconds(results.medianMs['vmrun.startToOutput'])} s |`,
  `| (b'') the same without namespaces in config.json | ${seconds(results.medianMs['noNamespaces.total'])} s |`,
  `| &nbsp;&nbsp;what the namespaces cost at create: (b) − (b''), create returns | ${seconds(results.medianMs['vmrun.create'] - results.medianMs['noNamespaces.create'])} s |`,
  `| &nbsp;&nbsp;of which the agent creating the container's process | ${seconds(results.medianMs['vmrun.containerCreate'] - results.medianMs['noNamespaces.containerCreate'])} s |`,
  `| **ratio b/a** | **${results.ratio.toFixed(2)}** |`,
  `| ratio b/a' | ${results.ratioPvh.toFixed(2)} |`,
  `| (c) fresh libvirt root, capabilities seeded | ${seconds(results.medianMs.rootSeeded)} s |`,
  `| (c) fresh libvirt root, QEMU probed | ${seconds(results.medianMs.rootProbed)} s |`,
  `| (d) a pod member's create + start to its first line, its pod's VM running | ${seconds(results.medianMs['member.total'])} s |`,
  `| &nbsp;&nbsp;vmrun create returns | ${seconds(results.medianMs['member.create'])} s |`,
  `| ratio d/b: a member's start against a container's own VM | ${results.memberRatio.toFixed(2)} |`,
  '',
].join('\n');
writeFileSync(join(top, 'bench/results.md'), md);
console.log(md);

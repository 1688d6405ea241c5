// What the container sees of its VM.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { VMRUN } from '../helpers/cli.js';
import { readyAssets } from '../../src/guest/ready.js';
import { cacheDir } from '../../src/paths.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const MiB = 1024 * 1024;

describe('the guest', () => {
  test('runs its own kernel, in a guest of vmrun for this container', async () => {
    const bundle = await vm.bundle('sh', '-c', 'cat /proc/cmdline; hostname; cat /proc/sys/kernel/random/boot_id');
    const r = await vm.vmrun(['run', '--bundle', bundle, 'g1']);
    expect(r.exitCode).toBe(0);
    const [cmdline, hostname, bootId] = r.stdout.split('\n');
    expect(cmdline).toMatch(/(^| )vmrun\.guest( |$)/);
    expect(hostname).toBe('vmrun'); // config.json's hostname
    expect(bootId).not.toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  });

  test("keeps node's disk the host's: what the guest writes to it reaches neither the file nor the guest's reads", async () => {
    const { node } = await readyAssets(cacheDir());
    const block = (data: Buffer) => createHash('md5').update(data.subarray(100 * 4096, 104 * 4096)).digest('hex');
    const before = await readFile(node.path);
    // A container given the guest's /dev/pmem0 overwrites four of its blocks, bypassing any cache.
    const bundle = await vm.bundle('sh', '-c', 'dd if=/dev/urandom of=/dev/pmem0 bs=4096 count=4 seek=100 oflag=direct 2>/dev/null; echo $?; dd if=/dev/pmem0 bs=4096 count=4 skip=100 iflag=direct 2>/dev/null | md5sum');
    await editConfig(bundle, (c) => {
      c.linux!.devices = [{ path: '/dev/pmem0', type: 'b', major: 259, minor: 0, fileMode: 0o600, uid: 0, gid: 0 }];
      c.linux!.resources = { ...c.linux!.resources, devices: [{ allow: true, access: 'rwm' }] };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'g-pmem']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [written, readBack] = r.stdout.split('\n');
    expect(written).toBe('0');
    expect(readBack).toBe(`${block(before)}  -`);
    expect(createHash('sha256').update(await readFile(node.path)).digest('hex')).toBe(createHash('sha256').update(before).digest('hex'));
  });

  test("gives the container's processes at least the memory limit, the agent's share on top", async () => {
    const bundle = await vm.bundle('sh', '-c', 'grep MemAvailable /proc/meminfo');
    const config = join(bundle, 'config.json');
    const spec = JSON.parse(await readFile(config, 'utf8'));
    spec.linux.resources = { memory: { limit: 160 * MiB } };
    await writeFile(config, JSON.stringify(spec));
    const r = await vm.vmrun(['run', '--bundle', bundle, 'g2']);
    expect(r.exitCode).toBe(0);
    const availableKiB = Number(/MemAvailable:\s+(\d+) kB/.exec(r.stdout)?.[1]);
    expect(availableKiB * 1024).toBeGreaterThanOrEqual(160 * MiB);
  });
});

describe("the container's cgroup in the guest", () => {
  test('holds its processes with linux.resources as limits, and the memory limit is enforced', async () => {
    const script = [
      'cat /proc/self/cgroup',
      // In its own cgroup namespace the container's cgroup is the root of the hierarchy it mounts.
      'cd /sys/fs/cgroup && echo "memory.max: $(cat memory.max)" && echo "cpu.max: $(cat cpu.max)"',
      'echo "cpu.weight: $(cat cpu.weight)"; echo "pids.max: $(cat pids.max)"',
      // dd's one 80 MiB buffer: more than the 64 MiB limit, less than the guest has free.
      'dd if=/dev/zero of=/dev/null bs=80M count=1 2>/dev/null; echo "dd: $?"',
    ].join('\n');
    const bundle = await vm.bundle('sh', '-c', script);
    await editConfig(bundle, (spec) => {
      spec.linux!.resources = { memory: { limit: 64 * MiB }, cpu: { quota: 50_000, period: 100_000, shares: 512 }, pids: { limit: 20 } };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'g3']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('0::/');
    expect(lines.slice(1)).toEqual([
      `memory.max: ${64 * MiB}`, 'cpu.max: 50000 100000', 'cpu.weight: 20', 'pids.max: 20', 'dd: 137',
    ]);
  });
});

describe('vmrun setup --check', () => {
  test('after setup, finds nothing missing and names the accelerator with its reason', async () => {
    const r = await vm.vmrun(['setup', '--check']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^accelerator: tcg \(.+\)$/m); // no usable KVM on these machines
    expect(r.stdout).toMatch(/^ready: nothing is missing$/m);
  });

  test('with an empty cache, lists what is missing, changes nothing and exits 1', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'vmrun-empty-cache-'));
    const r = spawnSync(VMRUN, ['--accel', 'kvm', 'setup', '--check'], {
      encoding: 'utf8', env: { ...process.env, VMRUN_CACHE: cache },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^accelerator: kvm \(kvm was asked for\)$/m);
    expect(r.stdout).toMatch(/the guest kernel linux-image-.*-cloud-amd64/);
    expect(r.stdout).toMatch(/QEMU's capabilities/);
    expect(await readdir(cache)).toEqual([]);
    await rm(cache, { recursive: true });
  });
});

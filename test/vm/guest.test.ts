// What the container sees of its VM.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const MiB = 1024 * 1024;

describe('the guest', () => {
  test('runs its own kernel, booted by vmrun for this container', async () => {
    const bundle = await vm.bundle('sh', '-c', 'cat /proc/cmdline; hostname');
    const r = await vm.vmrun(['run', '--bundle', bundle, 'g1']);
    expect(r.exitCode).toBe(0);
    const [cmdline, hostname] = r.stdout.split('\n');
    expect(cmdline).toMatch(/(^| )vmrun\.id=g1( |$)/);
    expect(hostname).toBe('vmrun'); // config.json's hostname
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

// Inputs at their bounds, on real VMs: annotations of any size (the whole set in vmrun's record,
// for `state` and the hooks; a bounded sample in the domain XML, which libvirt refuses when it is
// large), and the smallest memory limit vmrun accepts.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { vmLayout } from '../../src/vm/layout.js';
import { XML_ANNOTATIONS } from '../../src/vm/domain-xml.js';
import { MIN_MEMORY_LIMIT_BYTES } from '../../src/vm/sizing.js';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

describe('annotations', () => {
  test('a 50 MB one runs; state shows it whole; the domain XML holds only its first characters', async () => {
    const bundle = await vm.bundle('sh', '-c', 'echo hi > /ran');
    const file = join(bundle, 'config.json');
    const spec = JSON.parse(await readFile(file, 'utf8'));
    const big = 'x'.repeat(50 * 1024 * 1024);
    spec.annotations = { big, bell: 'a\u0007b' };
    await writeFile(file, JSON.stringify(spec));

    expect(await vm.vmrun(['create', '--bundle', bundle, 'a1'])).toMatchObject({ exitCode: 0, stderr: '' });
    const state = JSON.parse((await vm.vmrun(['state', 'a1'])).stdout);
    expect(state.status).toBe('created');
    expect(state.annotations.big === big).toBe(true); // not toEqual: a 50 MB diff would swamp the report
    expect(state.annotations.bell).toBe('a\u0007b');
    const xml = join(vmLayout(vm.root, 'a1').dir, 'domain.xml');
    expect((await stat(xml)).size).toBeLessThan(16 * 1024);
    expect(await readFile(xml, 'utf8')).toContain(`<vmrun:annotation key='big' bytes='${big.length}'>${'x'.repeat(XML_ANNOTATIONS.valueChars)}</vmrun:annotation>`);

    expect((await vm.vmrun(['start', 'a1'])).exitCode).toBe(0);
    await until(async () => (await vm.state('a1')).status === 'stopped');
    expect(await readFile(join(bundle, 'rootfs', 'ran'), 'utf8')).toBe('hi\n');
    expect((await vm.vmrun(['delete', '--force', 'a1'])).exitCode).toBe(0);
    expect(vm.processesOf('a1')).toEqual([]);
  });
});

describe('the smallest memory limit vmrun accepts', () => {
  test("is enough for a shell to start and write", async () => {
    const bundle = await vm.bundle('sh', '-c', 'echo hi; cat /sys/fs/cgroup/memory.max');
    await editConfig(bundle, (spec) => void (spec.linux!.resources = { memory: { limit: MIN_MEMORY_LIMIT_BYTES } }));
    const r = await vm.vmrun(['run', '--bundle', bundle, 'm1']);
    expect(r).toMatchObject({ exitCode: 0, stdout: `hi\n${MIN_MEMORY_LIMIT_BYTES}` });
    expect(vm.processesOf('m1')).toEqual([]); // run deletes it, as runc's does
  });
});

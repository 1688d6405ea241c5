// The whole critest (less the registry pulls) under runc and then under vmrun against one
// containerd: both pass counts, and every spec runc passes that vmrun does not, with vmrun's
// failure. Written to $VMRUN_CRITEST_OUT (default critest-compare.md in the working folder).
// Run it with test/cri/critest-compare; VMRUN_CRITEST_ONLY=runc runs the runc half alone.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { REGISTRY_SPECS, runCritest, tally, type SpecResult } from './critest.js';
import { criHarness } from './harness.js';

const cri = criHarness();

test('critest under runc and under vmrun', async () => {
  const runc = await runCritest(cri, 'runc', { handler: 'runc', skip: REGISTRY_SPECS, timeoutMs: 1800_000 });
  const vmrun = process.env.VMRUN_CRITEST_ONLY === 'runc'
    ? { specs: [], seconds: 0 }
    : await runCritest(cri, 'vmrun', { handler: 'vmrun', skip: REGISTRY_SPECS, timeoutMs: 2 * 3600_000 });
  const byName = new Map(vmrun.specs.map((s) => [s.name, s]));
  const lost = vmrun.specs.length === 0 ? [] : runc.specs.filter((s) => s.state === 'passed' && byName.get(s.name)?.state !== 'passed');
  const passed = (specs: SpecResult[]) => specs.filter((s) => s.state === 'passed').length;
  const ran = (specs: SpecResult[]) => specs.filter((s) => s.state !== 'skipped').length;
  const lines = [
    `# critest ${new Date().toISOString().slice(0, 10)}: runc ${passed(runc.specs)} of ${ran(runc.specs)}, vmrun ${passed(vmrun.specs)} of ${ran(vmrun.specs)}`,
    '',
    `- runc: ${JSON.stringify(tally(runc.specs))} in ${runc.seconds.toFixed(0)} s`,
    `- vmrun: ${JSON.stringify(tally(vmrun.specs))} in ${vmrun.seconds.toFixed(0)} s`,
    '',
    `## ${lost.length} specs runc passes and vmrun does not`,
    '',
    ...lost.map((s) => `- ${s.name}: ${byName.get(s.name)?.state ?? 'missing'}: ${byName.get(s.name)?.failure ?? ''}`),
    '',
    '## every spec',
    '',
    '| spec | runc | vmrun |',
    '|---|---|---|',
    ...runc.specs.map((s) => `| ${s.name} | ${s.state} ${s.seconds.toFixed(1)} s | ${byName.get(s.name)?.state ?? '-'} ${byName.get(s.name)?.seconds.toFixed(1) ?? ''} s |`),
    '',
  ];
  const out = resolve(process.env.VMRUN_CRITEST_OUT ?? 'critest-compare.md');
  await writeFile(out, lines.join('\n'));
  console.log(`${lines.slice(0, 7 + lost.length).join('\n')}\n(all in ${out})`);
  expect(ran(runc.specs)).toBeGreaterThan(0);
  if (process.env.VMRUN_CRITEST_ONLY !== 'runc') expect(ran(vmrun.specs)).toBeGreaterThan(0);
});

// critest (cri-tools' CRI validation suite) against the CRI harness's containerd, and its
// ginkgo JSON report read back as one line per spec.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runClient } from '../containerd/ctr.js';
import type { CriHarness, Handler } from './harness.js';

export interface SpecResult {
  /** As critest names it: its containers' texts, then its own, without the "[k8s.io]" root. */
  name: string;
  state: string; // passed, failed, skipped, ...
  seconds: number;
  /** The failure's first line that names an rpc error, else its first 300 characters. */
  failure?: string;
}

/**
 * Specs that need images a registry would give: each pull goes to gcr.io whatever is imported
 * locally, and one names a digest no local build can reproduce.
 */
export const REGISTRY_SPECS = 'Image Manager.*(should be pulled and removed|should support all kinds of references|should not have Uid.Username empty|listImage should get exactly 3)';

/** A ginkgo regular expression that matches exactly these spec names. */
export function exactly(names: string[]): string {
  return names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

export async function runCritest(cri: CriHarness, name: string, opts: { handler: Handler; focus?: string; skip?: string; timeoutMs: number }): Promise<{ exitCode: number; specs: SpecResult[]; seconds: number; log: string }> {
  const report = join(cri.paths.dir, `critest-${name}.json`);
  const args = [
    '--runtime-endpoint', `unix://${cri.paths.address}`,
    '--image-endpoint', `unix://${cri.paths.address}`,
    ...(opts.handler === 'runc' ? [] : [`--runtime-handler=${opts.handler}`]),
    '--ginkgo.no-color', '--ginkgo.v', `--ginkgo.timeout=${Math.ceil(opts.timeoutMs / 1000)}s`,
    `--ginkgo.json-report=${report}`,
    ...(opts.focus ? [`--ginkgo.focus=${opts.focus}`] : []),
    ...(opts.skip ? [`--ginkgo.skip=${opts.skip}`] : []),
  ];
  const started = Date.now();
  const r = await runClient(cri.tools.critest, args, { timeoutMs: opts.timeoutMs + 60_000 });
  const seconds = (Date.now() - started) / 1000;
  const text = await readFile(report, 'utf8').catch(() => '');
  if (!text) throw new Error(`critest wrote no report (exit ${r.exitCode}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { exitCode: r.exitCode, specs: parseReport(text), seconds, log: r.stdout };
}

interface GinkgoSpec {
  LeafNodeType: string;
  LeafNodeText: string;
  ContainerHierarchyTexts: string[] | null;
  State: string;
  RunTime: number;
  Failure?: { Message: string };
}

export function parseReport(json: string): SpecResult[] {
  const [suite] = JSON.parse(json) as [{ SpecReports: GinkgoSpec[] }];
  return suite.SpecReports.filter((s) => s.LeafNodeType === 'It').map((s) => {
    const name = [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' ').replace(/^\[k8s\.io\] /, '');
    const message = s.Failure?.Message.replace(/\s+/g, ' ') ?? '';
    const rpc = message.indexOf('rpc error');
    const failure = s.State === 'passed' || s.State === 'skipped' ? undefined : (rpc >= 0 ? message.slice(rpc) : message).slice(0, 300);
    return { name, state: s.State, seconds: s.RunTime / 1e9, ...(failure !== undefined ? { failure } : {}) };
  });
}

export function tally(specs: SpecResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of specs) counts[s.state] = (counts[s.state] ?? 0) + 1;
  return counts;
}

// What the VM tests share: a private --root per test file, busybox bundles, the CLI, and a
// check that every process and file of this file's containers is gone.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect } from 'vitest';
import { vmLayout } from '../../src/vm/layout.js';
import { VMRUN } from '../helpers/cli.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/busybox-bundle', import.meta.url));

export interface Harness {
  root: string;
  /** Runs vmrun with this file's --root. */
  vmrun(args: string[], opts?: { input?: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Starts vmrun with this file's --root without waiting for it. */
  spawn(args: string[], opts?: Options): ResultPromise;
  /** A bundle whose process runs args in a busybox rootfs. */
  bundle(...args: string[]): Promise<string>;
  state(id: string): Promise<{ status: string; pid: number }>;
  /** Host processes (QEMU, virtiofsd, monitor) that belong to the container id of this root. */
  processesOf(id: string): string[];
}

/** With `root`, containers live there (for example Docker's root) instead of a scratch root. */
export function vmHarness(opts: { root?: string } = {}): Harness {
  let base = '';
  let calls = 0;
  /** Ids this file created: only those are cleaned up (a shared root may hold others). */
  const made = new Set<string>();
  const note = (args: string[]) => {
    // The verb may follow global options (--log FILE).
    if (args.includes('create') || args.includes('run')) made.add(args.at(-1)!);
  };
  const h: Harness = {
    root: '',
    vmrun: async (args, opts = {}) => {
      note(args);
      // Files, not pipes: after create, the container's monitor keeps the caller's stdout and
      // stderr open for the container's whole life, as runc's container process does.
      // Plain fds (execa would pipe a {file: …} through itself and wait for the monitor too).
      const [inFile, outFile, errFile] = ['in', 'out', 'err'].map((s) => join(base, `${s}-${++calls}`)) as [string, string, string];
      await writeFile(inFile, opts.input ?? '');
      const fds = [openSync(inFile, 'r'), openSync(outFile, 'w'), openSync(errFile, 'w')] as const;
      try {
        const child = spawn(VMRUN, ['--root', h.root, ...args], { stdio: [...fds] });
        const [code] = (await once(child, 'exit')) as [number | null];
        const [stdout, stderr] = await Promise.all([outFile, errFile].map((f) => readFile(f, 'utf8')));
        return { exitCode: code ?? -1, stdout: stdout!.trimEnd(), stderr: stderr!.trimEnd() };
      } finally {
        fds.forEach((fd) => closeSync(fd));
      }
    },
    spawn: (args, opts = {}) => (note(args), execa(VMRUN, ['--root', h.root, ...args], { reject: false, ...opts })),
    bundle: async (...args) => {
      const dir = await mkdtemp(join(base, 'bundle-'));
      execFileSync(FIXTURE, [dir, ...args]);
      return dir;
    },
    state: async (id) => JSON.parse((await h.vmrun(['state', id])).stdout),
    processesOf: (id) => {
      const dir = vmLayout(h.root, id).dir;
      const monitor = `"id":"${id}"`;
      const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
      return ps.filter((l) => l.includes(dir) || (l.includes('monitor/main.js') && l.includes(h.root) && l.includes(monitor)));
    },
  };
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'vmrun-vm-test-'));
    h.root = opts.root ?? join(base, 'root');
  });
  afterAll(async () => {
    // Whatever a failed test left: delete it, then insist that nothing of it remains.
    const ids = [...made];
    for (const id of ids) await h.vmrun(['delete', '--force', id]);
    const left = ids.flatMap((id) => h.processesOf(id));
    await rm(base, { recursive: true, force: true });
    expect(left).toEqual([]);
  });
  return h;
}

/** Polls until `check` holds, for at most `ms`. */
export async function until(check: () => Promise<boolean> | boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

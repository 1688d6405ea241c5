// What the engine tests share: an engine's CLI against a daemon or storage of the test file's
// own, with vmrun (or runc, to compare) as the runtime, and a check that nothing of vmrun's is
// left on the host by the containers it ran.
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { expect } from 'vitest';
import { vmLayout } from '../../src/vm/layout.js';
import { listDir } from '../helpers/host-scan.js';

export const PTY_RUN = fileURLToPath(new URL('../helpers/pty-run.py', import.meta.url));
export const BUSYBOX_IMAGE = fileURLToPath(new URL('../containerd/busybox-image', import.meta.url));
export const IMAGE = 'localhost/busybox:local';

export type Runtime = 'vmrun' | 'runc';

export interface EngineResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string;
  timeoutMs?: number;
  /** The runtime of the containers this call creates (Podman's is a global flag). */
  runtime?: Runtime;
}

export interface Engine {
  name: 'podman' | 'docker';
  /** The command line of the engine's CLI, for pty-run.py. */
  argv(runtime?: Runtime): string[];
  /** Flags of `run`/`create` that choose the runtime (with what runc needs on this host). */
  runFlags(runtime?: Runtime): string[];
  /** vmrun's --root as the engine passes it. */
  vmrunRoot: string;
  /** A scratch folder of the test file's own. */
  dir: string;
}

export async function cli(engine: Engine, args: string[], opts: CliOptions = {}): Promise<EngineResult> {
  const [file, ...prefix] = engine.argv(opts.runtime);
  const r = await execa(file!, [...prefix, ...args], { reject: false, input: opts.input ?? '', timeout: opts.timeoutMs ?? 180_000, stripFinalNewline: true });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The engine's CLI on a terminal of its own, ROWS x COLS, with pty-run.py's --on actions. */
export async function onTerminal(engine: Engine, size: [number, number], on: [string, string][], args: string[]): Promise<EngineResult> {
  const actions = on.flatMap(([text, action]) => ['--on', text, action]);
  const r = await execa(PTY_RUN, [String(size[0]), String(size[1]), ...actions, '--', ...engine.argv(), ...args], { reject: false, timeout: 180_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function psLines(): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter(Boolean);
}

/** What remains on the host of vmrun's container `id` under `root`: processes and files. */
export function vmrunLeftovers(root: string, id: string): string[] {
  const vmDir = vmLayout(root, id).dir;
  const monitor = (l: string) => l.includes('monitor/main.js') && l.includes(`"id":"${id}"`);
  const processes = psLines().filter((l) => l.includes(vmDir) || monitor(l));
  return [...processes, ...[join(root, id), vmDir].filter((p) => existsSync(p)), ...cgroupsNamed(id)];
}

/** Host cgroup folders, two levels down in each hierarchy, whose names hold `id`. */
export function cgroupsNamed(id: string): string[] {
  const top = '/sys/fs/cgroup';
  const hierarchies = [top, ...readdirSync(top).map((d) => join(top, d))].filter(isDir);
  // Others' cgroups come and go meanwhile (another engine's containers): a folder gone is none.
  const below = (d: string) => listDir(d).map((e) => join(d, e)).filter(isDir);
  return hierarchies.flatMap((h) => below(h).flatMap((d) => [d, ...below(d)])).filter((d) => d.split('/').pop()!.includes(id));
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Mount points under `dir` (the engine's storage). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${dir}/`));
}

/** Imports busybox-static's root filesystem as IMAGE, with `changes` in the engine's syntax. */
export async function importBusybox(e: Engine, changes: string[]): Promise<void> {
  const rootfs = join(e.dir, 'busybox.tar');
  execFileSync(BUSYBOX_IMAGE, ['--rootfs', rootfs]);
  const imported = await cli(e, ['import', ...changes.flatMap((c) => ['--change', c]), rootfs, IMAGE]);
  if (imported.exitCode !== 0) throw new Error(`${e.name} import: ${imported.stderr}`);
}

/**
 * After the engine has removed everything: fails if anything of vmrun's containers `ids`, or any
 * process or mount of the engine's scratch folder, is left; the host is cleaned up even so.
 */
export async function expectNothingLeft(e: Engine, ids: string[]): Promise<void> {
  const left = [...new Set([...ids.flatMap((id) => vmrunLeftovers(e.vmrunRoot, id)), ...psLines().filter((l) => l.includes(e.dir))])];
  const mounts = mountsUnder(e.dir);
  for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
  await rm(e.dir, { recursive: true, force: true });
  expect({ left, mounts }).toEqual({ left: [], mounts: [] });
}

// Runs ctr (or another client: crictl) as a user would at a shell: its output, its exit status,
// optionally stdin, and optionally a terminal (util-linux `script` gives it a pseudo-terminal).
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface CtrResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CtrOptions {
  /** Under a pseudo-terminal: stdout and stderr come back together in stdout, without \r. */
  tty?: boolean;
  /** Written to stdin once `ready` resolves (at once without it), then stdin is closed. */
  input?: string;
  ready?: () => Promise<void>;
  /** The call is killed after this long (default 60 s: a VM boots in 10): exitCode -1. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Calls not yet ended, killed by `killCtrCalls` so that a hung one cannot outlive its test file. */
const running = new Set<number>();

export function ctr(args: string[], opts: CtrOptions = {}): Promise<CtrResult> {
  return runClient('ctr', args, opts);
}

/** Runs the client program `program` as `ctr` runs ctr. */
export async function runClient(program: string, args: string[], opts: CtrOptions = {}): Promise<CtrResult> {
  const [file, argv] = opts.tty ? ['script', ['-qec', [program, ...args].map(shellQuote).join(' '), '/dev/null']] : [program, args];
  // Without input, stdin is /dev/null; but under `script` it stays an open pipe, since script
  // would type an end-of-file (^D) into the terminal on its own stdin's end.
  const stdin = opts.input !== undefined || opts.tty ? 'pipe' : 'ignore';
  // A process group of its own, so that a timeout kills script and the ctr under it at once.
  const child = spawn(file, argv as string[], { stdio: [stdin, 'pipe', 'pipe'], detached: true, env: { ...process.env, ...opts.env } });
  running.add(child.pid!);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  child.stdin?.on('error', () => undefined); // ctr may be gone before its stdin is written
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, timeoutMs);
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  if (opts.input !== undefined) {
    // ctr 1.6 loses an end of stdin that comes while the task is being made (containerd#4489):
    // the container would never see it. So the input waits for the task to run.
    const write = () => child.stdin!.end(opts.input);
    void Promise.race([opts.ready?.(), exited]).then(write, write);
  }
  const [code] = await exited;
  clearTimeout(timer);
  running.delete(child.pid!);
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8').replace(/\r/g, '').trimEnd();
  const stderr = text(err) + (timedOut ? `\n[killed: still running after ${timeoutMs / 1000} s]` : '');
  return { exitCode: code ?? -1, stdout: text(out), stderr: stderr.trimStart() };
}

export function killCtrCalls(): void {
  for (const pid of running) killGroup(pid);
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

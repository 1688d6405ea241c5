// virsh, libvirt's own client, driving an embedded QEMU driver root. libvirt loaded into Node
// through an FFI cannot start QEMU (its child dies with "Unable to notify child process"), so
// vmrun speaks to the driver through virsh: a long-lived interactive virsh keeps the root open
// for as long as a VM lives; one-shot runs clean up when nothing holds the root any more.
import type { Readable, Writable } from 'node:stream';

export const embedUri = (root: string) => `qemu:///embed?root=${root}`;

/** An interactive virsh on the root; stderr joins stdout so that an error line arrives in order, before the command's end marker. */
export const virshShellArgv = (root: string) => ['/bin/sh', '-c', 'exec virsh -q -c "$0" 2>&1', embedUri(root)];

/**
 * One command line for the interactive virsh, each argument quoted as virsh's parser reads
 * it. A newline would end the command, and these would end or switch the connection the
 * monitor holds: refused.
 */
export function virshCommandLine(args: string[]): string {
  if (['exit', 'quit', 'connect'].includes(args[0] ?? '')) throw new VirshError(args[0]!, 'the monitor holds this connection for the VM\'s whole life');
  if (args.some((a) => /[\n\r]/.test(a))) throw new VirshError(args[0] ?? '', 'an argument holds a line break');
  return args.map((a) => `"${a.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(' ');
}

/** How long one command may take: `create` is about 0.4 s, a first probe of QEMU 4 s. */
export const COMMAND_TIMEOUT_MS = 60_000;

export class VirshError extends Error {
  constructor(readonly command: string, readonly output: string) {
    super(`virsh ${command}: ${output}`);
  }
}

/** libvirt logs its version, the host name and security warnings on every open: not errors. */
const isNoise = (line: string) => /: (info|warning) : /.test(line) || line.trim() === '';

/**
 * What virsh printed for one command, between the echo of the last end marker and the next:
 * the marker's own output (echo adds no newline), virsh's echo of each command line after its
 * prompt, and libvirt's noise go.
 */
const outputLines = (raw: string) =>
  raw.replace(/^__vmrun_done_\d+__/, '').split('\n').filter((l) => !l.startsWith('virsh # ') && !isNoise(l));

interface Pending {
  command: string;
  marker: string;
  resolve: (out: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * An interactive virsh (started by the caller with virshShellArgv) holding one root open,
 * spoken to through its stdin and stdout; commands run one after another.
 */
export class VirshShell {
  private readonly pending: Pending[] = [];
  private buffer = '';
  private count = 0;
  private gone = false;
  /** Resolves once virsh has gone: its stdout closed. */
  readonly exited: Promise<void>;

  constructor(private readonly io: { stdin: Writable; stdout: Readable }) {
    io.stdout.setEncoding('utf8').on('data', (text: string) => this.take(text));
    io.stdin.on('error', () => undefined); // a dead virsh is reported through `exited`
    io.stdout.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      io.stdout.on('close', () => {
        this.gone = true;
        for (const p of this.pending.splice(0)) this.settle(p, new VirshError(p.command, 'virsh has exited'));
        resolve();
      });
    });
  }

  /** Runs one virsh command; resolves with its output, rejects with its error lines or when it takes too long. */
  run(command: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    const marker = `__vmrun_done_${++this.count}__`;
    if (this.gone) return Promise.reject(new VirshError(command, 'virsh has exited'));
    return new Promise((resolve, reject) => {
      const p: Pending = { command, marker, resolve, reject, timer: setTimeout(() => {
        // Still queued: its marker, when it comes, is dropped.
        this.settle(p, new VirshError(command, `no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs) };
      this.pending.push(p);
      this.io.stdin.write(`${command}\necho ${marker}\n`);
    });
  }

  /** Ends virsh, closing the root; resolves once it has exited, or after `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.io.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  private settle(p: Pending, outcome: string | Error): void {
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
    p.resolve = p.reject = () => undefined;
  }

  private take(text: string): void {
    this.buffer += text;
    for (let p = this.pending[0]; p; p = this.pending[0]) {
      const at = this.buffer.indexOf(`${p.marker}\n`);
      if (at < 0) return;
      const lines = outputLines(this.buffer.slice(0, at));
      this.buffer = this.buffer.slice(at + p.marker.length + 1);
      this.pending.shift();
      const errors = lines.filter((l) => l.startsWith('error: '));
      this.settle(p, errors.length > 0 ? new VirshError(p.command, errors.map((l) => l.slice(7)).join('; ')) : lines.join('\n'));
    }
  }
}

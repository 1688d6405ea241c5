// virsh, libvirt's own client, driving an embedded QEMU driver root. libvirt loaded into Node
// through an FFI cannot start QEMU (its child dies with "Unable to notify child process"), so
// vmrun speaks to the driver through virsh: a long-lived interactive virsh keeps the root open
// for as long as a VM lives; one-shot runs clean up when nothing holds the root any more.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export const embedUri = (root: string) => `qemu:///embed?root=${root}`;

export class VirshError extends Error {
  constructor(readonly command: string, readonly output: string) {
    super(`virsh ${command}: ${output}`);
  }
}

/** libvirt logs its version, the host name and security warnings on every open: not errors. */
const isNoise = (line: string) => / : (info|warning) : /.test(line) || line.trim() === '';

interface Pending {
  command: string;
  marker: string;
  resolve: (out: string) => void;
  reject: (e: Error) => void;
}

/** An interactive virsh holding one root open; commands run one after another. */
export class VirshShell {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly pending: Pending[] = [];
  private buffer = '';
  private count = 0;
  readonly exited: Promise<number | null>;

  constructor(root: string) {
    // stderr joins stdout so that an error line arrives in order, before the command's end marker.
    this.child = spawn('/bin/sh', ['-c', 'exec virsh -q -c "$0" 2>&1', embedUri(root)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.child.stdout.setEncoding('utf8').on('data', (text: string) => this.take(text));
    this.child.stdin.on('error', () => undefined); // a dead virsh is reported through `exited`
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        for (const p of this.pending.splice(0)) p.reject(new VirshError(p.command, 'virsh exited'));
        resolve(code);
      });
    });
  }

  /** Runs one virsh command; resolves with its output, rejects with its error lines. */
  run(command: string): Promise<string> {
    const marker = `__vmrun_done_${++this.count}__`;
    return new Promise((resolve, reject) => {
      this.pending.push({ command, marker, resolve, reject });
      this.child.stdin.write(`${command}\necho ${marker}\n`);
    });
  }

  /** Ends virsh, closing the root; resolves once it has exited. */
  async close(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
  }

  private take(text: string): void {
    this.buffer += text;
    for (let p = this.pending[0]; p; p = this.pending[0]) {
      const at = this.buffer.indexOf(`${p.marker}\n`);
      if (at < 0) return;
      const lines = this.buffer.slice(0, at).split('\n').filter((l) => !isNoise(l));
      this.buffer = this.buffer.slice(at + p.marker.length + 1);
      this.pending.shift();
      const errors = lines.filter((l) => l.startsWith('error: '));
      if (errors.length > 0) p.reject(new VirshError(p.command, errors.map((l) => l.slice(7)).join('; ')));
      else p.resolve(lines.join('\n'));
    }
  }
}

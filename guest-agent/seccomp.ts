// The container's system call filter as the file vmrun-exec reads (guest-agent/seccomp.c): one
// directive a line, written once at create and read by the container's process and every exec.
import { writeFileSync } from 'node:fs';
import type { GuestSeccomp } from '../src/generated/agent-protocol.js';

export const SECCOMP_FILE = '/run/vmrun/seccomp';

/** config.json writes 2^64-1 and its like as JSON numbers, which round up past 64 bits. */
const u64 = (v: number) => (v >= 2 ** 64 ? 2n ** 64n - 1n : BigInt(Math.trunc(v))).toString();

export function seccompText(s: GuestSeccomp): string {
  const lines = [`default ${s.defaultAction} ${s.defaultErrnoRet ?? 0}`];
  for (const arch of s.architectures) lines.push(`arch ${arch}`);
  for (const flag of s.flags) lines.push(`flag ${flag}`);
  for (const call of s.syscalls) {
    const conditions = call.args.map((a) => ` ${a.index} ${a.op} ${u64(a.value)} ${u64(a.valueTwo)}`).join('');
    for (const name of call.names) lines.push(`syscall ${name} ${call.action} ${call.errnoRet ?? 0}${conditions}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes the filter and returns vmrun-exec's flag for it. */
/** Writes the filter of the container `name` ('' for the guest's first) for vmrun-exec to read. */
export function writeSeccomp(s: GuestSeccomp, name = ''): string[] {
  const path = name ? `${SECCOMP_FILE}.${name}` : SECCOMP_FILE;
  writeFileSync(path, seccompText(s), { mode: 0o600 });
  return ['--seccomp', path];
}

// What execve(2) takes, which runc's process gets whole: each string under the kernel's 128 KiB
// (MAX_ARG_STRLEN), and args and env together under the guest's ARG_MAX (a quarter of its 8 MiB
// stack), less what vmrun-exec's own flags take of it.
import type { Spec } from '../generated/config.js';

const MAX_STRING = 128 * 1024;
const MAX_TOTAL = 2 * 1024 * 1024 - 64 * 1024;

/** Each problem as `JSON pointer: what is wrong`, the process at `at`. */
export function processSizeProblems(process: Pick<Spec['process'], 'args' | 'env'>, at = '/process'): string[] {
  const problems: string[] = [];
  let total = 0;
  for (const field of ['args', 'env'] as const) {
    process[field]?.forEach((s, i) => {
      const bytes = Buffer.byteLength(s) + 1;
      total += bytes + 8; // and its pointer
      if (bytes > MAX_STRING) problems.push(`${at}/${field}/${i}: ${bytes} bytes, more than the ${MAX_STRING} one string of execve may have`);
    });
  }
  if (total > MAX_TOTAL) problems.push(`${at}: args and env of ${total} bytes, more than the ${MAX_TOTAL} execve takes in the guest`);
  return problems;
}

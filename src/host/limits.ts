import { availableParallelism, totalmem } from 'node:os';
import type { HostLimits } from '../vm/sizing.js';

/** What this host can give one guest at most. */
export function hostLimits(): HostLimits {
  return { cpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / (1024 * 1024)) };
}

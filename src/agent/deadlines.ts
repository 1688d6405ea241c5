// How long a peer may take to answer each request of the agent protocol (docs/agent-protocol.md,
// "Deadlines"). Generous for TCG, where a boot takes about 5 s and making a process 0.3 s, yet
// finite, so that a hung or hostile guest never keeps a verb waiting.
import type { Request1 } from '../generated/agent-protocol.js';

export type RequestOp = Request1['op'];

/** How long the agent waits for the shares plugged in after a restore to arrive. */
export const SHARES_WAIT_MS = 20_000;
/** How long the agent waits for memory the host plugged in to come online. */
export const MEMORY_WAIT_MS = 30_000;

export const REQUEST_DEADLINES_MS: Record<RequestOp, number> = {
  // Mounts, namespaces, the cgroup and the program found, in a guest that may still be warming up.
  create: 60_000,
  exec: 60_000,
  // Configures interfaces and routes with a few `ip` calls.
  network: 30_000,
  // A start byte, a signal, an ioctl: quick unless the guest is stuck.
  start: 15_000,
  signal: 10_000,
  resize: 10_000,
  // Read /proc and the cgroup, or write it.
  ps: 30_000,
  stats: 30_000,
  update: 30_000,
  freeze: 30_000,
  // Kills a member's processes and waits up to 5 s for them to be gone.
  remove: 15_000,
  // Waits up to CPUS_WAIT_MS for plugged vCPUs to appear, then onlines each (tens of ms under TCG).
  cpus: 30_000,
  // Waits up to SHARES_WAIT_MS for the plugged-in shares, then up to MEMORY_WAIT_MS for plugged-in memory.
  restored: SHARES_WAIT_MS + MEMORY_WAIT_MS + 10_000,
  // Waits up to MEMORY_WAIT_MS for plugged-in memory to be online.
  memory: MEMORY_WAIT_MS + 5_000,
  // Drops caches, writes the guest's free memory full of zeros (a few GB/s, slower under TCG) and compacts it.
  image: 180_000,
  shutdown: 30_000,
  // The agent's, to the host: the host's relay gives up after 10 s (src/monitor/dns-relay.ts).
  dns: 12_000,
};

/** How long the agent waits for the vCPUs the host plugged in to appear in the guest. */
export const CPUS_WAIT_MS = 15_000;

/** How long a host process (the monitor, an exec relay) may take to say hello on the exec socket. */
export const HELLO_DEADLINE_MS = 10_000;

/**
 * What a caller one hop further away (an exec relay, asking the monitor, which asks the agent)
 * waits beyond the agent's deadline, so that the monitor's own error arrives first.
 */
export const RELAY_MARGIN_MS = 5_000;

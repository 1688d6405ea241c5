// A guest restored from vmrun's image of a booted guest (src/guest/restore-image.ts) rather than
// booted: every such guest wakes with the image's clock and the image's random state, and its
// container's shares arrive as devices plugged in after the restore.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { VMRUN_EXEC } from './container.js';

/** The host's wall clock and random bytes, made the guest's (guest-agent/vmrun-exec.c). */
export function becomeOwnMachine(hostClockMs: number, seed: string): Promise<void> {
  const receivedNs = process.hrtime.bigint(); // CLOCK_MONOTONIC, as vmrun-exec reads it
  const hostNs = BigInt(hostClockMs) * 1_000_000n;
  return new Promise((resolve, reject) => {
    execFile(VMRUN_EXEC, ['--restored', String(hostNs), String(receivedNs), seed], { timeout: 10_000 }, (e, _out, err) => {
      if (e) reject(new Error(`setting the restored guest's clock and entropy: ${String(err).trim() || e.message}`));
      else resolve();
    });
  });
}

const VIRTIOFS_DRIVER = '/sys/bus/virtio/drivers/virtiofs';

/** Waits, at most `timeoutMs`, until the virtiofs driver has `count` devices: their tags are then mountable. */
export async function sharesPlugged(count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bound = () => readdirSync(VIRTIOFS_DRIVER).filter((d) => d.startsWith('virtio')).length;
  while (bound() < count) {
    if (Date.now() > deadline) throw new Error(`only ${bound()} of the ${count} shares plugged in arrived within ${timeoutMs / 1000} s`);
    await sleep(5);
  }
}

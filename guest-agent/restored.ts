// A guest restored from vmrun's image of a booted guest (src/guest/restore-image.ts) rather than
// booted: every such guest wakes with the image's clock and the image's random state, and its
// container's shares arrive as devices plugged in after the restore.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * vmrun-exec's flag that makes the host's wall clock and random bytes the guest's, before the
 * first container's process is made (guest-agent/vmrun-exec.c): the time since `receivedNs`
 * (CLOCK_MONOTONIC, as process.hrtime reads it) is added to the host's.
 */
export function restoredFlag(hostClockMs: number, receivedNs: bigint, seed: string): string[] {
  return ['--restored', String(BigInt(hostClockMs) * 1_000_000n), String(receivedNs), seed];
}

const VIRTIOFS_DRIVER = '/sys/bus/virtio/drivers/virtiofs';

/**
 * Waits, at most `timeoutMs`, until the virtiofs driver has `count` devices: their tags are
 * then mountable. Two cards plugged in a moment apart can come as one ACPI event that finds
 * only the first: the PCI bus is scanned again while any is missing.
 */
export async function sharesPlugged(count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bound = () => readdirSync(VIRTIOFS_DRIVER).filter((d) => d.startsWith('virtio')).length;
  for (let rescanAt = Date.now() + RESCAN_AFTER_MS; bound() < count; await sleep(5)) {
    if (Date.now() > deadline) throw new Error(`only ${bound()} of the ${count} shares plugged in arrived within ${timeoutMs / 1000} s`);
    if (Date.now() < rescanAt) continue;
    writeFileSync('/sys/bus/pci/rescan', '1');
    rescanAt = Date.now() + RESCAN_AFTER_MS;
  }
}

const MEMORY = '/sys/devices/system/memory';

/**
 * Waits, at most `timeoutMs`, until the guest's online memory blocks hold `mib`: memory the host
 * plugged in after the restore, which the kernel adds and onlines as its ACPI event arrives
 * (`memhp_default_state=online`; 1 GiB came online within 0.3 s under TCG).
 */
export async function memoryOnline(mib: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const blockMiB = parseInt(readFileSync(`${MEMORY}/block_size_bytes`, 'utf8'), 16) / (1024 * 1024);
  const online = () => readdirSync(MEMORY).filter((d) => /^memory\d+$/.test(d) && readFileSync(`${MEMORY}/${d}/state`, 'utf8').trim() === 'online').length * blockMiB;
  for (; online() < mib; await sleep(10)) {
    if (Date.now() > deadline) throw new Error(`only ${online()} of the guest's ${mib} MiB of memory came online within ${timeoutMs / 1000} s`);
  }
}

/** How long the shares may take before the PCI bus is scanned again (they come within ~0.1 s). */
const RESCAN_AFTER_MS = 500;

/**
 * Less for the restore image to hold: the startup snapshot, read once as node started, and
 * the caches go; compacted, the free memory is in whole blocks, which the balloon reports to
 * the host (which then holds zero pages there, left out of the image).
 */
export function readyForImage(): void {
  rmSync('/agent/agent.blob', { force: true });
  writeFileSync('/proc/sys/vm/drop_caches', '3');
  zeroFreeMemory();
  writeFileSync('/proc/sys/vm/compact_memory', '1');
}

/** What zeroFreeMemory leaves free, so that the guest never runs short while it fills the rest. */
const ZERO_MARGIN_MIB = 64;

/**
 * Free pages keep what was last in them, and the image would hold them: filled with zeros (a
 * tmpfs written full) and freed again, they hold zeros, which the image leaves out.
 */
function zeroFreeMemory(): void {
  const freeKiB = Number(/^MemFree:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const mib = Math.floor(freeKiB / 1024) - ZERO_MARGIN_MIB;
  if (mib <= 0) return;
  const dir = '/run/vmrun/zero';
  execFileSync('/bin/busybox', ['sh', '-c', `mkdir -p ${dir} && mount -t tmpfs -o size=${mib}m tmpfs ${dir} && { dd if=/dev/zero of=${dir}/zero bs=1M count=${mib} 2>/dev/null; umount ${dir}; }`], { timeout: 170_000 });
}

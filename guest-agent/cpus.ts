// vCPUs the host plugs in after the boot (a guest boots faster on one): the guest kernel adds
// each as an offline CPU and, with no uevent helper, nothing else onlines it.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const CPU = '/sys/devices/system/cpu';

/** The CPUs of a kernel CPU list such as "0-3,6" ("" for none). */
export function cpuList(text: string): number[] {
  return text.trim().split(',').filter(Boolean).flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
  });
}

const read = (name: string) => cpuList(readFileSync(`${CPU}/${name}`, 'utf8'));

/**
 * Onlines every present, offline CPU, until `count` are online or `waitMs` has passed (the
 * ACPI event of a plugged vCPU reaches the guest after the host's call returns, and its online
 * file a moment after it is present); how many are online then.
 */
export async function onlineCpus(count: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const present = read('present');
    const online = new Set(read('online'));
    // One at a time: each is a CPU brought up by the kernel. CPU 0 has no online file.
    for (const cpu of present) {
      if (online.has(cpu) || !existsSync(`${CPU}/cpu${cpu}/online`)) continue;
      await writeFile(`${CPU}/cpu${cpu}/online`, '1').catch((e: Error) => {
        throw new Error(`cpu${cpu}: ${e.message}`);
      });
    }
    const now = read('online').length;
    if (now >= count || Date.now() > deadline) return now;
    await sleep(10);
  }
}

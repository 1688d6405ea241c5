// Memory plugged into a guest restored from the image, which has the image's memory: at create
// for a limit above it, and at `update` for a limit raised above what the guest has. Each is a
// DIMM of whole blocks after the last, up to what the image's domain may grow to.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addedMemoryXml, firstDimmMiB, MEMORY_BLOCK_MIB, MEMORY_SLOTS, type NodeDisk } from '../vm/domain-xml.js';

/** What plugging memory in needs of the rest of the monitor: the VM's directory and its driver. */
export interface MemoryPort {
  dir: string;
  attachDevice(file: string): Promise<void>;
}

export class GuestMemory {
  private nextMiB: number;
  private plugged = 0;

  /**
   * @param memoryMiB the guest's memory now (the image's)
   * @param growsToMiB the most its domain allows
   */
  constructor(private memoryMiB: number, private readonly growsToMiB: number, node: NodeDisk) {
    this.nextMiB = firstDimmMiB(memoryMiB, node);
  }

  get sizeMiB(): number {
    return this.memoryMiB;
  }

  /** The memory to plug in for a guest of `wantMiB`: whole blocks, none when it has enough or cannot grow. */
  toAdd(wantMiB: number): number {
    if (wantMiB <= this.memoryMiB || this.plugged >= MEMORY_SLOTS) return 0;
    const add = Math.ceil((wantMiB - this.memoryMiB) / MEMORY_BLOCK_MIB) * MEMORY_BLOCK_MIB;
    return Math.min(add, Math.floor((this.growsToMiB - this.memoryMiB) / MEMORY_BLOCK_MIB) * MEMORY_BLOCK_MIB);
  }

  /** Plugs `mib` in (what toAdd gave); the guest has it once its kernel has onlined it. */
  async plug(mib: number, port: MemoryPort): Promise<void> {
    if (mib <= 0) return;
    const file = join(port.dir, `memory-${this.plugged}.xml`);
    await writeFile(file, addedMemoryXml(mib, this.nextMiB, this.plugged));
    await port.attachDevice(file);
    this.plugged += 1;
    this.nextMiB += mib;
    this.memoryMiB += mib;
  }
}

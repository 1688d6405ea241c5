// The uncompressed kernel inside a bzImage. QEMU boots an ELF kernel with a PVH entry point
// directly, skipping the firmware's Linux loader and the kernel's own decompression: under TCG
// that is 0.5-0.8 s of every boot (docs/performance.md).
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';

/** Compressed payload formats a bzImage may carry, by magic, with the tool that unpacks each. */
const DECOMPRESSORS: { magic: Buffer; command: string[] }[] = [
  { magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), command: ['lz4', '-dc'] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), command: ['zstd', '-dcq'] },
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), command: ['xz', '-dc'] },
  { magic: Buffer.from([0x1f, 0x8b]), command: ['gzip', '-dc'] },
];

/** Xen's ELF note type for the 32-bit PVH entry point, which QEMU's -kernel looks for. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

/**
 * Writes the bzImage's uncompressed kernel to `out` if it has a PVH entry point; returns why
 * not otherwise (the bzImage is then booted as it is).
 */
export async function extractPvhKernel(bzImage: string, out: string): Promise<string | undefined> {
  const image = await readFile(bzImage);
  // The boot protocol's setup header (Documentation/arch/x86/boot.rst): "HdrS" at 0x202.
  if (image.toString('latin1', 0x202, 0x206) !== 'HdrS') return 'not a bzImage';
  const setupBytes = ((image[0x1f1] || 4) + 1) * 512;
  const payloadOffset = setupBytes + image.readUInt32LE(0x248);
  const payload = image.subarray(payloadOffset, payloadOffset + image.readUInt32LE(0x24c));
  const format = DECOMPRESSORS.find((d) => payload.subarray(0, d.magic.length).equals(d.magic));
  if (!format) return `its payload's compression (${payload.subarray(0, 4).toString('hex')}) is not one vmrun knows`;
  // The kernel's build appends the uncompressed size to the payload (gzip has it in its format).
  const size = payload.readUInt32LE(payload.length - 4);
  const input = format.command[0] === 'gzip' ? payload : payload.subarray(0, -4);
  const [command, ...args] = format.command as [string, ...string[]];
  const r = await execa(command, args, { input, encoding: 'buffer', stripFinalNewline: false, maxBuffer: 1 << 30, reject: false });
  const elf = Buffer.from(r.stdout);
  // Not execa's message: it quotes the whole input.
  if (r.exitCode !== 0 || elf.length !== size) return `${command} could not unpack it (exit ${r.exitCode}, ${elf.length} of ${size} bytes)`;
  if (!hasPvhEntry(elf)) return 'the kernel has no PVH entry point';
  await writeFile(out, elf);
  return undefined;
}

/** Whether a 64-bit ELF file carries Xen's PHYS32_ENTRY note. */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(elf.length, start + Number(elf.readBigUInt64LE(ph + 32)));
    for (let at = start; at + 12 <= end; ) {
      const nameSize = elf.readUInt32LE(at);
      const descSize = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString('latin1', at + 12, at + 12 + nameSize).replace(/\0+$/, '');
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + align4(nameSize) + align4(descSize);
    }
  }
  return false;
}

const align4 = (n: number) => (n + 3) & ~3;

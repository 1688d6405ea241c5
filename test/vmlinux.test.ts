import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractPvhKernel, hasPvhEntry } from '../src/guest/vmlinux.js';

/** A 64-bit ELF file with one PT_NOTE segment holding the given (name, type) notes. */
function elfWithNotes(notes: [string, number][]): Buffer {
  const body = Buffer.concat(notes.map(([name, type]) => {
    const n = Buffer.alloc(12 + ((name.length + 1 + 3) & ~3) + 4);
    n.writeUInt32LE(name.length + 1, 0);
    n.writeUInt32LE(4, 4);
    n.writeUInt32LE(type, 8);
    n.write(name, 12, 'latin1');
    return n;
  }));
  const header = Buffer.alloc(64 + 56);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // 64-bit
  header.writeBigUInt64LE(64n, 0x20); // e_phoff
  header.writeUInt16LE(56, 0x36); // e_phentsize
  header.writeUInt16LE(1, 0x38); // e_phnum
  header.writeUInt32LE(4, 64); // PT_NOTE
  header.writeBigUInt64LE(BigInt(header.length), 64 + 8); // p_offset
  header.writeBigUInt64LE(BigInt(body.length), 64 + 32); // p_filesz
  return Buffer.concat([header, body]);
}

/** A bzImage-shaped file: setup sectors, the "HdrS" header and the payload where it points. */
function bzImage(payload: Buffer): Buffer {
  const setupSects = 1;
  const image = Buffer.alloc((setupSects + 1) * 512 + 100 + payload.length);
  image[0x1f1] = setupSects;
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt32LE(100, 0x248); // payload_offset, from the end of the setup
  image.writeUInt32LE(payload.length, 0x24c);
  payload.copy(image, (setupSects + 1) * 512 + 100);
  return image;
}

describe('the uncompressed kernel for a PVH boot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrun-vmlinux-'));

  it('finds the PVH entry note among other Xen notes', () => {
    expect(hasPvhEntry(elfWithNotes([['Xen', 6], ['GNU', 18], ['Xen', 18]]))).toBe(true);
    expect(hasPvhEntry(elfWithNotes([['Xen', 6], ['GNU', 18]]))).toBe(false);
    expect(hasPvhEntry(Buffer.from('not an ELF file at all, just some text here to be long enough'))).toBe(false);
  });

  it('unpacks a gzip payload that has the entry point', async () => {
    const elf = elfWithNotes([['Xen', 18]]);
    writeFileSync(join(dir, 'pvh.bz'), bzImage(gzipSync(elf)));
    expect(await extractPvhKernel(join(dir, 'pvh.bz'), join(dir, 'pvh.elf'))).toBeUndefined();
    expect(readFileSync(join(dir, 'pvh.elf')).equals(elf)).toBe(true);
  });

  it('says why and writes nothing when the kernel cannot boot that way', async () => {
    writeFileSync(join(dir, 'plain.bz'), bzImage(gzipSync(elfWithNotes([['Xen', 6]]))));
    expect(await extractPvhKernel(join(dir, 'plain.bz'), join(dir, 'plain.elf'))).toMatch(/no PVH entry point/);
    expect(existsSync(join(dir, 'plain.elf'))).toBe(false);
    const truncated = gzipSync(elfWithNotes([['Xen', 18]])).subarray(0, 20);
    writeFileSync(join(dir, 'cut.bz'), bzImage(truncated));
    expect(await extractPvhKernel(join(dir, 'cut.bz'), join(dir, 'cut.elf'))).toMatch(/gzip could not unpack it/);
    writeFileSync(join(dir, 'odd.bz'), bzImage(Buffer.from('BZh91AY&SY')));
    expect(await extractPvhKernel(join(dir, 'odd.bz'), join(dir, 'odd.elf'))).toMatch(/compression \(425a6839\)/);
    writeFileSync(join(dir, 'text'), 'hello');
    expect(await extractPvhKernel(join(dir, 'text'), join(dir, 'text.elf'))).toBe('not a bzImage');
  });
});

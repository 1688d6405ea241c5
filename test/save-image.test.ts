import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { GUEST_RAM_BLOCK } from '../src/vm/domain-xml.js';
import { dropZeroPages, SaveImageError } from '../src/vm/save-image.js';

const PAGE = 4096;
const be32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const be64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
const name = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

type Rec = { block?: string; addr: number; zero?: number; page?: Buffer };

/** A RAM record as QEMU writes it: the block named unless it continues the last. */
function record(r: Rec): Buffer {
  const flags = (r.zero !== undefined ? 0x02 : 0x08) | (r.block ? 0 : 0x20);
  return Buffer.concat([be64(BigInt(r.addr) | BigInt(flags)), r.block ? name(r.block) : Buffer.alloc(0), r.zero !== undefined ? Buffer.from([r.zero]) : r.page!]);
}

const section = (type: number, id: number, body: Buffer[], head: Buffer[] = []) =>
  Buffer.concat([Buffer.from([type]), be32(id), ...head, ...body, be64(0x10n), Buffer.from([0x7e]), be32(id)]);

function saveImage(parts: Rec[][], tail: Buffer, compressed = 0): Buffer {
  const xml = Buffer.from('<domain/>\0\0\0\0');
  const header = Buffer.alloc(92);
  header.write('LibvirtQemudSave', 'latin1');
  header.writeUInt32LE(2, 16);
  header.writeUInt32LE(xml.length, 20);
  header.writeUInt32LE(1, 24);
  header.writeUInt32LE(compressed, 28);
  const blocks = [[RAM, 3 * PAGE], ['pc.bios', 2 * PAGE], ['/rom@etc/acpi/tables', PAGE]] as const;
  const memSize = Buffer.concat([be64(BigInt(6 * PAGE) | 0x04n), ...blocks.flatMap(([n, size]) => [name(n), be64(BigInt(size))])]);
  const start = section(0x01, 3, [memSize], [name('ram'), be32(0), be32(4)]);
  const rest = parts.map((recs, i) => section(i === parts.length - 1 ? 0x03 : 0x02, 3, recs.map(record)));
  const config = Buffer.concat([Buffer.from([0x07]), be32(13), Buffer.from('pc-i440fx-7.2')]);
  return Buffer.concat([header, xml, Buffer.from('QEVM'), be32(3), config, start, ...rest, tail]);
}

/** What a stream puts where: block:address -> the page (zero pages as 'zero'), as QEMU's loader reads it. */
function decode(image: Buffer): { pages: Map<string, string>; tail: Buffer } {
  let at = 92 + image.readUInt32LE(20) + 8;
  at += 5 + image.readUInt32BE(at + 1);
  const pages = new Map<string, string>();
  let block = '';
  while ([1, 2, 3].includes(image[at]!)) {
    const type = image[at]!;
    at += 5;
    if (type === 1) at += 1 + image[at]! + 8;
    for (;;) {
      const word = image.readBigUInt64BE(at);
      at += 8;
      const flags = Number(word & 0xfffn);
      if (flags & 0x10) break;
      if (flags & 0x04) {
        for (let total = 0n; total < (word & ~0xfffn);) {
          at += 1 + image[at]!;
          total += image.readBigUInt64BE(at);
          at += 8;
        }
        continue;
      }
      if (!(flags & 0x20)) {
        block = image.subarray(at + 1, at + 1 + image[at]!).toString('latin1');
        at += 1 + image[at]!;
      }
      const key = `${block}:${word & ~0xfffn}`;
      if (flags & 0x02) pages.set(key, `zero ${image[at++]}`);
      else {
        pages.set(key, image.subarray(at, at + PAGE).toString('hex').slice(0, 8));
        at += PAGE;
      }
    }
    at += 5;
  }
  return { pages, tail: image.subarray(at) };
}

async function files(image: Buffer): Promise<[string, string]> {
  const dir = await mkdtemp(join(tmpdir(), 'vmrun-save-'));
  await writeFile(join(dir, 'in'), image);
  return [join(dir, 'in'), join(dir, 'out')];
}

/** The guest RAM's block as vmrun's domains name it (a NUMA cell's memory backend). */
const RAM = GUEST_RAM_BLOCK;

describe("libvirt's save image without the guest RAM's zero pages", () => {
  test('keeps every other page and the devices after the RAM, naming a block where a dropped record did', async () => {
    const page = Buffer.alloc(PAGE, 0xab);
    const image = saveImage([
      [{ block: RAM, addr: 0, zero: 0 }, { addr: PAGE, page }, { addr: 2 * PAGE, zero: 0 }],
      [{ addr: 2 * PAGE, zero: 7 }, { block: 'pc.bios', addr: 0, page }, { addr: PAGE, zero: 0 }, { block: '/rom@etc/acpi/tables', addr: 0, zero: 0 }, { block: RAM, addr: 0, zero: 0 }],
    ], Buffer.from('\x04devices-state\x08'));
    const [from, to] = await files(image);
    expect(dropZeroPages(from, to, [RAM])).toEqual({ dropped: 3, kept: 5 });
    const before = decode(image);
    const after = decode(await readFile(to));
    // The last word for each page, as the loader ends up with it, without the RAM's zero pages;
    // the zero pages of other blocks (ROMs the loader compares) stay.
    expect(Object.fromEntries(after.pages)).toEqual({
      [`${RAM}:4096`]: 'abababab', [`${RAM}:8192`]: 'zero 7',
      'pc.bios:0': 'abababab', 'pc.bios:4096': 'zero 0', '/rom@etc/acpi/tables:0': 'zero 0',
    });
    expect(before.pages.get(`${RAM}:0`)).toBe('zero 0');
    expect(after.tail.toString('latin1')).toBe('\x04devices-state\x08');
  });

  test('refuses what it does not understand rather than guess', async () => {
    const [from, to] = await files(Buffer.alloc(200));
    expect(() => dropZeroPages(from, to, [RAM])).toThrow(SaveImageError);
    const [cfrom, cto] = await files(saveImage([[]], Buffer.alloc(0), 1));
    expect(() => dropZeroPages(cfrom, cto, [RAM])).toThrow('compressed');
  });

  test('refuses a stream without the block it was told to thin, so a renamed block cannot go unthinned', async () => {
    const [from, to] = await files(saveImage([[{ block: RAM, addr: 0, zero: 0 }]], Buffer.from('\x04devices')));
    expect(() => dropZeroPages(from, to, ['pc.ram'])).toThrow("the stream has no RAM block 'pc.ram'");
  });
});

// libvirt's save image (`virsh save`): its header, the domain XML, and QEMU's migration stream.
// The one module that reads that stream: it drops the zero pages of the guest's RAM from it.
//
// Why: QEMU loads a zero page by reading the page first and writing it only if it is not zero
// already. Guest RAM is a shared memfd (virtio-fs needs it), and a read fault on a memfd
// allocates, so restoring a 2 GiB guest touched all of it (9 s and 1.6 GiB here, against 0.8 s
// and 285 MiB without them). A page the stream leaves out stays the zero page the new guest's
// RAM starts as, untouched.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const LIBVIRT_MAGIC = 'LibvirtQemudSave';
/** magic, then version, data_len, was_running, compressed, cookieOffset and 14 unused: u32 each. */
const LIBVIRT_HEADER_BYTES = 16 + 19 * 4;
/** libvirt pads its XML to ~64 KiB; far more is no save image of vmrun's. */
const MAX_XML_BYTES = 16 * 1024 * 1024;
const QEMU_MAGIC = 0x5145564d; // "QEVM"
const QEMU_VERSION = 3;

// Section types of QEMU's stream (migration/savevm.c).
const SECTION_START = 0x01;
const SECTION_PART = 0x02;
const SECTION_END = 0x03;
const CONFIGURATION = 0x07;
const SECTION_FOOTER = 0x7e;

// The flags in a RAM record's low bits (migration/ram.c); pages are 4 KiB on x86.
const PAGE_BYTES = 4096;
const FLAG_ZERO = 0x02;
const FLAG_MEM_SIZE = 0x04;
const FLAG_PAGE = 0x08;
const FLAG_EOS = 0x10;
const FLAG_CONTINUE = 0x20;
const KNOWN_PAGE_FLAGS = FLAG_ZERO | FLAG_PAGE | FLAG_CONTINUE;

export class SaveImageError extends Error {}

/** Buffered reads of a file, by exact sizes. */
class Reader {
  private buf = Buffer.alloc(0);
  private at = 0;
  constructor(private readonly fd: number) {}

  private fill(n: number): void {
    if (this.buf.length - this.at >= n) return;
    const chunk = Buffer.alloc(Math.max(n, 1 << 20));
    const kept = this.buf.subarray(this.at);
    kept.copy(chunk);
    let have = kept.length;
    while (have < n) {
      const got = readSync(this.fd, chunk, have, chunk.length - have, null);
      if (got === 0) throw new SaveImageError('the save image ends inside its migration stream');
      have += got;
    }
    this.buf = chunk.subarray(0, have);
    this.at = 0;
  }

  take(n: number): Buffer {
    this.fill(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  peek(): number {
    this.fill(1);
    return this.buf[this.at]!;
  }

  /** What is buffered and not read yet. */
  rest(): Buffer {
    return this.buf.subarray(this.at);
  }
}

/** Buffered writes. */
class Writer {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly fd: number) {}
  put(b: Buffer): void {
    this.parts.push(Buffer.from(b));
    this.size += b.length;
    if (this.size >= 1 << 20) this.flush();
  }
  flush(): void {
    if (this.size > 0) writeSync(this.fd, Buffer.concat(this.parts));
    this.parts = [];
    this.size = 0;
  }
}

const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};

/**
 * Copies libvirt's save image `from` to `to` without the zero pages of the RAM blocks `blocks`
 * names (libvirt's memory backends: `pc.ram`, or `ram-node0` with a NUMA cell); returns how many
 * pages it dropped and kept. Everything after the RAM's last section (the devices' state) is
 * copied as it is; a stream it does not understand, or one without those blocks, is an error,
 * never a guess. (QEMU does not migrate a virtio-pmem device's memory: node's disk is mapped
 * from its file again, and no image holds it.)
 */
export function dropZeroPages(from: string, to: string, blocks: string[]): { dropped: number; kept: number } {
  const input = openSync(from, 'r');
  const output = openSync(to, 'wx', 0o600);
  try {
    const r = new Reader(input);
    const w = new Writer(output);
    const header = r.take(LIBVIRT_HEADER_BYTES);
    if (header.subarray(0, 16).toString('latin1') !== LIBVIRT_MAGIC) throw new SaveImageError('not a libvirt save image');
    if (header.readUInt32LE(28) !== 0) throw new SaveImageError('the save image is compressed');
    w.put(header);
    const xmlBytes = header.readUInt32LE(20); // the domain XML and libvirt's cookie
    if (xmlBytes > MAX_XML_BYTES) throw new SaveImageError(`the save image's XML is ${xmlBytes} bytes`);
    w.put(r.take(xmlBytes));
    const qemu = r.take(8);
    if (qemu.readUInt32BE(0) !== QEMU_MAGIC || qemu.readUInt32BE(4) !== QEMU_VERSION) throw new SaveImageError('no QEMU migration stream of version 3 follows the XML');
    w.put(qemu);
    if (r.peek() === CONFIGURATION) {
      const config = r.take(5);
      w.put(config);
      const nameBytes = config.readUInt32BE(1); // the machine type's name
      if (nameBytes > 256) throw new SaveImageError(`a machine type name of ${nameBytes} bytes`);
      w.put(r.take(nameBytes));
    }
    const counts = { dropped: 0, kept: 0 };
    // The block a record continues, across sections (as QEMU's loader keeps it), and every
    // block the stream declares.
    const state: { block?: Buffer; declared: string[] } = { declared: [] };
    let ramSection: number | undefined;
    // Sections of the one iterable device, the RAM, come first; then the devices' full sections.
    while ([SECTION_START, SECTION_PART, SECTION_END].includes(r.peek())) {
      const head = r.take(5);
      const id = head.readUInt32BE(1);
      w.put(head);
      if (head[0] === SECTION_START) {
        const nameLength = r.peek();
        const idstr = r.take(1 + nameLength + 8);
        if (idstr.subarray(1, 1 + nameLength).toString('latin1') !== 'ram') throw new SaveImageError('an iterable section other than the RAM');
        ramSection = id;
        w.put(idstr);
      }
      if (id !== ramSection) throw new SaveImageError(`section ${id} is not the RAM's`);
      copyRamRecords(r, w, counts, state, blocks);
      const footer = r.take(5);
      if (footer[0] !== SECTION_FOOTER || footer.readUInt32BE(1) !== id) throw new SaveImageError(`section ${id} has no footer`);
      w.put(footer);
    }
    if (ramSection === undefined) throw new SaveImageError('the stream has no RAM section');
    const missing = blocks.filter((b) => !state.declared.includes(b));
    if (missing.length > 0) throw new SaveImageError(`the stream has no RAM block ${missing.map((b) => `'${b}'`).join(', ')}`);
    w.put(r.rest());
    w.flush();
    const chunk = Buffer.alloc(1 << 20);
    for (let got; (got = readSync(input, chunk, 0, chunk.length, null)) > 0;) writeSync(output, chunk, 0, got);
    return counts;
  } finally {
    closeSync(input);
    closeSync(output);
  }
}

/**
 * One section's RAM records, up to its end-of-section record. A record that follows a dropped
 * one may have named its block by "continue": it names it again when it is not the last
 * written record's, and the first of each section always does.
 */
function copyRamRecords(r: Reader, w: Writer, counts: { dropped: number; kept: number }, state: { block?: Buffer; declared: string[] }, blocks: string[]): void {
  let lastWritten: Buffer | undefined;
  for (;;) {
    const word = r.take(8).readBigUInt64BE();
    const flags = Number(word & 0xfffn);
    const address = word & ~0xfffn;
    if (flags & FLAG_EOS) return w.put(u64(word));
    if (flags & FLAG_MEM_SIZE) {
      w.put(u64(word));
      // Each block's name and length, until they add up to the total.
      for (let total = 0n; total < address;) {
        const name = r.take(1 + r.peek());
        const length = r.take(8);
        state.declared.push(name.subarray(1).toString('latin1'));
        w.put(name);
        w.put(length);
        total += length.readBigUInt64BE();
      }
      continue;
    }
    if (flags & ~KNOWN_PAGE_FLAGS || !(flags & (FLAG_ZERO | FLAG_PAGE))) throw new SaveImageError(`a RAM record with flags 0x${flags.toString(16)}`);
    if (!(flags & FLAG_CONTINUE)) state.block = Buffer.from(r.take(1 + r.peek()));
    const block = state.block;
    if (!block) throw new SaveImageError('a RAM record continues no block');
    const payload = r.take(flags & FLAG_ZERO ? 1 : PAGE_BYTES);
    const name = block.subarray(1).toString('latin1');
    if (flags & FLAG_ZERO && payload[0] === 0 && blocks.includes(name)) {
      counts.dropped++;
      continue;
    }
    const same = lastWritten !== undefined && lastWritten.equals(block);
    w.put(u64(address | BigInt((flags & ~FLAG_CONTINUE) | (same ? FLAG_CONTINUE : 0))));
    if (!same) w.put(block);
    w.put(payload);
    lastWritten = block;
    counts.kept++;
  }
}

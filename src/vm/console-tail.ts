// The last lines a guest wrote to its serial console, for an error that says why its VM ended.
// The console is the guest's: only its end is read, control bytes are dropped and every line cut.
import { open } from 'node:fs/promises';

const READ_BYTES = 8192;
const LINE_CHARS = 160;

/** Up to `lines` last non-empty lines of the console file, printable ASCII only; [] without one. */
export async function consoleTail(file: string, lines = 4): Promise<string[]> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return [];
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - READ_BYTES);
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(Math.min(size, READ_BYTES)), 0, Math.min(size, READ_BYTES), start);
    const text = buffer.subarray(0, bytesRead).toString('latin1');
    return text.split(/\r?\n/)
      .slice(start > 0 ? 1 : 0) // the first may be a line's end
      .map((l) => l.replace(/[^\x20-\x7e]/g, '').trim().slice(0, LINE_CHARS))
      .filter((l) => l.length > 0)
      .slice(-lines);
  } finally {
    await handle.close();
  }
}

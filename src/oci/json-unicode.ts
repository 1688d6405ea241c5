// config.json's strings are text: bytes that are not UTF-8, or a \uD800 escape that pairs with
// nothing, are refused with the JSON pointer of the string that holds them, where Go's
// encoding/json (runc) would turn them into U+FFFD without a word (docs/compat.md).

/** The document as text, or the pointer of the first string with bytes that are not UTF-8. */
export async function decodeJsonText(bytes: Uint8Array): Promise<{ ok: true; text: string } | { ok: false; problem: string }> {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    const at = sequenceStart(bytes, firstInvalidByte(bytes));
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    // The lenient decode up to the bad byte says where it lies in the text; ASCII (every JSON
    // token but a string's contents) is never part of a bad sequence, so that is inside a string.
    const position = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes.subarray(0, at)).length;
    const { getLocation } = await import('jsonc-parser');
    const where = getLocation(text, position);
    const byte = bytes[at]!.toString(16).padStart(2, '0');
    return { ok: false, problem: `${pointerOf(where.path)}${where.isAtPropertyKey ? ' (its name)' : ''}: not UTF-8 text (byte 0x${byte} at byte offset ${at})` };
  }
}

/** The pointer of the first key or string value that holds a lone surrogate (a \uD800-\uDFFF escape with no partner). */
export function illFormedString(value: unknown, path: (string | number)[] = []): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? `${pointerOf(path)}: a lone surrogate escape is not text` : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = [...path, Array.isArray(value) ? Number(key) : key];
    if (LONE_SURROGATE.test(key)) return `${pointerOf(at)}: a lone surrogate escape is not text`;
    const found = illFormedString(item, at);
    if (found) return found;
  }
  return undefined;
}

// With the u flag a well-formed pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** RFC 6901: "/" for the whole document, ~ and / escaped in names. */
export function pointerOf(path: (string | number)[]): string {
  return path.length === 0 ? '/' : path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Where the bad sequence that ends at `at` begins: the lead byte before it when `at` cuts that
 * character short (a sequence cut by the end of the file ends at its last byte).
 */
function sequenceStart(bytes: Uint8Array, at: number): number {
  for (let i = Math.min(at, bytes.length) - 1; i >= 0 && at - i <= 3; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return length > at - i ? i : at;
  }
  return Math.min(at, bytes.length - 1);
}

/**
 * The offset of the byte that makes the bytes before it invalid: a streaming decode accepts a
 * sequence cut short at its end, so "prefix valid" is monotone and bisects.
 */
function firstInvalidByte(bytes: Uint8Array): number {
  let good = 0; // bytes[0, good) decode
  let bad = bytes.length; // bytes[0, bad] do not
  while (bad - good > 0) {
    const mid = (good + bad) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
      good = mid + 1;
    } catch {
      bad = mid;
    }
  }
  return bad;
}

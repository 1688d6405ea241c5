// Escaping for the domain XML. Every value that may come from config.json passes through
// here, so that <, &, quotes and line breaks arrive in libvirt exactly as written.
import { VmrunError } from '../errors.js';

// XML 1.0 cannot carry most control characters or lone surrogates, escaped or not.
export const NOT_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function checkChars(value: string, field: string): string {
  const bad = NOT_XML.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).padStart(4, '0');
    throw new VmrunError('ConfigInvalid', `${field}: character U+${code} cannot be passed to libvirt`);
  }
  return value;
}

/** Element text. A CR would be read back as LF, so it is escaped too. */
export function text(value: string, field: string): string {
  return checkChars(value, field)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/** A value between single quotes. Tabs and line breaks would be read back as spaces, so they are escaped. */
export function attr(value: string, field: string): string {
  return text(value, field)
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}

// A JSON document named by a flag: a file, or stdin for "-". Errors name the flag and the place.
import { readFile } from 'node:fs/promises';
import { VmrunError } from '../errors.js';

export async function readJsonFlag(flag: string, file: string): Promise<unknown> {
  const bytes = file === '-' ? await readStdin() : await readFile(file).catch((e: Error) => {
    throw new VmrunError('InvalidArgument', `${flag} ${file}: ${e.message}`);
  });
  const { decodeJsonText } = await import('../oci/json-unicode.js');
  const decoded = await decodeJsonText(bytes);
  if (!decoded.ok) throw new VmrunError('ConfigInvalid', `${flag} ${file} is invalid: ${decoded.problem}`, [decoded.problem]);
  const { parseJson } = await import('../oci/json-text.js');
  const parsed = await parseJson(decoded.text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.problem;
    throw new VmrunError('ConfigSyntax', `${flag} ${file}: invalid JSON at line ${line}, column ${column}: ${reason}`);
  }
  return parsed.value;
}

/** Whole before it is decoded: a character may be split between two chunks. */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

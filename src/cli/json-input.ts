// A JSON document named by a flag: a file, or stdin for "-". Errors name the flag and the place.
import { readFile } from 'node:fs/promises';
import { VmrunError } from '../errors.js';

export async function readJsonFlag(flag: string, file: string): Promise<unknown> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((e: Error) => {
    throw new VmrunError('InvalidArgument', `${flag} ${file}: ${e.message}`);
  });
  const { parseJson } = await import('../oci/json-text.js');
  const parsed = await parseJson(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.problem;
    throw new VmrunError('ConfigSyntax', `${flag} ${file}: invalid JSON at line ${line}, column ${column}: ${reason}`);
  }
  return parsed.value;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

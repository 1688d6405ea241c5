#!/usr/bin/env node
// Makes src/generated/*.ts from schemas/*.schema.json. `npm run gen` writes them;
// test/generated.test.ts calls renderTypes() to fail when the committed files are stale.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compile } from 'json-schema-to-typescript';

const top = fileURLToPath(new URL('..', import.meta.url));
export const schemaDir = join(top, 'schemas');
export const generatedDir = join(top, 'src', 'generated');

const banner = '// Generated from schemas/NAME by `npm run gen`. Do not edit.';

/** Map of generated file name to its text, one per schema. */
export async function renderTypes() {
  const out = new Map();
  for (const file of (await readdir(schemaDir)).filter((f) => f.endsWith('.schema.json')).sort()) {
    const schema = JSON.parse(await readFile(join(schemaDir, file), 'utf8'));
    const ts = await compile(schema, schema.title, {
      cwd: schemaDir,
      bannerComment: banner.replace('NAME', file),
      additionalProperties: false,
      style: { singleQuote: true, printWidth: 100 },
    });
    out.set(file.replace('.schema.json', '.ts'), ts);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, text] of await renderTypes()) {
    await writeFile(join(generatedDir, name), text);
    console.log(`wrote src/generated/${name}`);
  }
}

#!/usr/bin/env node
// Makes src/generated/ from schemas/*.schema.json: a TypeScript type module per schema
// (json-schema-to-typescript) and validators.ts, ajv's validating code compiled ahead of time
// so that no vmrun invocation pays for compiling a schema. `npm run gen` writes them;
// test/generated.test.ts calls render() to fail when the committed files are stale.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { compile } from 'json-schema-to-typescript';

const top = fileURLToPath(new URL('..', import.meta.url));
export const schemaDir = join(top, 'schemas');
export const generatedDir = join(top, 'src', 'generated');

/** The validators' options; vmrun has no other ajv instance. */
const AJV_OPTIONS = { allErrors: true, strict: true, strictTypes: false };

/** Map of generated file name to its text. */
export async function render() {
  const schemas = await readSchemas();
  const out = new Map();
  for (const [file, schema] of schemas) {
    const ts = await compile(schema, schema.title, {
      cwd: schemaDir,
      bannerComment: `// Generated from schemas/${file} by \`npm run gen\`. Do not edit.`,
      additionalProperties: false,
      style: { singleQuote: true, printWidth: 100 },
    });
    out.set(file.replace('.schema.json', '.ts'), ts);
  }
  out.set('validators.ts', validators(schemas));
  return out;
}

async function readSchemas() {
  const files = (await readdir(schemaDir)).filter((f) => f.endsWith('.schema.json')).sort();
  return Promise.all(
    files.map(async (f) => [f, JSON.parse(await readFile(join(schemaDir, f), 'utf8'))]),
  );
}

/** One exported validate function per schema, named after its title. */
function validators(schemas) {
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true, esm: true } });
  const exports = {};
  for (const [, schema] of schemas) {
    ajv.addSchema(schema);
    exports[`validate${schema.title}`] = schema.$id;
  }
  // ajv's ESM output still require()s its CommonJS runtime helpers: import them instead, as
  // the module.exports that require() would give (Node and vitest wrap it differently).
  const imports = [];
  const code = standalone.default(ajv, exports).replace(/require\("([^"]+)"\)/g, (_, mod) => {
    const name = `runtime${imports.length}`;
    imports.push(
      `import * as ${name}Module from '${mod}.js';`,
      `const ${name} = { default: ${name}Module.default.default ?? ${name}Module.default };`,
    );
    return name;
  });
  return [
    '// Generated from schemas/*.schema.json by `npm run gen`. Do not edit.',
    '// @ts-nocheck',
    ...imports,
    code.replace(/^"use strict";/, ''),
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, text] of await render()) {
    await writeFile(join(generatedDir, name), text);
    console.log(`wrote src/generated/${name}`);
  }
}

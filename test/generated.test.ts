import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
// @ts-expect-error: a plain ES module without types
import { generatedDir, render } from '../bin/gen-from-schemas.mjs';

test('src/generated matches the schemas (run `npm run gen` after changing one)', async () => {
  const rendered: Map<string, string> = await render();
  expect([...rendered.keys()].sort()).toEqual(['agent-protocol.ts', 'config.ts', 'container-record.ts', 'control.ts', 'state.ts', 'validators.ts']);
  for (const [name, text] of rendered) {
    expect(await readFile(join(generatedDir, name), 'utf8'), name).toBe(text);
  }
});

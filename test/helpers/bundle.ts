// Bundles on disk for tests: runc's default config.json and an empty rootfs, changed at will.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spec } from '../../src/generated/config.js';
import { defaultSpec } from '../../src/oci/default-spec.js';
import { tempDir } from './cli.js';

export async function makeBundle(change: (spec: Spec) => unknown = () => undefined): Promise<string> {
  const dir = await tempDir();
  await mkdir(join(dir, 'rootfs'));
  const spec = defaultSpec();
  const replaced = change(spec);
  await writeFile(join(dir, 'config.json'), JSON.stringify(replaced ?? spec, null, 2));
  return dir;
}

/** Changes a bundle's config.json in place. */
export async function editConfig(bundle: string, change: (spec: Spec) => void): Promise<void> {
  const file = join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(file, 'utf8')) as Spec;
  change(spec);
  await writeFile(file, JSON.stringify(spec));
}

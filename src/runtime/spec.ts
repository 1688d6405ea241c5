// `vmrun spec`: a new bundle's config.json.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errnoOf, VmrunError } from '../errors.js';
import { defaultSpec } from '../oci/default-spec.js';

/** Writes runc's default config.json into dir, never over an existing one. */
export async function writeDefaultSpec(dir: string): Promise<string> {
  const path = join(resolve(dir), 'config.json');
  try {
    await writeFile(path, JSON.stringify(defaultSpec(), null, '\t') + '\n', { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') throw new VmrunError('FileExists', `File ${path} exists. Remove it first`);
    if (errnoOf(e) === 'ENOENT') throw new VmrunError('BundleNotFound', `bundle ${resolve(dir)} does not exist`);
    throw e;
  }
  return path;
}

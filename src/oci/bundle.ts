// Loading an OCI bundle: the one path `validate` and `create` share.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { errnoOf, VmrunError } from '../errors.js';
import type { Resources, Spec } from '../generated/config.js';
import { checkSpec } from '../schemas.js';
import { parseJson } from './json-text.js';
import { decodeJsonText, illFormedString } from './json-unicode.js';
import { semanticProblems } from './semantics.js';

/** The runtime-spec versions vmrun reads: 1.0.x to 1.3.x, with any pre-release suffix. */
export const SUPPORTED_OCI_VERSION = /^1\.[0-3]\.\d+(-[\w.+-]+)?$/;

export interface Bundle {
  /** Absolute path of the bundle directory. */
  dir: string;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  spec: Spec;
}

export async function loadBundle(bundleDir: string): Promise<Bundle> {
  const dir = resolve(bundleDir);
  await requireDirectory(dir, 'BundleNotFound', `bundle ${dir}`);

  const configPath = join(dir, 'config.json');
  const decoded = await decodeJsonText(await readConfig(configPath));
  if (!decoded.ok) throw new VmrunError('ConfigInvalid', `${configPath} is invalid: ${decoded.problem}`, [decoded.problem]);
  const parsed = await parseJson(decoded.text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.problem;
    throw new VmrunError(
      'ConfigSyntax',
      `${configPath}: invalid JSON at line ${line}, column ${column}: ${reason}`,
    );
  }

  const spec = checkConfig(parsed.value, configPath);
  const rootfs = isAbsolute(spec.root.path) ? spec.root.path : join(dir, spec.root.path);
  await requireDirectory(rootfs, 'RootfsNotFound', `rootfs ${rootfs} (/root/path)`);
  return { dir, rootfs, spec };
}

/** Checks a parsed config.json: its version first (a newer spec may be shaped otherwise), then the schema, then the rules a schema cannot say. */
export function checkConfig(value: unknown, where = 'config.json'): Spec {
  const version = (value as { ociVersion?: unknown } | null)?.ociVersion;
  if (typeof version === 'string' && !SUPPORTED_OCI_VERSION.test(version)) {
    throw new VmrunError(
      'UnsupportedVersion',
      `${where}: /ociVersion: unsupported runtime-spec version "${version}" (vmrun reads 1.0.x to 1.3.x)`,
    );
  }
  const notText = illFormedString(value);
  if (notText) throw new VmrunError('ConfigInvalid', `${where} is invalid: ${notText}`, [notText]);
  const checked = checkSpec(value);
  const problems = checked.ok ? semanticProblems(checked.value) : checked.problems;
  if (!checked.ok || problems.length > 0) {
    throw new VmrunError('ConfigInvalid', `${where} is invalid: ${problems.join('; ')}`, problems);
  }
  return checked.value;
}

/** The config.json parts given on their own: exec's process.json, update's resources. */
const PARTS = {
  process: { pointer: '/process', spec: (v: unknown) => ({ process: v }) },
  resources: { pointer: '/linux/resources', spec: (v: unknown) => ({ process: { args: ['sh'], cwd: '/' }, linux: { resources: v } }) },
};

/**
 * Checks one part of a config.json as it would be checked there, inside a config that has only
 * it; the problems are named by pointers within the part.
 */
export function checkConfigPart(part: 'process', value: unknown, where: string): Spec['process'];
export function checkConfigPart(part: 'resources', value: unknown, where: string): Resources;
export function checkConfigPart(part: keyof typeof PARTS, value: unknown, where: string): unknown {
  const { pointer, spec } = PARTS[part];
  try {
    const checked = checkConfig({ ociVersion: '1.3.0', root: { path: 'rootfs' }, ...spec(value) });
    return part === 'process' ? checked.process : checked.linux!.resources;
  } catch (e) {
    const problems = (e as VmrunError).details?.length ? (e as VmrunError).details : [(e as Error).message];
    throw new VmrunError('ConfigInvalid', `${where} is invalid: ${problems.map((p) => p.replace(pointer, '') || '/').join('; ')}`, problems);
  }
}

async function readConfig(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new VmrunError('ConfigNotFound', `${path} does not exist`);
    throw new VmrunError('ConfigUnreadable', `${path} cannot be read: ${(e as Error).message}`);
  }
}

async function requireDirectory(
  path: string,
  code: 'BundleNotFound' | 'RootfsNotFound',
  what: string,
): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new VmrunError(code, `${what} does not exist`);
    throw new VmrunError(code, `${what} cannot be accessed: ${(e as Error).message}`);
  }
  if (!isDir) throw new VmrunError(code, `${what} is not a directory`);
}

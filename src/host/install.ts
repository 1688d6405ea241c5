// vmrun on the PATH, as a runtime is installed: a link in /usr/local/bin to this checkout's
// bin/vmrun, so that the snippets of docs/integration.md (containerd's BinaryName, Docker's
// daemon.json, Podman's containers.conf) name one path on every host. The first checkout set up
// keeps it, until its link breaks.
import { access, lstat, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

export const INSTALLED_COMMAND = '/usr/local/bin/vmrun';
export const THIS_COMMAND = join(PACKAGE_ROOT, 'bin', 'vmrun');

export interface InstallCheck {
  /** What setup would do, when the link is missing or points elsewhere. */
  missing?: string;
  /** Why setup leaves the path alone: something that is not a link is there. */
  cannot?: string;
}

export async function checkInstalled(at = INSTALLED_COMMAND, target = THIS_COMMAND): Promise<InstallCheck> {
  const stat = await lstat(at).catch(() => undefined);
  if (!stat) return { missing: `${at}, a link to ${target}` };
  if (!stat.isSymbolicLink()) return { cannot: `${at} exists and is not a link; vmrun on the PATH is left as it is (remove it to let setup link ${target})` };
  const now = await readlink(at);
  // Another checkout's vmrun, installed on purpose: a clone that runs its tests leaves it be.
  if (now === target || (await isVmrun(resolve(dirname(at), now)))) return {};
  return { missing: `${at} links to ${now}, which is gone; setup links it to ${target}` };
}

/** Whether `path` is a vmrun checkout's bin/vmrun. */
async function isVmrun(path: string): Promise<boolean> {
  return basename(path) === 'vmrun' && (await access(join(dirname(path), '..', 'dist', 'src', 'cli', 'main.js')).then(() => true, () => false));
}

/** Makes `at` a link to `target`, replacing a link that points elsewhere in one step. */
export async function install(at = INSTALLED_COMMAND, target = THIS_COMMAND): Promise<void> {
  const next = `${at}.vmrun-new`;
  await rm(next, { force: true });
  await symlink(target, next);
  await rename(next, at);
}

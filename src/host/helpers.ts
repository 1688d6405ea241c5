// vmrun's small host helpers in C, each compiled once per source into the cache (gcc is one
// of the packages `vmrun setup` installs): what Node cannot do.
//   vmrun-pty     a terminal whose master goes to --console-socket (SCM_RIGHTS)
//   vmrun-nsexec  a hook run in vmrun's own namespaces, with its own argv[0]
//   vmrun-sentry  the container's init on the host, in its namespaces (src/monitor/sentry.ts)
//   vmrun-warden  PID 1 of the pid namespace of a VM's host processes (src/host/warden.ts)
//   vmrun-seal    a read-only root made read-only in its share's virtiofsd (src/vm/libvirt.ts)
//   vmrun-graft   a pod member's root and binds copied into its pod's share (src/monitor/pod.ts)
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmrunError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { command } from './command.js';
import { checkTrusted, untrustedFile } from './trusted.js';

export type HostHelper = 'vmrun-pty' | 'vmrun-nsexec' | 'vmrun-sentry' | 'vmrun-warden' | 'vmrun-seal' | 'vmrun-graft';
export const HOST_HELPERS: HostHelper[] = ['vmrun-pty', 'vmrun-nsexec', 'vmrun-sentry', 'vmrun-warden', 'vmrun-seal', 'vmrun-graft'];

export async function hostHelper(cacheDir: string, name: HostHelper): Promise<string> {
  const source = join(PACKAGE_ROOT, 'src', 'host', `${name}.c`);
  const hash = createHash('sha256').update(await readFile(source)).digest('hex').slice(0, 12);
  const dir = join(cacheDir, 'host');
  const binary = join(dir, `${name}-${hash}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // Rebuilt in a folder only root may write: a file of the right name is not enough.
  checkTrusted(dir, `the helpers' folder`);
  if (await stat(binary).then(() => true, () => false)) {
    if (!untrustedFile(binary)) return binary;
    await rm(binary, { force: true });
  }
  const partial = `${binary}.${process.pid}`;
  try {
    await command('gcc', ['-O2', '-Wall', '-o', partial, source], { timeoutMs: 120_000 });
    await chmod(partial, 0o755); // whatever the caller's umask
    await rename(partial, binary);
  } catch (e) {
    await rm(partial, { force: true });
    throw new VmrunError('InvalidState', `cannot build ${source} (is gcc installed? \`vmrun setup\` installs it): ${(e as Error).message}`);
  }
  return binary;
}

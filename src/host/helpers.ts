// vmrun's small host helpers in C, each compiled once per source into the cache (gcc is one
// of the packages `vmrun setup` installs): what Node cannot do.
//   vmrun-pty     a terminal whose master goes to --console-socket (SCM_RIGHTS)
//   vmrun-nsexec  a hook run in vmrun's own namespaces, with its own argv[0]
//   vmrun-sentry  the container's init on the host, in its namespaces (src/monitor/sentry.ts)
//   vmrun-warden  PID 1 of the pid namespace of a VM's host processes (src/host/warden.ts)
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VmrunError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { command } from './command.js';

export type HostHelper = 'vmrun-pty' | 'vmrun-nsexec' | 'vmrun-sentry' | 'vmrun-warden';
export const HOST_HELPERS: HostHelper[] = ['vmrun-pty', 'vmrun-nsexec', 'vmrun-sentry', 'vmrun-warden'];

export async function hostHelper(cacheDir: string, name: HostHelper): Promise<string> {
  const source = join(PACKAGE_ROOT, 'src', 'host', `${name}.c`);
  const hash = createHash('sha256').update(await readFile(source)).digest('hex').slice(0, 12);
  const dir = join(cacheDir, 'host');
  const binary = join(dir, `${name}-${hash}`);
  if (await stat(binary).then(() => true, () => false)) return binary;
  await mkdir(dir, { recursive: true });
  const partial = `${binary}.${process.pid}`;
  try {
    await command('gcc', ['-O2', '-Wall', '-o', partial, source], { timeoutMs: 120_000 });
    await rename(partial, binary);
  } catch (e) {
    await rm(partial, { force: true });
    throw new VmrunError('InvalidState', `cannot build ${source} (is gcc installed? \`vmrun setup\` installs it): ${(e as Error).message}`);
  }
  return binary;
}

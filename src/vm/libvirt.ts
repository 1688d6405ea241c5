// The embedded QEMU driver: the only module that knows how libvirt lays out a root and where it
// keeps QEMU's and virtiofsd's pids. Commands go through virsh.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostProcess } from '../generated/container-record.js';
import { VmrunError } from '../errors.js';
import { hostProcess, isAlive } from '../host/process.js';
import { account } from '../host/privilege.js';
import { untrustedPath } from '../host/trusted.js';
import { DOMAIN_NAME } from './layout.js';
import { embedUri, VirshShell } from './virsh.js';

export const EMULATOR = '/usr/bin/qemu-system-x86_64';
export const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const QEMU_DRIVER = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so';

/** The account QEMU runs as (libvirt's DAC driver drops to it); virtiofsd stays root. */
export const QEMU_USER = 'libvirt-qemu';

// Root without libvirtd: QEMU as QEMU_USER (the DAC driver, which libvirt always stacks when
// privileged; no SELinux or AppArmor), libvirt's own files in its root given to that account,
// no cgroups, and QEMU's output to plain files (the default needs the virtlogd daemon). The
// domain's <seclabel type='none' model='dac'/> keeps libvirt from chowning the files it names
// (the shared kernel and initramfs): QEMU reads those as they are, and is passed the others'
// fds (console, agent socket).
export const QEMU_CONF = `user = "${QEMU_USER}"
group = "${QEMU_USER}"
dynamic_ownership = 1
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
`;

const capsDir = (root: string) => join(root, 'cache', 'qemu', 'capabilities');

/**
 * The host-wide copy of QEMU's capabilities for this QEMU and this libvirt. libvirt probes QEMU
 * (4 s here) on a root's first use and caches the result inside the root; private roots would
 * each pay that, so vmrun keeps one copy per QEMU and libvirt build and seeds every new root.
 */
export async function capabilitiesCache(cacheDir: string): Promise<string> {
  const parts = await Promise.all(
    [EMULATOR, QEMU_DRIVER].map(async (f) => {
      const s = await stat(f);
      return `${f}:${s.size}:${s.mtimeMs}`;
    }),
  );
  // qemu.conf too: libvirt probes as QEMU's account and refuses capabilities probed as another.
  const key = createHash('sha256').update(parts.join('\n')).update(QEMU_CONF).digest('hex').slice(0, 16);
  return join(cacheDir, 'libvirt-capabilities', key);
}

/** Lays out a new root: its qemu.conf, and the capabilities seeded from the host-wide copy. */
export async function prepareRoot(root: string, capsCache: string): Promise<{ seeded: boolean }> {
  await mkdir(join(root, 'etc'), { recursive: true, mode: 0o700 });
  await admitQemu(root);
  await writeFile(join(root, 'etc', 'qemu.conf'), QEMU_CONF);
  // Capabilities another user could have written are probed again (and kept anew).
  let files = await xmlFiles(capsCache);
  if (untrustedPath(capsCache) || files.some((f) => untrustedPath(join(capsCache, f)))) {
    await rm(capsCache, { recursive: true, force: true });
    files = [];
  }
  if (files.length === 0) return { seeded: false };
  await mkdir(capsDir(root), { recursive: true });
  await Promise.all(files.map((f) => copyFile(join(capsCache, f), join(capsDir(root), f))));
  return { seeded: true };
}

/** Keeps a root's freshly probed capabilities as the host-wide copy, if there is none yet. */
export async function keepCapabilities(root: string, capsCache: string): Promise<void> {
  if ((await xmlFiles(capsCache)).length > 0) return;
  const files = await xmlFiles(capsDir(root));
  if (files.length === 0) return;
  await mkdir(capsCache, { recursive: true, mode: 0o755 });
  // Copied under temporary names and renamed, so a concurrent seed never sees half a file.
  for (const f of files) {
    const temp = join(capsCache, `.${f}.${process.pid}`);
    await copyFile(join(capsDir(root), f), temp);
    await rename(temp, join(capsCache, f));
  }
}

/**
 * Lets QEMU's account through a folder of root's (a VM directory, a libvirt root) without
 * letting it list it or anyone else in: mode 0710, group QEMU_USER.
 */
export async function admitQemu(dir: string): Promise<void> {
  await chown(dir, 0, qemuIds().gid);
  await chmod(dir, 0o710);
}

/** QEMU_USER's uid and gid, from the account database. */
export function qemuIds(): { uid: number; gid: number } {
  const ids = account(QEMU_USER);
  if (!ids) throw new VmrunError('InvalidState', `the account ${QEMU_USER} that QEMU runs as does not exist: run \`vmrun setup\``);
  return ids;
}

async function xmlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.xml'));
}

/** QEMU and the virtiofsd daemons libvirt started for the root's domain, from its pid files. */
export async function vmProcesses(root: string): Promise<{ qemu?: HostProcess; virtiofsd: HostProcess[] }> {
  const run = join(root, 'run', 'qemu');
  const read = async (name: string) => {
    const pid = Number((await readFile(join(run, name), 'utf8').catch(() => '')).trim());
    return pid > 0 ? hostProcess(pid) : undefined;
  };
  const fsPidFiles = (await readdir(run).catch(() => [] as string[])).filter((f) => f.endsWith('-fs.pid'));
  const virtiofsd = (await Promise.all(fsPidFiles.map(read))).filter((p): p is HostProcess => !!p);
  return { qemu: await read(`${DOMAIN_NAME}.pid`), virtiofsd };
}

/**
 * Makes the share at `source` read-only as its virtiofsd serves it (libvirt 9.0 refuses
 * <readonly/> for virtiofs), through the vmrun-seal helper: only that virtiofsd's own mount
 * namespace changes, never the host's.
 */
export async function sealShare(seal: string, virtiofsd: HostProcess[], source: string): Promise<void> {
  const argument = `source=${source}`;
  const daemon = virtiofsd.find((p) => isAlive(p) && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').includes(argument));
  if (!daemon) throw new VmrunError('InvalidState', `no virtiofsd serves ${source}: cannot make the root read-only on the host`);
  const { execa } = await import('execa');
  const r = await execa(seal, [String(daemon.pid)], { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) throw new VmrunError('InvalidState', `cannot make the root read-only on the host: ${r.stderr || r.message}`);
}

/** A root held open by a long-lived virsh, with the container's domain in it. */
export class EmbeddedDriver {
  private constructor(private readonly shell: VirshShell) {}

  static open(root: string): EmbeddedDriver {
    return new EmbeddedDriver(new VirshShell(root));
  }

  async createDomain(xmlFile: string): Promise<void> {
    await this.shell.run(`create ${xmlFile}`);
  }

  /** Plugs a device (its XML in a file) into the running VM. */
  async attachDevice(xmlFile: string): Promise<void> {
    await this.shell.run(`attach-device ${DOMAIN_NAME} ${xmlFile} --live`);
  }

  /** Freezes the whole VM (its vCPUs stop), as runc's freezer does a container's processes. */
  async suspend(): Promise<void> {
    await this.shell.run(`suspend ${DOMAIN_NAME}`);
  }

  async resume(): Promise<void> {
    await this.shell.run(`resume ${DOMAIN_NAME}`);
  }

  /** Stops the VM at once. virsh may report failure even when it worked: the caller checks the pids. */
  async destroyDomain(): Promise<void> {
    await this.shell.run(`destroy ${DOMAIN_NAME}`).catch(() => undefined);
  }

  close(): Promise<void> {
    return this.shell.close();
  }
}

/**
 * Ends what is left of a VM whose holder died: a later open of the root lets libvirt destroy
 * the domain; whatever still runs after that is killed by its recorded pid.
 */
export async function destroyLeftovers(root: string, known: HostProcess[]): Promise<void> {
  const { execa } = await import('execa'); // only here: every verb would pay for loading it
  await execa('virsh', ['-q', '-c', embedUri(root), 'destroy', DOMAIN_NAME], { reject: false, stdin: 'ignore' });
  const found = await vmProcesses(root);
  const all = [...known, ...(found.qemu ? [found.qemu] : []), ...found.virtiofsd];
  for (const proc of all) if (isAlive(proc)) process.kill(proc.pid, 'SIGKILL');
  for (const proc of all) await waitGone(proc);
}

export async function waitGone(proc: HostProcess, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(proc)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

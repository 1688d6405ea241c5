// The embedded QEMU driver: the only module that knows how libvirt lays out a root and where it
// keeps QEMU's and virtiofsd's pids. Commands go through virsh.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostProcess } from '../generated/container-record.js';
import { VmrunError } from '../errors.js';
import { command } from '../host/command.js';
import { isAlive } from '../host/process.js';
import { account } from '../host/privilege.js';
import { untrustedPath } from '../host/trusted.js';
import { Warden, type WardenProgram } from '../host/warden.js';
import { DOMAIN_NAME } from './layout.js';
import { virshCommandLine, virshShellArgv, VirshShell } from './virsh.js';

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

/** A process of the VM: its pid in the warden's namespace, and on the host while it runs. */
export interface VmProcess {
  nsPid: number;
  host?: HostProcess;
}

/**
 * A virtiofsd vmrun starts itself for a restored VM, with the arguments libvirt gives the ones
 * it starts (`-o source=`, which shareDaemon looks for), listening where QEMU's account may connect.
 */
export function virtiofsdArgv(source: string, socket: string): string[] {
  return [VIRTIOFSD, `--socket-path=${socket}`, `--socket-group=${QEMU_USER}`, '-o', `source=${source}`];
}

/** The virtiofsd of the share at `source`, among a VM's. */
export function shareDaemon(virtiofsd: HostProcess[], source: string): HostProcess | undefined {
  const argument = `source=${source}`;
  return virtiofsd.find((p) => isAlive(p) && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').includes(argument));
}

/**
 * Makes the share at `source` read-only as its virtiofsd serves it (libvirt 9.0 refuses
 * <readonly/> for virtiofs), through the vmrun-seal helper: only that virtiofsd's own mount
 * namespace changes, never the host's.
 */
export async function sealShare(seal: string, virtiofsd: HostProcess[], source: string): Promise<void> {
  const daemon = shareDaemon(virtiofsd, source);
  if (!daemon) throw new VmrunError('InvalidState', `no virtiofsd serves ${source}: cannot make the root read-only on the host`);
  await command(seal, [String(daemon.pid)], { timeoutMs: 10_000 }).catch((e: Error) => {
    throw new VmrunError('InvalidState', `cannot make the root read-only on the host: ${e.message}`);
  });
}

/**
 * A root held open by a long-lived virsh, with the container's domain in it. virsh and what
 * it starts (QEMU, virtiofsd), and the `others` beside it, live in a warden's pid namespace
 * (src/host/warden.ts): they all end with the process that opened the driver.
 */
export class EmbeddedDriver {
  private constructor(private readonly root: string, private readonly shell: VirshShell, readonly warden: Warden) {}

  static async open(root: string, wardenHelper: string, others: WardenProgram[] = []): Promise<EmbeddedDriver> {
    const warden = await Warden.start(wardenHelper, [{ argv: virshShellArgv(root), piped: true }, ...others]);
    return new EmbeddedDriver(root, new VirshShell(warden.stdio), warden);
  }

  /** QEMU and the virtiofsd daemons libvirt started for the domain, from its pid files (the namespace's pids). */
  async processes(): Promise<{ qemu?: VmProcess; virtiofsd: VmProcess[] }> {
    const run = join(this.root, 'run', 'qemu');
    const read = async (name: string): Promise<VmProcess | undefined> => {
      const nsPid = Number((await readFile(join(run, name), 'utf8').catch(() => '')).trim());
      return Number.isInteger(nsPid) && nsPid > 0 ? { nsPid, host: this.warden.hostProcessOf(nsPid) } : undefined;
    };
    const fsPidFiles = (await readdir(run).catch(() => [] as string[])).filter((f) => f.endsWith('-fs.pid'));
    const virtiofsd = (await Promise.all(fsPidFiles.map(read))).filter((p): p is VmProcess => !!p);
    return { qemu: await read(`${DOMAIN_NAME}.pid`), virtiofsd };
  }

  /** virsh itself, the warden's first program. */
  get virshPid(): number {
    return this.warden.programs[0]!;
  }

  async createDomain(xmlFile: string): Promise<void> {
    await this.shell.run(`create ${xmlFile}`);
  }

  /** Starts the domain saved in libvirt's save image `image`, as `xmlFile` describes it (same devices, new host paths). */
  async restoreDomain(image: string, xmlFile: string): Promise<void> {
    await this.shell.run(virshCommandLine(['restore', image, '--xml', xmlFile]), 60_000);
  }

  /** Saves the running domain to `file` (libvirt's save image); the domain ends. */
  async saveDomain(file: string): Promise<void> {
    await this.shell.run(virshCommandLine(['save', DOMAIN_NAME, file]), 180_000);
  }

  /**
   * Plugs in the virtiofs share `tag`, whose virtiofsd listens on `socket`, through QEMU's own
   * monitor: libvirt 9.0 cannot hot-plug virtiofs in a root without cgroups
   * (docs/performance.md). In PCI slot `slot`, one of the last: libvirt, which does not know
   * of the device, gives the cards it plugs in later the lowest free slots.
   */
  async plugShare(tag: string, socket: string, slot: number): Promise<void> {
    const id = `vmrunfs-${tag}`;
    await this.qmp('chardev-add', { id, backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: socket } }, server: false } } });
    await this.qmp('device_add', { driver: 'vhost-user-fs-pci', id, chardev: id, tag, 'queue-size': 1024, bus: 'pci.0', addr: `0x${slot.toString(16)}` });
  }

  /** One QMP command, through libvirt; rejects with QEMU's error. */
  private async qmp(execute: string, args: Record<string, unknown>): Promise<unknown> {
    const out = await this.shell.run(virshCommandLine(['qemu-monitor-command', DOMAIN_NAME, JSON.stringify({ execute, arguments: args })]));
    let reply: { return?: unknown; error?: { desc?: string } };
    try {
      reply = JSON.parse(out) as typeof reply;
    } catch {
      throw new VmrunError('InvalidState', `QEMU's ${execute}: an answer that is not JSON: ${out.slice(0, 200)}`);
    }
    if (reply.error) throw new VmrunError('InvalidState', `QEMU's ${execute}: ${reply.error.desc ?? JSON.stringify(reply.error)}`);
    return reply.return;
  }

  /** Plugs a device (its XML in a file) into the running VM. */
  async attachDevice(xmlFile: string): Promise<void> {
    await this.shell.run(`attach-device ${DOMAIN_NAME} ${xmlFile} --live`);
  }

  /** Plugs vCPUs into the running VM until it has `count` (at most its domain's maximum). */
  async setVcpus(count: number): Promise<void> {
    await this.shell.run(`setvcpus ${DOMAIN_NAME} ${count} --live`, 30_000);
  }

  /** Freezes the whole VM (its vCPUs stop), as runc's freezer does a container's processes. */
  async suspend(): Promise<void> {
    await this.shell.run(`suspend ${DOMAIN_NAME}`);
  }

  async resume(): Promise<void> {
    await this.shell.run(`resume ${DOMAIN_NAME}`);
  }

  /** A virsh command of the user's, on the root this driver holds; its output. */
  run(args: string[]): Promise<string> {
    return this.shell.run(virshCommandLine(args));
  }

  /** Stops the VM at once. virsh may report failure even when it worked: what is left ends with the warden. */
  async destroyDomain(): Promise<void> {
    await this.shell.run(`destroy ${DOMAIN_NAME}`, 15_000).catch(() => undefined);
  }

  /** Closes the root, then ends the warden: resolves once every process of the VM is gone. */
  async close(): Promise<void> {
    await this.shell.close();
    await this.warden.end();
  }
}

/**
 * Ends what is left of a VM whose monitor died, by the host processes its record names. The
 * warden's namespace ended with the monitor, so there should be none; libvirt is not asked,
 * as its pid files hold the namespace's pids, which mean other processes on the host.
 */
export async function destroyLeftovers(known: HostProcess[]): Promise<void> {
  for (const proc of known) if (isAlive(proc)) process.kill(proc.pid, 'SIGKILL');
  for (const proc of known) await waitGone(proc);
}

export async function waitGone(proc: HostProcess, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(proc)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

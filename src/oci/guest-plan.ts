// What the agent sets up in the guest, from config.json: a pure mapping, like the domain XML.
import { resolve } from 'node:path';
import type { DeviceRule as GuestDeviceRule, GuestMount, GuestPlan, ProcessPlan } from '../generated/agent-protocol.js';
import type { Capabilities, DeviceRule, Mount, Resources, Spec } from '../generated/config.js';
import { ROOTFS_TAG } from '../vm/domain-xml.js';
import { CAPABILITIES, cpuWeight } from './linux-ids.js';
import { seccompPlan } from './seccomp.js';

/** The virtiofs tag of the share that carries every host path the container binds in. */
export const BINDS_TAG = 'binds';

/** A host path bound into the container: the monitor mounts it as `name` in the binds share. */
export interface HostBind {
  /** Where config.json has it: /mounts/N. */
  field: string;
  name: string;
  source: string;
  recursive: boolean;
  readonly: boolean;
}

/** A mount found below a recursive bind's source on the host: NAME/PATH in the binds share. */
export interface HostSubmount {
  name: string;
  /** Relative to the bind's source. */
  path: string;
  /** Its own flags on the host (ro, nosuid, nodev, noexec). */
  options: string[];
}

export interface PlannedGuest {
  plan: GuestPlan;
  /** The host paths to share, one per bind mount. */
  binds: HostBind[];
  /** What config.json asks for that this plan leaves out, each naming its field. */
  ignored: string[];
}

const hasBindOption = (options: string[]) => options.some((o) => o === 'bind' || o === 'rbind');

/** A mount of a host path: runc takes `type: bind` or a bind option for one. */
export const isBindMount = (m: Mount) => m.type === 'bind' || hasBindOption(m.options ?? []);

/** `bundleDir` resolves relative bind sources, as runc, which runs in the bundle, does. */
export function guestPlan(spec: Spec, bundleDir = '/'): PlannedGuest {
  const ignored: string[] = [];
  const mounts: GuestMount[] = [];
  const binds: HostBind[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    const options = m.options ?? [];
    if (!isBindMount(m)) {
      mounts.push({ destination: m.destination, type: m.type ?? 'none', source: m.source, options: m.options });
      return;
    }
    const name = String(i);
    binds.push({
      field: `/mounts/${i}`, name, source: resolve(bundleDir, m.source ?? ''),
      recursive: options.includes('rbind'), readonly: options.includes('ro'),
    });
    // A bind whose only sign is its type gets the option that makes it one in the guest too.
    const guestOptions = hasBindOption(options) ? options : ['bind', ...options];
    mounts.push({ destination: m.destination, type: 'bind', source: name, share: BINDS_TAG, options: guestOptions });
  });
  const process = processPlan(spec.process, ignored);

  const plan: GuestPlan = { rootfs: { tag: ROOTFS_TAG, readonly: spec.root.readonly ?? false }, mounts, process };
  const linux = spec.linux ?? {};
  if (linux.rootfsPropagation) plan.rootfs.propagation = linux.rootfsPropagation as NonNullable<GuestPlan['rootfs']['propagation']>;
  if (spec.hostname !== undefined) plan.hostname = spec.hostname;
  if (spec.domainname !== undefined) plan.domainname = spec.domainname;
  if (linux.sysctl !== undefined) plan.sysctl = linux.sysctl;
  if (linux.maskedPaths !== undefined) plan.maskedPaths = linux.maskedPaths;
  if (linux.readonlyPaths !== undefined) plan.readonlyPaths = linux.readonlyPaths;
  if (linux.seccomp !== undefined) plan.seccomp = seccompPlan(linux.seccomp, ignored);
  const cgroup = cgroupFiles(spec.linux?.resources);
  if (Object.keys(cgroup).length > 0) plan.cgroup = cgroup;
  const namespaces = guestNamespaces(spec);
  if (namespaces.length > 0) plan.namespaces = namespaces;
  if (namespaces.includes('user')) {
    plan.uidMappings = linux.uidMappings ?? [];
    plan.gidMappings = linux.gidMappings ?? [];
  }
  const rules = linux.resources?.devices ?? [];
  if (rules.length > 0) plan.deviceRules = deviceRules(rules, linux.devices ?? []);
  if (linux.devices !== undefined) {
    plan.devices = linux.devices.map((d) => ({
      path: d.path, type: d.type, major: d.major ?? 0, minor: d.minor ?? 0,
      fileMode: (d.fileMode ?? 0o666) & 0o7777, uid: d.uid ?? 0, gid: d.gid ?? 0,
    }));
  }
  return { plan, binds, ignored };
}

type GuestNamespace = NonNullable<GuestPlan['namespaces']>[number];
const GUEST_NAMESPACES: readonly string[] = ['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user'] satisfies GuestNamespace[];

/**
 * The namespaces the container gets of its own in the guest: each config.json entry without a
 * path. One with a path names a namespace of the host, which means nothing in the guest: the
 * container shares the guest's (create warns, src/oci/unhonoured.ts). The network is the VM's.
 */
export function guestNamespaces(spec: Spec): GuestNamespace[] {
  return (spec.linux?.namespaces ?? []).filter((ns) => !ns.path && GUEST_NAMESPACES.includes(ns.type)).map((ns) => ns.type as GuestNamespace);
}

/**
 * What runc (1.1) appends to config.json's device rules: mknod of any device, and the devices
 * every container has (null, zero, full, random, urandom, tty, ptmx, the ptys, tun).
 */
export const RUNC_ALLOWED_DEVICES: GuestDeviceRule[] = [
  { allow: true, type: 'c', access: 'm' }, { allow: true, type: 'b', access: 'm' },
  ...[[1, 3], [1, 8], [1, 7], [5, 0], [1, 5], [1, 9], [5, 2], [10, 200]].map(([major, minor]) => ({ allow: true, type: 'c' as const, major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

/** The most rules a device program holds that the guest's BPF verifier takes (measured: 200 load, 400 do not). */
export const MAX_DEVICE_RULES = 200;

/** The rules the guest's device filter holds: config.json's, runc's defaults, then linux.devices' nodes. */
function deviceRules(rules: DeviceRule[], devices: NonNullable<NonNullable<Spec['linux']>['devices']>): GuestDeviceRule[] {
  const nodes = devices.filter((d) => d.type === 'c' || d.type === 'b').map((d) => deviceRule({ allow: true, type: d.type as 'c' | 'b', major: d.major, minor: d.minor, access: 'rwm' }));
  return [...rules.map(deviceRule), ...RUNC_ALLOWED_DEVICES, ...nodes];
}

/** A linux.resources.devices rule with runc's defaults: any type, any number, every access. */
function deviceRule(r: DeviceRule): GuestDeviceRule {
  const rule: GuestDeviceRule = { allow: r.allow, type: (r.type ?? 'a') as GuestDeviceRule['type'], access: r.access || 'rwm' };
  if (r.major !== undefined && r.major >= 0) rule.major = r.major;
  if (r.minor !== undefined && r.minor >= 0) rule.minor = r.minor;
  return rule;
}

/** Options of a bind that reach its whole tree: recursive attributes and propagation. */
const TREE_OPTION = /^r(ro|rw|no\w+|suid|dev|exec|diratime|relatime|atime|strictatime|symfollow|private|shared|slave|unbindable)$/;

/**
 * The guest's mounts with each host submount of a recursive bind bound again below it, with
 * its own flags and the bind's recursive options: as runc's rbind, `ro` makes only the top
 * read-only, `rro` all of it.
 */
export function withSubmounts(mounts: GuestMount[], submounts: HostSubmount[]): GuestMount[] {
  return mounts.flatMap((m) => {
    if (!m.share) return [m];
    const inherited = (m.options ?? []).filter((o) => TREE_OPTION.test(o));
    return [m, ...submounts.filter((s) => s.name === m.source).map((s) => ({
      destination: `${m.destination.replace(/\/$/, '')}/${s.path}`, type: 'bind', share: m.share,
      source: `${s.name}/${s.path}`, options: ['bind', ...s.options, ...inherited],
    }))];
  });
}

/** config.json's process (or an exec's process.json) as the agent runs it. */
export function processPlan(p: Spec['process'], ignored: string[] = []): ProcessPlan {
  const process: ProcessPlan = {
    args: p.args,
    env: p.env ?? [],
    cwd: p.cwd,
    user: { uid: p.user?.uid ?? 0, gid: p.user?.gid ?? 0 },
  };
  if (p.user?.umask !== undefined) process.user.umask = p.user.umask;
  if (p.user?.additionalGids !== undefined) process.user.additionalGids = p.user.additionalGids;
  if (p.rlimits !== undefined) process.rlimits = p.rlimits.map(({ type, soft, hard }) => ({ type, soft, hard }));
  if (p.capabilities !== undefined) process.capabilities = knownCapabilities(p.capabilities, ignored);
  if (p.noNewPrivileges !== undefined) process.noNewPrivileges = p.noNewPrivileges;
  if (p.oomScoreAdj !== undefined) process.oomScoreAdj = p.oomScoreAdj;
  if (p.terminal) {
    process.terminal = true;
    if (p.consoleSize?.height && p.consoleSize.width) process.consoleSize = { rows: p.consoleSize.height, cols: p.consoleSize.width };
  }
  return process;
}

/**
 * linux.resources as cgroup v2 files of the container's cgroup in the guest, with runc's
 * conversions; the guest is sized from the same values (src/vm/sizing.ts).
 */
export function cgroupFiles(resources: Resources = {}): Record<string, string> {
  const r = resources;
  const files: Record<string, string> = {};
  const { limit, reservation } = r.memory ?? {};
  if (limit !== undefined && limit !== 0) files['memory.max'] = limit > 0 ? String(limit) : 'max';
  if (reservation !== undefined && reservation > 0) files['memory.low'] = String(reservation);
  const { quota, period, shares } = r.cpu ?? {};
  if ((quota !== undefined && quota !== 0) || period !== undefined) {
    files['cpu.max'] = `${quota !== undefined && quota > 0 ? quota : 'max'} ${period || 100_000}`;
  }
  if (shares) files['cpu.weight'] = String(cpuWeight(shares));
  const pids = r.pids?.limit;
  if (pids !== undefined && pids !== 0) files['pids.max'] = pids > 0 ? String(pids) : 'max';
  return files;
}

/** The capability sets without the names this guest's kernel does not know: runc warns and drops them too. */
function knownCapabilities(sets: Capabilities, ignored: string[]): Record<string, string[]> {
  const known: Record<string, string[]> = {};
  for (const [set, names] of Object.entries(sets) as [string, string[] | undefined][]) {
    if (!names) continue;
    known[set] = names.filter((name, i) => {
      if (name in CAPABILITIES) return true;
      ignored.push(`/process/capabilities/${set}/${i} (${name} is not a capability the guest's kernel knows)`);
      return false;
    });
  }
  return known;
}

// What the agent sets up in the guest, from config.json: a pure mapping, like the domain XML.
import type { GuestMount, GuestPlan, ProcessPlan } from '../generated/agent-protocol.js';
import type { Capabilities, Spec } from '../generated/config.js';
import { ROOTFS_TAG } from '../vm/domain-xml.js';
import { CAPABILITIES } from './linux-ids.js';

export interface PlannedGuest {
  plan: GuestPlan;
  /** What config.json asks for that this plan leaves out, each naming its field. */
  ignored: string[];
}

export function guestPlan(spec: Spec): PlannedGuest {
  const ignored: string[] = [];
  const mounts: GuestMount[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    const isBind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (isBind) {
      ignored.push(`/mounts/${i} (bind mounts of host paths are not applied yet: ${m.source ?? '?'} on ${m.destination})`);
      return;
    }
    mounts.push({ destination: m.destination, type: m.type ?? 'none', source: m.source, options: m.options });
  });
  const p = spec.process;
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

  const plan: GuestPlan = { rootfs: { tag: ROOTFS_TAG, readonly: spec.root.readonly ?? false }, mounts, process };
  const linux = spec.linux ?? {};
  if (spec.hostname !== undefined) plan.hostname = spec.hostname;
  if (spec.domainname !== undefined) plan.domainname = spec.domainname;
  if (linux.sysctl !== undefined) plan.sysctl = linux.sysctl;
  if (linux.maskedPaths !== undefined) plan.maskedPaths = linux.maskedPaths;
  if (linux.readonlyPaths !== undefined) plan.readonlyPaths = linux.readonlyPaths;
  if (linux.devices !== undefined) {
    plan.devices = linux.devices.map((d) => ({
      path: d.path, type: d.type, major: d.major ?? 0, minor: d.minor ?? 0,
      fileMode: (d.fileMode ?? 0o666) & 0o7777, uid: d.uid ?? 0, gid: d.gid ?? 0,
    }));
  }
  return { plan, ignored };
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

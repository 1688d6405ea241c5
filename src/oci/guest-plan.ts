// What the agent sets up in the guest, from config.json: a pure mapping, like the domain XML.
import type { GuestMount, GuestPlan } from '../generated/agent-protocol.js';
import type { Spec } from '../generated/config.js';
import { ROOTFS_TAG } from '../vm/domain-xml.js';

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
      ignored.push(`/mounts/${i}: bind mount of ${m.source ?? '?'} on ${m.destination}`);
      return;
    }
    mounts.push({ destination: m.destination, type: m.type ?? 'none', source: m.source, options: m.options });
  });
  const p = spec.process;
  const unread: [string, unknown][] = [
    ['/process/rlimits', p.rlimits], ['/process/capabilities', p.capabilities],
    ['/process/noNewPrivileges', p.noNewPrivileges], ['/process/oomScoreAdj', p.oomScoreAdj],
    ['/process/user/umask', p.user?.umask], ['/process/user/additionalGids', p.user?.additionalGids],
    ['/process/terminal', p.terminal || undefined], ['/linux/maskedPaths', spec.linux?.maskedPaths],
    ['/linux/readonlyPaths', spec.linux?.readonlyPaths], ['/linux/sysctl', spec.linux?.sysctl],
    ['/linux/devices', spec.linux?.devices], ['/hooks', spec.hooks],
  ];
  for (const [field, value] of unread) if (value !== undefined) ignored.push(field);
  const plan: GuestPlan = {
    rootfs: { tag: ROOTFS_TAG, readonly: spec.root.readonly ?? false },
    mounts,
    process: {
      args: p.args,
      env: p.env ?? [],
      cwd: p.cwd,
      user: { uid: p.user?.uid ?? 0, gid: p.user?.gid ?? 0 },
    },
  };
  if (spec.hostname !== undefined) plan.hostname = spec.hostname;
  if (spec.domainname !== undefined) plan.domainname = spec.domainname;
  return { plan, ignored };
}

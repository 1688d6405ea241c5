// The container's filesystem inside the guest: its rootfs share, then config.json's mounts in
// their order, done by vmrun-exec (guest-agent/vmrun-exec.c) as it prepares the process.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuestPlan } from '../src/generated/agent-protocol.js';
import { ROOTFS_TAG } from '../src/vm/domain-xml.js';

/** Where the container's root is mounted in the guest. */
export const CONTAINER_ROOT = '/container';
/** Where the shares of host paths are mounted in the guest, outside the container's root. */
const SHARES_DIR = '/run/vmrun/shares';
/** init.sh mounts the share "rootfs" there while node starts, then makes this file. */
const EARLY_MOUNT_MARK = '/run/vmrun/rootfs-mounted';

/**
 * vmrun-exec's flags for the container's filesystem: the mounts in config.json's order, then the
 * devices, read-only paths and masked paths it applies inside the root.
 */
export function mountArgs(plan: GuestPlan, rootMounted: boolean, root = CONTAINER_ROOT): string[] {
  const { tag, path } = plan.rootfs;
  const args = rootMounted || path !== undefined ? [] : ['--mount', 'virtiofs', tag, root, ''];
  // Host paths come through their shares, each mounted once outside the container's root; a
  // member's root is a folder of a share.
  const shares = new Set([...(path !== undefined ? [tag] : []), ...plan.mounts.flatMap((m) => (m.share ? [m.share] : []))]);
  for (const share of shares) args.push('--mount', 'virtiofs', share, `${SHARES_DIR}/${share}`, '');
  if (path !== undefined) args.push('--mount', 'bind', `${SHARES_DIR}/${tag}/${path}`, root, 'rbind');
  for (const m of plan.mounts) {
    if (m.share) {
      args.push('--mount', 'bind', `${SHARES_DIR}/${m.share}/${m.source}`, root + m.destination, (m.options ?? []).join(','));
      continue;
    }
    // A guest kernel without a systemd host mounts the unified hierarchy; so does runc on one.
    const type = m.type === 'cgroup' ? 'cgroup2' : m.type;
    args.push('--mount', type, m.source ?? type, root + m.destination, (m.options ?? []).join(','));
    if (m.destination === '/dev' && type === 'tmpfs') args.push('--devices', root + '/dev');
  }
  if (plan.rootfs.readonly) args.push('--readonly-root');
  if (plan.rootfs.propagation) args.push('--root-propagation', plan.rootfs.propagation);
  for (const d of plan.devices ?? []) {
    args.push('--device', [d.path, d.type, d.major, d.minor, d.fileMode.toString(8), d.uid, d.gid].join(':'));
  }
  for (const path of plan.readonlyPaths ?? []) args.push('--readonly-path', path);
  for (const path of plan.maskedPaths ?? []) args.push('--mask', path);
  return args;
}

/** Whether init.sh has mounted the rootfs share; waits a little for it to finish. */
export async function rootfsMountedEarly(tag: string): Promise<boolean> {
  if (tag !== ROOTFS_TAG) return false;
  for (let i = 0; i < 300 && !existsSync(EARLY_MOUNT_MARK); i++) await sleep(10);
  return existsSync(EARLY_MOUNT_MARK);
}

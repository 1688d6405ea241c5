// The container's filesystem inside the guest: its rootfs share, then config.json's mounts in
// their order, as one busybox shell script (a process start costs milliseconds under TCG).
import type { GuestMount, GuestPlan } from '../src/generated/agent-protocol.js';

/** Where the container's root is mounted in the guest. */
export const CONTAINER_ROOT = '/container';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// The devices runc creates in a container's /dev (a tmpfs) when config.json mounts one there,
// copied from the guest's devtmpfs in one command (a process start costs time under TCG).
const DEFAULT_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: [name: string, target: string][] = [
  ['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx'],
];

export function mountScript(plan: GuestPlan): string {
  const root = CONTAINER_ROOT;
  const lines = ['set -e', `mkdir -p ${root}`, `mount -t virtiofs ${quote(plan.rootfs.tag)} ${root}`];
  for (const m of plan.mounts) lines.push(...mountLines(m, root));
  if (plan.rootfs.readonly) lines.push(`mount -o remount,bind,ro ${root}`);
  return lines.join('\n');
}

function mountLines(m: GuestMount, root: string): string[] {
  const target = quote(root + m.destination);
  // A guest kernel without a systemd host mounts the unified hierarchy; so does runc on one.
  const type = m.type === 'cgroup' ? 'cgroup2' : m.type;
  const options = (m.options ?? []).filter((o) => o !== 'rprivate' && o !== 'private');
  const lines = [
    `mkdir -p ${target}`,
    `mount -t ${quote(type)}${options.length ? ` -o ${quote(options.join(','))}` : ''} ${quote(m.source ?? type)} ${target}`,
  ];
  if (m.destination === '/dev' && type === 'tmpfs') {
    lines.push(`cp -a ${DEFAULT_DEVICES.map((d) => `/dev/${d}`).join(' ')} ${target}/`);
    for (const [name, to] of DEV_LINKS) lines.push(`ln -sf ${quote(to)} ${target}/${name}`);
  }
  return lines;
}

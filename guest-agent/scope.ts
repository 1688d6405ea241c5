// Which of the guest's containers a request is for. A guest runs its first container (the one
// that booted it) and, in a pod, members that joined it later: each member has a root, a cgroup
// and a name of its own, and its processes are those of its cgroup.
export interface ContainerScope {
  /** '' for the first container, else the member's name (its host VM directory's hash). */
  name: string;
  /** The container's cgroup v2 group in the guest, holding its processes. */
  cgroup: string;
  /** Where its root is mounted in the guest. */
  root: string;
}

/** A member's cgroup is /sys/fs/cgroup/pod-NAME: the first container's processes are in none of these. */
const MEMBER_CGROUP_PREFIX = '/pod-';

export const FIRST: ContainerScope = { name: '', cgroup: '/sys/fs/cgroup/container', root: '/container' };

export function memberScope(name: string): ContainerScope {
  return { name, cgroup: `/sys/fs/cgroup${MEMBER_CGROUP_PREFIX}${name}`, root: `/containers/${name}` };
}

/** Whether a process whose cgroup v2 path (from /proc/PID/cgroup) is `path` is the scope's. */
export function inScope(path: string, scope: ContainerScope): boolean {
  if (scope.name === '') return !path.startsWith(MEMBER_CGROUP_PREFIX);
  const own = `${MEMBER_CGROUP_PREFIX}${scope.name}`;
  return path === own || path.startsWith(`${own}/`);
}

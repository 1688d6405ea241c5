// The namespace files config.json's linux.namespaces name by path, checked at create as runc
// checks them: each must exist and be a namespace of its entry's type, before anything starts.
// The sentry (src/host/vmrun-sentry.c) checks again as it joins them (NS_GET_NSTYPE).
import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { VmrunError } from '../errors.js';
import type { Spec } from '../generated/config.js';
import { unescapeMountinfo } from './bind-mounts.js';

/** config.json's type names as the kernel names them in /proc/PID/ns links. */
const KERNEL_NAMES: Record<string, string> = { network: 'net', mount: 'mnt' };

/** A /proc/PID/ns link's text, or an nsfs mount's root: "uts:[4026531838]". */
const NSFS = /^([a-z_]+):\[\d+\]$/;

/**
 * The kernel's name of the namespace at `path` ("net", "uts"…), or undefined if it is not one:
 * a /proc/PID/ns link, or a namespace file bound somewhere (ip netns's /run/netns/NAME), which
 * is an nsfs mount in this process's mountinfo. Throws if the path does not exist.
 */
export function namespaceKind(path: string, mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  if (lstatSync(path).isSymbolicLink()) {
    const kind = NSFS.exec(readlinkSync(path))?.[1];
    // pid_for_children and time_for_children link to namespaces of those types.
    if (kind) return kind;
  }
  const real = realpathSync(path); // /var/run/netns/NAME is mounted as /run/netns/NAME
  let kind: string | undefined;
  // The last mount on the path is the one it shows.
  for (const line of mountinfo().split('\n')) {
    const [left, right] = line.split(' - ');
    const fields = left?.split(' ') ?? [];
    if (unescapeMountinfo(fields[4] ?? '') !== real) continue;
    kind = right?.split(' ')[0] === 'nsfs' ? NSFS.exec(fields[3] ?? '')?.[1] : undefined;
  }
  return kind;
}

/** Every entry of linux.namespaces that names a path: it exists and is of the entry's type. */
export function checkNamespacePaths(spec: Spec): void {
  for (const [i, ns] of (spec.linux?.namespaces ?? []).entries()) {
    if (!ns.path) continue;
    const at = `/linux/namespaces/${i}/path`;
    let kind: string | undefined;
    try {
      kind = namespaceKind(ns.path);
    } catch (e) {
      throw new VmrunError('ConfigInvalid', `${at}: ${ns.path} does not exist (${(e as NodeJS.ErrnoException).code})`);
    }
    if (!kind) throw new VmrunError('ConfigInvalid', `${at}: ${ns.path} is not a namespace`);
    if (kind !== (KERNEL_NAMES[ns.type] ?? ns.type)) throw new VmrunError('ConfigInvalid', `${at}: ${ns.path} is not a ${ns.type} namespace (it is ${kind})`);
  }
}

/** Whether two namespace files are one namespace: by device and inode, whatever their paths. */
export function sameNamespace(a: string, b: string): boolean {
  const [x, y] = [statSync(a), statSync(b)];
  return x.dev === y.dev && x.ino === y.ino;
}

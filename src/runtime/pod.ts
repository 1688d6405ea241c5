// Which VM a new container joins, if any: a pod's. A CRI workload container joins its sandbox's
// (containerd's and CRI-O's annotations name it); any other container whose config.json names
// the network, IPC, UTS or PID namespace of a running vmrun container joins that container's VM,
// as Podman pods and `--network container:` put them together under runc. Namespaces are
// compared by device and inode (a /run/netns file and /proc/PID/ns/net name the same one).
import { VmrunError } from '../errors.js';
import type { Spec } from '../generated/config.js';
import type { ContainerRecord } from '../generated/container-record.js';
import { sameNamespace } from '../host/namespaces.js';
import { isAlive } from '../host/process.js';
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID, criAnnotation } from '../oci/cri.js';
import type { StateStore } from '../state/store.js';

/** config.json's names of the namespaces a member may share with its pod, and /proc's. */
const SHARED: Record<string, 'net' | 'ipc' | 'uts' | 'pid'> = { network: 'net', ipc: 'ipc', uts: 'uts', pid: 'pid' };

export interface PodHost {
  /** The container whose VM it is: the pod's first. */
  record: ContainerRecord;
  /** The namespaces (pid, ipc, uts) the member names of that container's, to share in the guest. */
  share: ('pid' | 'ipc' | 'uts')[];
}

/** The VM `spec`'s container joins, or undefined for one of its own. */
export async function podHostOf(store: StateStore, spec: Spec): Promise<PodHost | undefined> {
  const type = criAnnotation(spec.annotations, CRI_CONTAINER_TYPE);
  if (type === 'sandbox') return undefined;
  let host: ContainerRecord | undefined;
  if (type === 'container') {
    const id = criAnnotation(spec.annotations, CRI_SANDBOX_ID);
    if (!id) throw new VmrunError('ConfigInvalid', `annotations: ${CRI_CONTAINER_TYPE[0]} is "container" but ${CRI_SANDBOX_ID[0]} names no sandbox`);
    host = await store.load(id).catch(() => undefined);
    if (!host || !running(host)) throw new VmrunError('InvalidArgument', `annotations ${CRI_SANDBOX_ID[0]}: the pod's sandbox ${id} is not a running vmrun container of this root`);
  } else {
    host = await containerOfNamespaces(store, spec);
    if (!host) return undefined;
  }
  if (host.pod) host = await store.load(host.pod.host);
  const hostPid = host.sentry!.pid;
  const share = (spec.linux?.namespaces ?? []).flatMap((ns) => {
    const kind = SHARED[ns.type];
    return ns.path && kind && kind !== 'net' && sameFile(ns.path, `/proc/${hostPid}/ns/${kind}`) ? [kind] : [];
  });
  return { record: host, share };
}

/** A running container of the store whose network, IPC, UTS or PID namespace `spec` names. */
async function containerOfNamespaces(store: StateStore, spec: Spec): Promise<ContainerRecord | undefined> {
  const named = (spec.linux?.namespaces ?? []).filter((ns) => ns.path && SHARED[ns.type]);
  if (named.length === 0) return undefined;
  for (const id of await store.ids()) {
    const record = await store.load(id).catch(() => undefined);
    if (!record || !running(record)) continue;
    if (named.some((ns) => sameFile(ns.path!, `/proc/${record.sentry!.pid}/ns/${SHARED[ns.type]}`))) return record;
  }
  return undefined;
}

/** A container whose VM runs: created, running or paused, its host process alive. */
function running(record: ContainerRecord): boolean {
  return ['created', 'running', 'paused'].includes(record.phase) && isAlive(record.sentry) && isAlive(record.monitor);
}

/** Whether both name one namespace; a path that is gone (or never was) names none. */
function sameFile(a: string, b: string): boolean {
  try {
    return sameNamespace(a, b);
  } catch {
    return false;
  }
}

// A container's state as runc prints it, derived from vmrun's record and from which of its
// host processes still live.
import type { ContainerRecord } from '../generated/container-record.js';
import type { ContainerState } from '../generated/state.js';
import { isAlive } from '../host/process.js';
import type { RuntimeContext } from './context.js';

export type Status = ContainerState['status'];

/**
 * The status now: a container whose monitor or sentry (its init on the host) has died has
 * stopped, and so has a created or running one without a monitor. Before its monitor is
 * recorded, a container is being created.
 */
export function statusOf(record: ContainerRecord): Status {
  if (record.phase === 'stopped') return 'stopped';
  if (record.phase === 'creating' && !record.monitor) return 'creating';
  const alive = isAlive(record.monitor) && (record.sentry === undefined || isAlive(record.sentry));
  return alive ? record.phase : 'stopped';
}

export function stateOf(record: ContainerRecord, owner = ''): ContainerState {
  const status = statusOf(record);
  const state: ContainerState = {
    ociVersion: record.ociVersion,
    id: record.id,
    // The sentry's, as runc reports its init's (a record older than the sentry: the monitor's).
    pid: status === 'stopped' ? 0 : (record.sentry?.pid ?? record.monitor?.pid ?? 0),
    status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    owner,
  };
  if (record.annotations && Object.keys(record.annotations).length > 0) {
    state.annotations = record.annotations;
  }
  return state;
}

/** `vmrun state ID`: like runc, the owner is left empty here. */
export async function containerState(ctx: RuntimeContext, id: string): Promise<ContainerState> {
  return stateOf(await ctx.store.load(id));
}

/** `vmrun list`: every container, with its owner named as runc does there. */
export async function listContainers(ctx: RuntimeContext): Promise<ContainerState[]> {
  const states: ContainerState[] = [];
  for (const id of await ctx.store.ids()) {
    const record = await ctx.store.load(id).catch(() => undefined);
    // A container deleted between listing and reading is simply no longer there.
    if (record) states.push(stateOf(record, record.owner));
  }
  return states;
}

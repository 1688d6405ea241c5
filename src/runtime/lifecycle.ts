// start, kill and delete: the verbs that act on an existing container through its monitor, or,
// once the monitor is gone, on what it left behind.
import { rm } from 'node:fs/promises';
import { VmrunError } from '../errors.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { ControlRequest } from '../generated/control.js';
import { isAlive } from '../host/process.js';
import { controlRequest } from '../monitor/control.js';
import { layoutOf } from '../vm/layout.js';
import { destroyLeftovers, waitGone } from '../vm/libvirt.js';
import type { RuntimeContext } from './context.js';
import { hookState, runHooks } from './hooks.js';
import { removeCgroup } from '../host/cgroups.js';
import { separateInterfacesIn } from '../host/network.js';
import { statusOf } from './state.js';

/** runc's words for a container that is not running, and why it stopped if a part of it was lost. */
export function notRunning(record: ContainerRecord, words: string): VmrunError {
  return new VmrunError('InvalidState', record.stopReason ? `${words}: ${record.stopReason}` : words);
}

/** A request to the container's monitor, through its control socket. */
export function askMonitor(record: ContainerRecord, request: ControlRequest): Promise<Record<string, unknown> | undefined> {
  return controlRequest(layoutOf(record.vmDir).controlSocket, request);
}

/** The record of a container whose monitor can act on it, or runc's `container not running`. */
export async function liveRecord(ctx: RuntimeContext, id: string): Promise<ContainerRecord> {
  const record = await ctx.store.load(id);
  const status = statusOf(record);
  if (status === 'stopped' || status === 'creating') throw notRunning(record, 'container not running');
  return record;
}

export async function startContainer(ctx: RuntimeContext, id: string): Promise<void> {
  await ctx.store.locked(id, async () => {
    const record = await ctx.store.load(id);
    const status = statusOf(record);
    if (status === 'stopped') throw new VmrunError('InvalidState', 'cannot start a container that has stopped');
    if (status !== 'created') throw new VmrunError('InvalidState', `cannot start a container in the ${status} state`);
    await askMonitor(record, { op: 'start' });
  });
}

export async function killContainer(ctx: RuntimeContext, id: string, signal: number, all: boolean): Promise<void> {
  await askMonitor(await liveRecord(ctx, id), { op: 'kill', signal, all });
}

/** The container's init's terminal is now this size (`vmrun run` with its own terminal). */
export async function resizeTerminal(ctx: RuntimeContext, id: string, rows: number, cols: number): Promise<void> {
  await askMonitor(await ctx.store.load(id), { op: 'resize', rows, cols });
}

export async function deleteContainer(ctx: RuntimeContext, id: string, force: boolean): Promise<void> {
  let record: ContainerRecord;
  try {
    record = await ctx.store.load(id);
  } catch (e) {
    // runc: deleting what does not exist fails, unless forced.
    if (force && e instanceof VmrunError && e.code === 'ContainerNotFound') return;
    throw e;
  }
  // A create still booting holds the lock: forced, its monitor is killed, the warden takes the
  // VM with it, and the create fails, removes what it made and lets go.
  if (force && record.phase === 'creating' && isAlive(record.monitor)) process.kill(record.monitor!.pid, 'SIGKILL');
  await ctx.store.locked(id, async () => {
    const status = statusOf(record);
    if ((status === 'running' || status === 'paused') && !force) {
      throw new VmrunError('InvalidState', `cannot delete container ${id} that is not stopped: ${status}`);
    }
    const layout = layoutOf(record.vmDir);
    if (isAlive(record.monitor)) {
      // A monitor that cannot answer is killed below.
      const answer = await controlRequest(layout.controlSocket, { op: 'destroy' }).catch((e: Error) => void ctx.log.debug(`delete: the monitor did not take destroy: ${e.message}`));
      // Its VM serves pod members still: the monitor ends it with the last and cleans up then.
      if (answer && typeof answer.members === 'number') {
        ctx.log.debug(`delete: the VM stays for ${answer.members} pod member(s)`);
        await runHooks('poststop', record.hooks, hookState(record, 'stopped', 0)).catch((e: Error) => ctx.log.warn(e.message));
        return;
      }
      if (!(await waitGone(record.monitor!, 15_000))) process.kill(record.monitor!.pid, 'SIGKILL');
    }
    // The monitor may have died before it could clean up (kill -9): do its part. Its sentry
    // exits when the monitor goes; one that has not yet is ended with the VM's processes.
    const fresh = await ctx.store.load(id).catch(() => record);
    await destroyLeftovers([fresh.warden, fresh.qemu, ...(fresh.virtiofsd ?? []), fresh.passt, fresh.sentry].filter((p) => p !== undefined));
    if (fresh.carried) await separateInterfacesIn(fresh.carried.namespace, fresh.carried.interfaces, fresh.carried.portRange);
    await rm(layout.dir, { recursive: true, force: true });
    // A cgroup that cannot go fails the delete, which can then be tried again.
    await removeCgroup(fresh.cgroups ?? []);
    // As runc's delete: a failing poststop hook is reported and does not stop the delete.
    await runHooks('poststop', fresh.hooks, hookState(fresh, 'stopped', 0)).catch((e: Error) => ctx.log.warn(e.message));
  }).catch((e: unknown) => {
    // Gone meanwhile: the create it interrupted removed it.
    if (force && e instanceof VmrunError && e.code === 'ContainerNotFound') return;
    throw e;
  });
  await ctx.store.remove(id);
}

/** A container's processes in its guest, as the guest numbers them. */
export interface GuestProcess {
  pid: number;
  ppid: number;
  uid: number;
  cmd: string;
}

export async function listProcesses(ctx: RuntimeContext, id: string): Promise<GuestProcess[]> {
  const record = await ctx.store.load(id);
  if (statusOf(record) === 'stopped') return [];
  const result = await askMonitor(record, { op: 'ps' });
  return (result?.processes ?? []) as GuestProcess[];
}

/** Freezes (pause) or thaws (resume) the container's whole VM. */
export async function freeze(ctx: RuntimeContext, id: string, op: 'pause' | 'resume'): Promise<void> {
  await ctx.store.locked(id, async () => askMonitor(await liveRecord(ctx, id), { op }));
}

/** One event of `vmrun events`, in runc's shape: {"type":"stats","id":…,"data":{cpu, memory, pids}}. */
export async function statsEvent(ctx: RuntimeContext, id: string): Promise<object> {
  const s = (await askMonitor(await liveRecord(ctx, id), { op: 'stats' })) as {
    cpuNs: number; memoryBytes: number; memoryLimitBytes: number; pids: number; pidsLimit?: number;
  };
  return {
    type: 'stats',
    id,
    data: {
      cpu: { usage: { total: s.cpuNs } },
      memory: { usage: { usage: s.memoryBytes, limit: s.memoryLimitBytes } },
      pids: { current: s.pids, ...(s.pidsLimit !== undefined && { limit: s.pidsLimit }) },
    },
  };
}

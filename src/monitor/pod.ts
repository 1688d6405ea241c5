// A pod member's way into its pod's running VM, and the host's way of letting it go. The
// member's root and binds are mounted in its monitor's own mount namespace, then copied
// (vmrun-graft) into the namespace of the virtiofsd that serves the host's binds share, in a
// folder of its own: the guest sees them under that share without a restart, and no other
// process on the host sees them. The member then speaks the agent protocol to the host's monitor,
// which passes its requests on to the agent for its container of the guest.
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { AgentChannel } from '../agent/channel.js';
import { HELLO_DEADLINE_MS } from '../agent/deadlines.js';
import { VmrunError } from '../errors.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { GuestPlan } from '../generated/agent-protocol.js';
import { mountBinds } from '../host/bind-mounts.js';
import { command } from '../host/command.js';
import { CRI_CONTAINER_TYPE } from '../oci/cri.js';
import { BINDS_TAG, withSubmounts, type HostBind } from '../oci/guest-plan.js';
import { sharePath } from '../vm/domain-xml.js';
import { layoutOf, type VmLayout } from '../vm/layout.js';
import { shareDaemon } from '../vm/libvirt.js';
import { agentChannel, type AgentLink } from './agent-link.js';

/** The folder of the host's binds share that holds its members', one each. */
const POD_FOLDER = 'pod';
const GRAFT_TIMEOUT_MS = 10_000;

/** Whether the container is a CRI pod's sandbox (containerd's or CRI-O's annotation says so). */
export function isCriSandbox(record: ContainerRecord): boolean {
  return CRI_CONTAINER_TYPE.some((key) => record.annotations?.[key] === 'sandbox');
}

/** The virtiofsd that serves the binds share of the VM of `host`, by its host pid. */
function podShareDaemon(host: ContainerRecord): number {
  const daemon = shareDaemon(host.virtiofsd ?? [], sharePath(layoutOf(host.vmDir), BINDS_TAG));
  if (!daemon) throw new VmrunError('InvalidState', `the pod's VM (container ${host.id}) has no share for its members`);
  return daemon.pid;
}

/**
 * Puts member `name`'s root and binds into the pod's share; resolves with the plan that finds
 * them there (its root a folder of the share, its binds below it).
 */
export async function graftMember(graft: string, layout: VmLayout, host: ContainerRecord, name: string, rootfs: string, plan: GuestPlan, binds: HostBind[], callerMountNamespace: string): Promise<GuestPlan> {
  const dir = join(layout.dir, POD_FOLDER);
  await mkdir(join(dir, 'rootfs'), { recursive: true, mode: 0o700 });
  await command('mount', ['--rbind', rootfs, join(dir, 'rootfs')]);
  const submounts = await mountBinds(join(dir, 'binds'), binds, callerMountNamespace);
  const daemon = podShareDaemon(host);
  const folder = `${POD_FOLDER}/${name}`;
  await mkdir(join(layoutOf(host.vmDir).shares, BINDS_TAG, folder), { recursive: true, mode: 0o700 });
  await command(graft, [dir, String(daemon), `/${folder}`], { timeoutMs: GRAFT_TIMEOUT_MS }).catch(async (e: Error) => {
    await rm(join(layoutOf(host.vmDir).shares, BINDS_TAG, folder), { recursive: true, force: true });
    throw new VmrunError('InvalidState', `cannot put the container's root into its pod's VM: ${e.message}`);
  });
  const mounts = withSubmounts(plan.mounts, submounts).map((m) => (m.share === BINDS_TAG ? { ...m, source: `${folder}/binds/${m.source}` } : m));
  return { ...plan, rootfs: { ...plan.rootfs, tag: BINDS_TAG, path: `${folder}/rootfs` }, mounts };
}

/** The host's side, once member `name` has left the guest: its folder of the share goes. */
export async function releaseMember(graft: string, host: ContainerRecord, name: string): Promise<void> {
  const folder = `${POD_FOLDER}/${name}`;
  await command(graft, ['--remove', String(podShareDaemon(host)), `/${folder}`], { timeoutMs: GRAFT_TIMEOUT_MS });
  await rm(join(layoutOf(host.vmDir).shares, BINDS_TAG, folder), { recursive: true, force: true });
}

/** The member's channel to its pod's host, which answers for the agent. */
export async function connectPod(host: ContainerRecord, name: string, link: AgentLink): Promise<AgentChannel> {
  const socket = connect(layoutOf(host.vmDir).podSocket);
  // A monitor too busy to accept is one that does not answer.
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${HELLO_DEADLINE_MS / 1000} s`)), HELLO_DEADLINE_MS);
  await once(socket, 'connect').catch((e: Error) => {
    throw new VmrunError('InvalidState', `the pod's VM (container ${host.id}) cannot be reached: ${e.message}`);
  }).finally(() => clearTimeout(timer));
  const channel = agentChannel(socket, link, name);
  await channel.hello('vmrun-monitor', HELLO_DEADLINE_MS);
  return channel;
}

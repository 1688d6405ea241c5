// The monitor's end of the agent channel: what it does with what the guest sends. The guest is
// untrusted (src/agent/channel.ts bounds every frame and message of it); its log lines are
// rate-limited, and a guest that breaks the protocol has its container stopped, said in one line.
// Its one request, dns, goes to the relay of Docker's embedded DNS when the container has one.
import { AgentChannel } from '../agent/channel.js';
import type { Duplex } from 'node:stream';
import type { Event, ExitEvent, Request } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';
import type { DnsRelay } from './dns-relay.js';
import { GuestLog } from './guest-log.js';

export interface AgentLink {
  log: Logger;
  /** Ends the container once with `status`, logging `why` (the one line a broken protocol gets). */
  stop(status: number, why: string): void;
  /** The channel closed before the guest said how the container ended: the VM is lost (`why`, said in one line). */
  lose(why: string): void;
  /** The exit of a process other than the container's init: an exec's, or a pod member's process's. */
  execExited(event: ExitEvent): void;
  /** The relay of the guest's DNS queries, once the container has one (src/monitor/dns-relay.ts). */
  dns(): DnsRelay | undefined;
}

/**
 * The channel to the guest's agent over `port`, the agent socket, handled as `link` says; or,
 * for pod member `container`, to its pod's host, which passes it on (src/monitor/pod-members.ts).
 */
export function agentChannel(port: Duplex, link: AgentLink, container?: string): AgentChannel {
  const channel = container === undefined
    ? new AgentChannel(port, { peer: "the guest's agent" })
    : new AgentChannel(port, { peer: "the pod's host", container, trustedPeer: true });
  const guestLog = new GuestLog(link.log);
  // Every error from an untrusted peer closes the channel: it is said once, at 'close'.
  channel.on('error', () => undefined);
  channel.on('message', (m: Event) => {
    if (m.event === 'log') guestLog.write(m.level, m.msg);
    else if (m.process === 'init' && m.container === container) link.stop(m.status, 'the container exited');
    else link.execExited(m); // an exec's, or a pod member's
  });
  channel.on('request', (r: Request) => {
    const relay = r.op === 'dns' ? link.dns() : undefined;
    const answer = relay && r.op === 'dns'
      ? relay.answer(r.transport, r.message)
      : Promise.reject(Object.assign(new Error(`the host serves no ${r.op} request for this container`), { code: 'ENOTSUP' }));
    answer.then(
      (result) => channel.respond(r.id, result),
      (e: Error) => channel.respond(r.id, e),
    ).catch(() => undefined); // the channel closed meanwhile
  });
  channel.on('close', (reason: Error) => {
    guestLog.flush();
    const broken = channel.protocolBreak;
    if (broken) link.lose(`the guest broke the agent protocol: ${broken.message}`);
    // Assets that an older or newer vmrun's setup made: the hello is where that shows.
    else if (reason.message.startsWith('no common protocol version')) link.lose(`${reason.message}: its agent is of another vmrun; run \`vmrun setup\``);
    else link.lose(container === undefined ? 'the VM ended without reporting the exit status' : "the pod's VM ended without reporting the exit status");
  });
  return channel;
}

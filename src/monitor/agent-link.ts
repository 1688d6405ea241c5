// The monitor's end of the agent channel: what it does with what the guest sends. The guest is
// untrusted (src/agent/channel.ts bounds every frame and message of it); its log lines are
// rate-limited, and a guest that breaks the protocol has its container stopped, said in one line.
import { AgentChannel } from '../agent/channel.js';
import type { Duplex } from 'node:stream';
import type { Event, ExitEvent } from '../generated/agent-protocol.js';
import type { Logger } from '../log.js';
import { GuestLog } from './guest-log.js';

export interface AgentLink {
  log: Logger;
  /** Ends the container once with `status`, logging `why` (the one line a broken protocol gets). */
  stop(status: number, why: string): void;
  /** The channel closed before the guest said how the container ended: the VM is lost (`why`, said in one line). */
  lose(why: string): void;
  /** The exit of a process other than the container's init. */
  execExited(event: ExitEvent): void;
}

/** The channel to the guest's agent over `port`, the agent socket, handled as `link` says. */
export function agentChannel(port: Duplex, link: AgentLink): AgentChannel {
  const channel = new AgentChannel(port, { peer: "the guest's agent" });
  const guestLog = new GuestLog(link.log);
  // Every error from an untrusted peer closes the channel: it is said once, at 'close'.
  channel.on('error', () => undefined);
  channel.on('message', (m: Event) => {
    if (m.event === 'log') guestLog.write(m.level, m.msg);
    else if (m.process === 'init') link.stop(m.status, 'the container exited');
    else link.execExited(m);
  });
  channel.on('close', () => {
    guestLog.flush();
    const broken = channel.protocolBreak;
    link.lose(broken ? `the guest broke the agent protocol: ${broken.message}` : 'the VM ended without reporting the exit status');
  });
  return channel;
}

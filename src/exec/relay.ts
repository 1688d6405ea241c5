// An exec'd process's stand-in on the host: a process of its own that joins its fds 0-2 to the
// guest process's stdio through the monitor's exec socket (src/monitor/exec-sessions.ts),
// passes on every signal it can catch, follows its terminal's size, and ends with the guest
// process's status. If it is killed, the monitor kills the guest process.
import { once } from 'node:events';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { ReadStream } from 'node:tty';
import { AgentChannel } from '../agent/channel.js';
import { HELLO_DEADLINE_MS, RELAY_MARGIN_MS, REQUEST_DEADLINES_MS } from '../agent/deadlines.js';
import { VmrunError } from '../errors.js';
import type { Event, ExitEvent, ProcessPlan } from '../generated/agent-protocol.js';
import { FORWARDED_SIGNALS } from '../host/signals.js';
import { joinStdio, SizeFollower, terminalSize } from '../host/stdio.js';

export interface RelayArgs {
  /** The container's monitor's exec socket. */
  socket: string;
  spec: ProcessPlan;
  /** Whether fd 0 is the caller's own terminal, to be put in raw mode while the process runs. */
  rawTerminal?: boolean;
}

/** The process's name as the relay knows it; the monitor gives it its real one. */
const PROCESS = 'exec';

/** Runs the process; `started` is called once it runs in the guest. Resolves with its status. */
export async function relay(args: RelayArgs, started: (guestPid: number) => void): Promise<number> {
  const socket = connect(args.socket);
  await once(socket, 'connect').catch(() => {
    throw new VmrunError('InvalidState', 'container not running');
  });
  const channel = new AgentChannel(socket, { peer: "the container's monitor" });
  channel.on('error', () => undefined); // seen as 'close'
  await channel.hello('vmrun-exec', HELLO_DEADLINE_MS);
  const { stdio, input, output, terminalOut } = joinStdio(channel, !!args.spec.terminal);
  if (args.rawTerminal && input instanceof ReadStream) input.setRawMode(true);
  const exit = new Promise<ExitEvent | undefined>((resolve) => {
    channel.on('message', (m: Event) => m.event === 'exit' && resolve(m));
    channel.once('close', () => resolve(undefined));
  });

  const forward = (signal: NodeJS.Signals) => void channel.request({ op: 'signal', process: PROCESS, signal: constants.signals[signal] }).catch(() => undefined);
  // The process starts with its terminal's size as it is now, and follows it once it exists.
  const spec = { ...args.spec };
  const size = terminalOut && terminalSize(terminalOut);
  if (size) spec.consoleSize = size;
  let following: SizeFollower | undefined;
  try {
    // The monitor answers within the agent's deadline, with the agent's error if it had none.
    const execd = channel.request({ op: 'exec', process: PROCESS, spec, stdio }, REQUEST_DEADLINES_MS.exec + RELAY_MARGIN_MS) as Promise<{ pid: number }>;
    if (terminalOut) following = new SizeFollower(terminalOut, ({ rows, cols }) => channel.request({ op: 'resize', process: PROCESS, rows, cols }).then(() => undefined), { known: spec.consoleSize, after: execd });
    const result = await execd;
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    started(result.pid);
    const ended = await exit;
    if (ended) await output;
    return ended ? ended.status : 255; // without an exit, the monitor went away: the container stopped
  } finally {
    // Nothing of the relay may keep a foreground `vmrun exec` alive after its process.
    for (const signal of FORWARDED_SIGNALS) process.removeAllListeners(signal);
    following?.stop();
    if (args.rawTerminal && input instanceof ReadStream) input.setRawMode(false);
    input.destroy();
    channel.close();
  }
}

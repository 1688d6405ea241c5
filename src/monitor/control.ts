// The monitor's control socket: one JSON line per request and per answer, checked against
// schemas/control.schema.json on both ends. Verbs reach a live container only through it.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { RELAY_MARGIN_MS, REQUEST_DEADLINES_MS } from '../agent/deadlines.js';
import { COMMAND_TIMEOUT_MS } from '../vm/virsh.js';
import { VmrunError, type ErrorCode } from '../errors.js';
import type { ControlRequest, ControlResponse } from '../generated/control.js';
import { checkControlMessage } from '../schemas.js';

export type ControlHandler = (request: ControlRequest) => Promise<Record<string, unknown> | undefined>;

/** Serves requests one connection at a time, in the order they arrive on it. */
export async function serveControl(path: string, handle: ControlHandler): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => void answer(socket, handle));
  server.listen(path);
  await once(server, 'listening');
  return server;
}

async function answer(socket: Socket, handle: ControlHandler): Promise<void> {
  socket.on('error', () => undefined); // a verb that gave up waiting is not the monitor's problem
  for await (const line of createInterface({ input: socket })) {
    const checked = checkControlMessage(safeParse(line));
    let response: ControlResponse;
    if (!checked.ok || !('op' in checked.value)) {
      response = { ok: false, error: { code: 'InvalidArgument', message: `bad control request: ${line.slice(0, 200)}` } };
    } else {
      try {
        const result = await handle(checked.value);
        response = result ? { ok: true, result } : { ok: true };
      } catch (e) {
        const code = e instanceof VmrunError ? e.code : 'InvalidState';
        response = { ok: false, error: { code, message: (e as Error).message } };
      }
    }
    socket.write(JSON.stringify(response) + '\n');
  }
}

/**
 * How long a monitor may take to answer each verb: the agent's deadline for what the verb asks
 * of it (src/agent/deadlines.ts) and a margin, so that the agent's error comes first; start also
 * runs the startContainer and poststart hooks and plugs in the network.
 */
export const CONTROL_DEADLINES_MS: Record<ControlRequest['op'], number> = {
  start: 120_000,
  kill: REQUEST_DEADLINES_MS.signal + RELAY_MARGIN_MS,
  resize: REQUEST_DEADLINES_MS.resize + RELAY_MARGIN_MS,
  ps: REQUEST_DEADLINES_MS.ps + RELAY_MARGIN_MS,
  stats: REQUEST_DEADLINES_MS.stats + RELAY_MARGIN_MS,
  // Growing a restored guest's memory first: its DIMM (a virsh command), then the wait.
  update: COMMAND_TIMEOUT_MS + REQUEST_DEADLINES_MS.memory + REQUEST_DEADLINES_MS.update + RELAY_MARGIN_MS,
  // libvirt freezes or thaws the VM's vCPUs.
  pause: 30_000,
  resume: 30_000,
  // Answered at once; the monitor then ends the container.
  destroy: 10_000,
  // The monitor's virsh gives each command 60 s.
  virsh: 65_000,
};

/** Sends one request to a monitor and waits for its answer, at most `timeoutMs`. */
export async function controlRequest(
  path: string,
  request: ControlRequest,
  timeoutMs: number = CONTROL_DEADLINES_MS[request.op],
): Promise<Record<string, unknown> | undefined> {
  const socket = connect(path);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new VmrunError('InvalidState', `the container's monitor did not answer ${request.op} within ${timeoutMs / 1000} s (its control socket is ${path})`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([exchange(socket, request), deadline]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

async function exchange(socket: Socket, request: ControlRequest): Promise<Record<string, unknown> | undefined> {
  await once(socket, 'connect');
  socket.write(JSON.stringify(request) + '\n');
  for await (const line of createInterface({ input: socket })) {
    const checked = checkControlMessage(safeParse(line));
    if (!checked.ok || 'op' in checked.value) break;
    const response = checked.value;
    if (response.ok) return response.result as Record<string, unknown> | undefined;
    throw new VmrunError((response.error?.code ?? 'InvalidState') as ErrorCode, response.error?.message ?? 'failed');
  }
  throw new VmrunError('InvalidState', `the container's monitor gave no answer to ${request.op}`);
}

function safeParse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

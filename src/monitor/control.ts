// The monitor's control socket: one JSON line per request and per answer, checked against
// schemas/control.schema.json on both ends. Verbs reach a live container only through it.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
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

/** Sends one request to a monitor and waits for its answer. */
export async function controlRequest(path: string, request: ControlRequest): Promise<Record<string, unknown> | undefined> {
  const socket = connect(path);
  try {
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
  } finally {
    socket.destroy();
  }
}

function safeParse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

// The monitor's control socket: a verb's request always ends, answered or at its deadline.
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CONTROL_DEADLINES_MS, controlRequest, serveControl } from '../src/monitor/control.js';
import { VmrunError } from '../src/errors.js';
import { tempDir } from './helpers/cli.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
  vi.useRealTimers();
});

/** A control socket whose "monitor" accepts connections, reads the request and never answers. */
async function hungMonitor(): Promise<{ path: string; requests: string[] }> {
  const path = join(await tempDir(), 'control.sock');
  const requests: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => requests.push(d.toString()));
  });
  server.listen(path);
  await once(server, 'listening');
  open.push({ close: () => (sockets.forEach((s) => s.destroy()), server.close()) });
  return { path, requests };
}

describe('controlRequest', () => {
  test('a monitor that takes the request and never answers fails it at its deadline, saying which part', async () => {
    const { path, requests } = await hungMonitor();
    const failure = controlRequest(path, { op: 'kill', signal: 15 }, 300);
    await expect(failure).rejects.toThrow(VmrunError);
    await expect(failure).rejects.toThrow(`the container's monitor did not answer kill within 0.3 s (its control socket is ${path})`);
    expect(requests).toEqual(['{"op":"kill","signal":15}\n']);
  });

  test("each verb's deadline is its own by default", async () => {
    const { path, requests } = await hungMonitor();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let outcome: string | undefined;
    void controlRequest(path, { op: 'destroy' }).catch((e: Error) => (outcome = e.message));
    // (vi.waitFor would advance the fake clock.)
    while (requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(CONTROL_DEADLINES_MS.destroy - 1);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toMatch(/did not answer destroy within 10 s/);
  });

  test('an answering monitor is unaffected, and its errors keep their code', async () => {
    const path = join(await tempDir(), 'control.sock');
    const server = await serveControl(path, async (r) => {
      if (r.op === 'ps') return { pids: [1] };
      throw new VmrunError('InvalidState', 'container not running');
    });
    open.push(server);
    await expect(controlRequest(path, { op: 'ps' })).resolves.toEqual({ pids: [1] });
    await expect(controlRequest(path, { op: 'kill', signal: 9 })).rejects.toMatchObject({ code: 'InvalidState', message: 'container not running' });
  });

  test('a socket nobody listens on fails at once', async () => {
    const path = join(await tempDir(), 'gone.sock');
    await expect(controlRequest(path, { op: 'start' })).rejects.toThrow(/ENOENT/);
  });
});

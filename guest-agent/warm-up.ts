// Runs the agent protocol once between two in-memory channels while the agent's V8 snapshot is
// built: the snapshot then carries the compiled code of the handshake, the validators, framing
// and stdio streams, which every boot would otherwise compile again under TCG (about 0.1 s).
import { once } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { AgentChannel } from '../src/agent/channel.js';
import type { Request } from '../src/generated/agent-protocol.js';

export async function warmUp(): Promise<void> {
  const [toAgent, toHost] = [new PassThrough(), new PassThrough()];
  const agent = new AgentChannel(Duplex.from({ readable: toAgent, writable: toHost }), { trustedPeer: true });
  const host = new AgentChannel(Duplex.from({ readable: toHost, writable: toAgent }));
  agent.on('request', (r: Request) => agent.respond(r.id, r.op === 'ps' ? { pids: [1] } : new Error('warm-up')));
  await Promise.all([agent.hello('warm-up'), host.hello('warm-up')]);

  const output = host.readableStream(2);
  agent.writableStream(2).end('line\n');
  await once(output.resume(), 'end');
  await host.request({ op: 'ps' });
  await host.request({
    op: 'create',
    plan: {
      rootfs: { tag: 'rootfs', readonly: false },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] }],
      process: { args: ['sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } },
    },
    stdio: { stdin: 1, stdout: 2, stderr: 3 },
  }).catch(() => undefined);
  agent.send({ type: 'event', event: 'exit', process: 'init', status: 0 });
  agent.close();
  host.close();
}

// DNS messages for the tests: an A query, and the addresses of an answer.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const DNS_RESPONDER = fileURLToPath(new URL('./dns-responder.mjs', import.meta.url));

/** A recursive query for `name`'s A records, with id `id`. */
export function aQuery(name: string, id = 0x1234): Buffer {
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const labels = name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The rcode and the A records' addresses of an answer to one question (names compressed as the responder writes them). */
export function answerOf(msg: Buffer): { id: number; rcode: number; addresses: string[] } {
  let at = 12;
  while (msg[at] !== 0) at += 1 + msg[at]!;
  at += 5;
  const addresses: string[] = [];
  for (let i = 0; i < msg.readUInt16BE(6); i++) {
    const length = msg.readUInt16BE(at + 10);
    if (msg.readUInt16BE(at + 2) === 1) addresses.push([...msg.subarray(at + 12, at + 12 + length)].join('.'));
    at += 12 + length;
  }
  return { id: msg.readUInt16BE(0), rcode: msg[3]! & 0x0f, addresses };
}

/** The test responder, started with `argv` (optionally under a command such as `ip netns exec NS`); resolves with its port once it listens. */
export async function startResponder(argv: string[], under: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const [file, ...args] = [...under, process.execPath, DNS_RESPONDER, ...argv];
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => { throw new Error('the DNS responder ended'); })])) as [Buffer];
  return { child, port: Number(/listening (\d+)/.exec(String(line))![1]) };
}

// Waiting for a unix socket that another process makes: to appear, or to take a connection.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmrunError } from '../errors.js';

/** Resolves once `what` listens on `socket`; rejects if it does not within 5 s, or `ended` says it has gone. */
export async function socketAppears(what: string, socket: string, ended: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !existsSync(socket); i++) {
    if (ended()) break;
    await sleep(20);
  }
  if (!existsSync(socket)) throw new VmrunError('InvalidState', `${what} did not start listening on ${socket}`);
}

/** A connection to `path`, tried every `everyMs` until `deadline`; then `late()` is thrown. */
export async function connectWhenListening(path: string, deadline: number, late: () => Error, everyMs = 10): Promise<Socket> {
  for (;;) {
    const s = connect(path);
    try {
      await once(s, 'connect');
      return s;
    } catch {
      s.destroy();
      if (Date.now() > deadline) throw late();
      await sleep(everyMs);
    }
  }
}

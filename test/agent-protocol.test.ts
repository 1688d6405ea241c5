import { describe, expect, test } from 'vitest';
import { checkAgentMessage } from '../src/schemas.js';

const plan = {
  hostname: 'h',
  rootfs: { tag: 'rootfs', readonly: true },
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  process: { args: ['sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } },
};

describe('agent protocol schema', () => {
  test.each([
    ['hello', { type: 'hello', versions: [1], window: 262144, software: 'vmrun-agent 0.1.0' }],
    ['create', { type: 'request', id: 1, op: 'create', plan, stdio: { stdin: 1, stdout: 2, stderr: 3 } }],
    ['start', { type: 'request', id: 2, op: 'start' }],
    ['signal --all', { type: 'request', id: 3, op: 'signal', process: 'init', signal: 15, all: true }],
    ['exec', { type: 'request', id: 4, op: 'exec', process: 'e1', spec: plan.process, stdio: { stdout: 4, terminal: true } }],
    ['cpus', { type: 'request', id: 5, op: 'cpus', count: 2 }],
    ['ok response', { type: 'response', id: 3, ok: true, result: { pids: [1, 7] } }],
    ['error response', { type: 'response', id: 3, ok: false, error: { code: 'NoSuchProcess', message: 'no such process' } }],
    ['exit event', { type: 'event', event: 'exit', process: 'init', status: 137, signal: 9 }],
  ])('accepts %s', (_name, message) => {
    expect(checkAgentMessage(message)).toMatchObject({ ok: true });
  });

  test.each([
    ['a hello without versions', { type: 'hello', versions: [], window: 262144 }],
    ['a tiny window', { type: 'hello', versions: [1], window: 10 }],
    ['an unknown op', { type: 'request', id: 1, op: 'reboot' }],
    ['a request without id', { type: 'request', op: 'start' }],
    ['stdio on the control stream', { type: 'request', id: 1, op: 'create', plan, stdio: { stdout: 0 } }],
    ['a signal out of range', { type: 'request', id: 1, op: 'signal', process: 'init', signal: 99 }],
    ['an exit status out of range', { type: 'event', event: 'exit', process: 'init', status: 300 }],
    ['a process name with a slash', { type: 'event', event: 'exit', process: 'a/b', status: 0 }],
    ['an unknown message type', { type: 'gossip' }],
    ['cpus without a count', { type: 'request', id: 1, op: 'cpus' }],
    ['cpus of none', { type: 'request', id: 1, op: 'cpus', count: 0 }],
  ])('rejects %s', (_name, message) => {
    expect(checkAgentMessage(message)).toMatchObject({ ok: false });
  });
});

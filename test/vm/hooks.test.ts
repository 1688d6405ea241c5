// config.json's hooks: when each kind runs, what it reads on stdin, and what its failure does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Hook, Hooks } from '../../src/generated/config.js';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();

/**
 * A hook that appends "KIND STATE-JSON" to `log`, then runs `then` (a shell snippet). Its path
 * is busybox, which runs the applet its argv[0] names: it runs only if argv[0] is args[0].
 */
function logging(log: string, kind: string, then = 'true'): Hook {
  return { path: '/bin/busybox', args: ['sh', '-c', `echo "$0 $(cat) FOO=$FOO HOME=$HOME" >> ${log}; ${then}`, kind], env: ['FOO=bar'] };
}

async function withHooks(hooks: (log: string) => Hooks, ...args: string[]): Promise<{ bundle: string; log: string }> {
  const bundle = await vm.bundle(...args);
  const log = join(bundle, 'hooks.log');
  await editConfig(bundle, (spec) => {
    spec.hooks = hooks(log);
    spec.annotations = { 'org.example/owner': 'hooks-test' };
  });
  return { bundle, log };
}

/** The log's lines as [kind, state, rest]. */
async function entries(log: string): Promise<[string, Record<string, unknown>, string][]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [kind, ...rest] = line.split(' ');
    const json = rest.join(' ');
    const end = json.lastIndexOf('}') + 1;
    return [kind!, JSON.parse(json.slice(0, end)) as Record<string, unknown>, json.slice(end).trim()];
  });
}

describe('hooks', () => {
  test('each kind runs once, in order, with the state on stdin; a failing poststart only warns', async () => {
    const { bundle, log } = await withHooks((log) => ({
      prestart: [logging(log, 'prestart')],
      createRuntime: [logging(log, 'createRuntime')],
      createContainer: [logging(log, 'createContainer')],
      startContainer: [logging(log, 'startContainer')],
      poststart: [logging(log, 'poststart', 'echo poststart broke >&2; exit 3')],
      poststop: [logging(log, 'poststop')],
    }), 'sh', '-c', 'echo running');

    expect((await vm.vmrun(['create', '--bundle', bundle, 'h1'])).exitCode).toBe(0);
    const { pid, ...rest } = await vm.state('h1');
    expect(rest).toMatchObject({ annotations: { 'org.example/owner': 'hooks-test' } }); // state shows them
    expect((await entries(log)).map(([kind, state]) => [kind, state.status, state.pid])).toEqual([
      ['prestart', 'creating', pid], ['createRuntime', 'creating', pid], ['createContainer', 'creating', pid],
    ]);

    const start = await vm.vmrun(['start', 'h1']);
    expect(start.exitCode).toBe(0);
    await until(async () => (await vm.state('h1')).status === 'stopped');
    expect((await vm.vmrun(['delete', 'h1'])).exitCode).toBe(0);

    const all = await entries(log);
    expect(all.map(([kind, state]) => `${kind}:${state.status}`)).toEqual([
      'prestart:creating', 'createRuntime:creating', 'createContainer:creating',
      'startContainer:created', 'poststart:running', 'poststop:stopped',
    ]);
    const [, state, env] = all[0]!;
    expect(state).toEqual({ ociVersion: expect.any(String), id: 'h1', status: 'creating', pid, bundle, annotations: { 'org.example/owner': 'hooks-test' } });
    // The hook's env is exactly its list: nothing of vmrun's own (HOME) comes with it.
    expect(env).toBe('FOO=bar HOME=');
  });

  test('a failing prestart hook fails create, runs poststop and leaves nothing', async () => {
    const { bundle, log } = await withHooks((log) => ({
      prestart: [logging(log, 'prestart', 'echo no network here >&2; exit 1')],
      createRuntime: [logging(log, 'createRuntime')],
      poststop: [logging(log, 'poststop')],
    }), 'true');
    const r = await vm.vmrun(['create', '--bundle', bundle, 'h2']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/prestart hook 0 \(\/bin\/busybox\) failed: exit status 1: no network here/);
    expect((await entries(log)).map(([kind]) => kind)).toEqual(['prestart', 'poststop']);
    expect((await vm.vmrun(['state', 'h2'])).stderr).toMatch(/does not exist/);
    expect(vm.processesOf('h2')).toEqual([]);
  });

  test('a failing startContainer hook fails start and stops the container', async () => {
    const { bundle, log } = await withHooks((log) => ({
      startContainer: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }],
      poststart: [logging(log, 'poststart')],
    }), 'sleep', '100');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'h3'])).exitCode).toBe(0);
    const r = await vm.vmrun(['start', 'h3']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/startContainer hook 0 \(\/bin\/sleep\) failed: timed out after 1 s/);
    await until(async () => (await vm.state('h3')).status === 'stopped');
    expect(await entries(log)).toEqual([]); // poststart never ran
    expect((await vm.vmrun(['delete', 'h3'])).exitCode).toBe(0);
    expect(vm.processesOf('h3')).toEqual([]);
  });
});

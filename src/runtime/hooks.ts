// config.json's hooks, run on the host as runc runs them: each with its args, its env (vmrun's
// own environment when it lists none, as Go's exec gives runc's), the container's state as JSON
// on stdin, and killed at its timeout. Which hooks run where is in docs/compat.md.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { VmrunError } from '../errors.js';
import type { ContainerRecord } from '../generated/container-record.js';
import type { Hook, Hooks } from '../generated/config.js';
import type { ContainerState } from '../generated/state.js';
import { signalName } from '../host/signals.js';

export type HookKind = keyof Hooks;

/**
 * Namespace files of vmrun's own (network and mount), for hooks run by the monitor, which lives
 * in the container's, and the helper that enters them (src/host/vmrun-nsexec.c).
 */
export interface RuntimeNamespaces {
  net: string;
  mnt: string;
  nsexec: string;
}

/** The state a hook reads: the runtime-spec's fields only, as runc passes them. */
export type HookState = Pick<ContainerState, 'ociVersion' | 'id' | 'status' | 'pid' | 'bundle' | 'annotations'>;

export function hookState(record: ContainerRecord, status: ContainerState['status'], pid: number): HookState {
  const state: HookState = { ociVersion: record.ociVersion, id: record.id, status, pid, bundle: record.bundle };
  if (record.annotations) state.annotations = record.annotations;
  return state;
}

/** Runs the hooks of one kind in order; the first that fails ends the run with a HookFailed error. */
export async function runHooks(kind: HookKind, hooks: Hooks | undefined, state: HookState, enter?: RuntimeNamespaces): Promise<void> {
  for (const [i, hook] of (hooks?.[kind] ?? []).entries()) {
    const failure = await runHook(hook, state, enter);
    if (failure) throw new VmrunError('HookFailed', `${kind} hook ${i} (${hook.path}) failed: ${failure}`);
  }
}

/** How long a hook's output may take to reach its end after the hook has exited. */
const OUTPUT_GRACE_MS = 500;

/** Resolves with what went wrong, or undefined when the hook exited 0. */
function runHook(hook: Hook, state: HookState, enter?: RuntimeNamespaces): Promise<string | undefined> {
  return new Promise((resolve) => {
    const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path];
    const env = hook.env ? Object.fromEntries(hook.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) : process.env;
    // Through vmrun-nsexec, the hook's end comes on fd 3: nsexec stays to end what the hook left running.
    const child = enter
      ? spawn(enter.nsexec, [enter.net, enter.mnt, hook.path, argv0!, ...args], { env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
      : spawn(hook.path, args, { argv0, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.stdin!.on('error', () => undefined); // a hook need not read its stdin
    child.stdin!.end(JSON.stringify(state));
    let timedOut = false;
    const timer = hook.timeout === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      child.kill(enter ? 'SIGTERM' : 'SIGKILL'); // nsexec kills the hook and what it started
    }, hook.timeout * 1000);
    const said = () => (output.trim() ? `: ${output.trim()}` : '');
    const outputDone = Promise.all([child.stdout!, child.stderr!].map((s) => new Promise((r) => s.once('close', r))));
    const ended = async (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      await Promise.race([outputDone, new Promise((r) => setTimeout(r, OUTPUT_GRACE_MS))]);
      if (timedOut) resolve(`timed out after ${hook.timeout} s${said()}`);
      else if (signal) resolve(`killed by ${signal}${said()}`);
      else if (code !== 0) resolve(`exit status ${code}${said()}`);
      else resolve(undefined);
    };
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
    if (!enter) {
      child.on('close', (code, signal) => void ended(code, signal));
      return;
    }
    // Its end, once nsexec has said it and let go of fd 3; without a word, nsexec's own.
    let said3 = '';
    const status = (child.stdio[3] as Readable).setEncoding('utf8');
    status.on('data', (text: string) => (said3 = (said3 + text).slice(0, 64)));
    status.on('error', () => undefined);
    status.on('end', async () => {
      const [kind, n] = said3.trim().split(' ');
      if (kind === 'code') return ended(Number(n), null);
      if (kind === 'signal') return ended(null, signalName(Number(n)));
      const [code, signal] = child.exitCode !== null || child.signalCode !== null ? [child.exitCode, child.signalCode] : await once(child, 'exit');
      return ended(code ?? 127, signal);
    });
  });
}

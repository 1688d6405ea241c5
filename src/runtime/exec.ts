// `vmrun exec`: runs another process in a running container's guest. Its host stand-in, the
// relay (src/exec/relay.ts), is this very process, or with --detach a child of its own whose
// pid the caller gets; either exits with the guest process's status.
import { join } from 'node:path';
import { VmrunError } from '../errors.js';
import type { ProcessPlan } from '../generated/agent-protocol.js';
import type { Spec } from '../generated/config.js';
import { writeFileAtomically } from '../host/atomic-file.js';
import { startReadyChild } from '../host/ready-child.js';
import { processPlan } from '../oci/guest-plan.js';
import { processSizeProblems } from '../oci/process-size.js';
import { DIST_DIR } from '../paths.js';
import { relay, type RelayArgs } from '../exec/relay.js';
import { layoutOf } from '../vm/layout.js';
import type { RuntimeContext } from './context.js';
import { checkTerminal, consoleHelper } from './create.js';
import { statusOf } from './state.js';
import { notRunning } from './lifecycle.js';

const RELAY_MAIN = join(DIST_DIR, 'src', 'exec', 'main.js');

export interface ExecOptions {
  process: Spec['process'];
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  cacheDir: string;
}

/** Runs the process; resolves with its status, or, detached, once it runs (with undefined). */
export async function execProcess(ctx: RuntimeContext, id: string, o: ExecOptions): Promise<number | undefined> {
  const record = await ctx.store.load(id);
  const status = statusOf(record);
  if (status === 'stopped' || status === 'creating') throw notRunning(record, `cannot exec in a ${status} container`);
  if (status === 'paused') throw new VmrunError('InvalidState', 'cannot exec in a paused container');
  const tooBig = processSizeProblems(o.process, '--process');
  if (tooBig.length > 0) throw new VmrunError('InvalidArgument', tooBig.join('; '));
  const spec: ProcessPlan = processPlan(o.process);
  if (o.consoleSocket && !o.detach) throw new VmrunError('InvalidArgument', '--console-socket: cannot use console socket if vmrun will not detach');
  await checkTerminal(!!spec.terminal, { consoleSocket: o.consoleSocket, foreground: !o.detach });
  const args: RelayArgs = { socket: layoutOf(record.vmDir).execSocket, spec };
  if (!o.detach) {
    args.rawTerminal = !!spec.terminal && !o.consoleSocket && process.stdin.isTTY;
    return relay(args, () => {
      if (o.pidFile) void writeFileAtomically(o.pidFile, String(process.pid));
    });
  }
  const terminal = await consoleHelper(o.cacheDir, o.consoleSocket, o.process.consoleSize);
  const { child } = await startReadyChild([...terminal, process.execPath, RELAY_MAIN, JSON.stringify(args)], [], 'the exec relay');
  if (o.pidFile) await writeFileAtomically(o.pidFile, String(child.pid));
  child.unref();
  return undefined;
}

// `vmrun debug`: a look inside a container's VM with libvirt's own tools. The embedded root
// admits one process at a time, and the monitor holds it, so virsh commands go through the
// monitor's own virsh; the console is the file QEMU writes.
import { readFile } from 'node:fs/promises';
import { VmrunError } from '../errors.js';
import { layoutOf } from '../vm/layout.js';
import type { RuntimeContext } from './context.js';
import { askMonitor, liveRecord } from './lifecycle.js';

/** The output of `virsh ARGS…` against the container's root (its domain is `vmrun`). */
export async function debugVirsh(ctx: RuntimeContext, id: string, args: string[]): Promise<string> {
  if (args.length === 0) throw new VmrunError('InvalidArgument', 'virsh: name a command, such as dominfo vmrun');
  const result = await askMonitor(await liveRecord(ctx, id), { op: 'virsh', args: args as [string, ...string[]] });
  return String(result?.output ?? '');
}

/** What the guest has written to its serial console so far; kept until delete. */
export async function debugConsole(ctx: RuntimeContext, id: string): Promise<Buffer> {
  const record = await ctx.store.load(id);
  return readFile(layoutOf(record.vmDir).consoleLog).catch(() => {
    throw new VmrunError('InvalidState', `container ${id} has no console output (its VM never started)`);
  });
}

// A detached exec relay's process, started by `vmrun exec --detach` (src/runtime/exec.ts) with
// the process's stdio as fds 0-2 and a pipe as fd 3, on which it says once whether the process
// started. It exits with the process's status, once `vmrun exec` has exited: its caller
// (containerd's shim, conmon) waits for that.
import { VmrunError } from '../errors.js';
import { outliveStarter, tellReady } from '../host/ready-child.js';
import { relay, type RelayArgs } from './relay.js';

async function main(): Promise<void> {
  const starter = process.ppid;
  const args = JSON.parse(process.argv[2] ?? '{}') as RelayArgs;
  let told = false;
  try {
    const status = await relay(args, (pid) => {
      told = true;
      tellReady({ ok: true, pid });
    });
    await outliveStarter(starter);
    process.exit(status);
  } catch (e) {
    if (told) {
      await outliveStarter(starter);
      process.exit(255);
    }
    const code = e instanceof VmrunError ? e.code : 'InvalidState';
    tellReady({ ok: false, error: { code, message: (e as Error).message } });
    process.exit(1);
  }
}

void main();

// The monitor's process: started by `vmrun create` (see src/runtime/create.ts) with the container's
// stdio as fds 0-2 and a pipe as fd 3, on which it says once whether the container was created.
import { VmrunError } from '../errors.js';
import { tellReady } from '../host/ready-child.js';
import type { AccelChoice } from '../host/accel.js';
import { createLogger, type LogFormat } from '../log.js';
import { StateStore } from '../state/store.js';
import { joinCgroup } from '../host/cgroups.js';
import { Monitor } from './monitor.js';

export interface MonitorArgs {
  /** The host cgroup directories to join before anything else (linux.cgroupsPath). */
  cgroups: string[];
  /** VMRUN_DEFAULT_MEMORY as `vmrun create` read it. */
  defaultGuestMemoryMiB: number;
  /** VMRUN_BOOT=cold as `vmrun create` read it. */
  coldBoot: boolean;
  /** The mount namespace of `vmrun create`; the monitor runs in one of its own. */
  callerMountNamespace: string;
  root: string;
  id: string;
  accel: AccelChoice;
  cacheDir: string;
  logFile: string;
  logFormat: LogFormat;
  debug: boolean;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as MonitorArgs;
  const log = createLogger({
    file: args.logFile, format: args.logFormat, debug: args.debug, bindings: { id: args.id, monitor: process.pid },
  });
  let monitor: Monitor;
  try {
    // First: virsh, QEMU and virtiofsd are then born in the container's host cgroup.
    await joinCgroup(args.cgroups);
    monitor = await Monitor.create({ store: new StateStore(args.root), id: args.id, accel: args.accel, cacheDir: args.cacheDir, callerMountNamespace: args.callerMountNamespace, defaultGuestMemoryMiB: args.defaultGuestMemoryMiB, coldBoot: args.coldBoot, log });
  } catch (e) {
    const code = e instanceof VmrunError ? e.code : 'InvalidState';
    log.error({ err: e }, 'create failed');
    tellReady({ ok: false, error: { code, message: (e as Error).message } });
    process.exit(1);
  }
  // The pid --pid-file gets: the sentry's (src/monitor/sentry.ts).
  try {
    tellReady({ ok: true, pid: monitor.pid });
  } catch (e) {
    // `vmrun create` was killed: the container stays, as created, for `state` and `delete`.
    log.warn(`vmrun create is gone (${(e as Error).message}): the container stays created`);
  }
  process.exitCode = await monitor.done;
  log.info({ status: process.exitCode }, 'monitor done');
  process.exit();
}

void main();

// Which accelerator a guest runs under. KVM where the host really has hardware virtualization;
// TCG (QEMU's emulator) otherwise. /dev/kvm alone proves nothing: on a nested "PVM" host it
// exists and a stock guest kernel hangs under it.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { VmrunError } from '../errors.js';

export type Accel = 'kvm' | 'tcg';
export type AccelRequest = Accel | 'auto';

export interface HostVirtualization {
  /** /dev/kvm exists and this process may open it read-write. */
  kvmDevice: boolean;
  /** The CPU flags name vmx or svm. */
  hardwareFlags: boolean;
  /** The kvm_pvm module is loaded: KVM here runs only PVM-enabled guest kernels. */
  pvm: boolean;
}

export interface AccelChoice {
  accel: Accel;
  reason: string;
}

export function probeHost(): HostVirtualization {
  let kvmDevice = false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    kvmDevice = true;
  } catch {
    // absent or not ours: no KVM
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    kvmDevice,
    hardwareFlags: /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo),
    pvm: existsSync('/sys/module/kvm_pvm'),
  };
}

export function parseAccel(value: string, source: string): AccelRequest {
  if (value === 'auto' || value === 'kvm' || value === 'tcg') return value;
  throw new VmrunError('InvalidArgument', `${source}: accelerator must be auto, kvm or tcg, not "${value}"`);
}

export function chooseAccel(request: AccelRequest, host: HostVirtualization = probeHost()): AccelChoice {
  if (request === 'kvm') return { accel: 'kvm', reason: 'kvm was asked for' };
  if (request === 'tcg') return { accel: 'tcg', reason: 'tcg was asked for' };
  if (!host.kvmDevice) return { accel: 'tcg', reason: '/dev/kvm is missing or cannot be opened' };
  if (!host.hardwareFlags) return { accel: 'tcg', reason: '/dev/kvm exists but the CPU has no vmx or svm flag' };
  if (host.pvm) return { accel: 'tcg', reason: 'KVM here is the nested PVM kind, which stock guest kernels hang under' };
  return { accel: 'kvm', reason: '/dev/kvm is usable and the CPU has hardware virtualization' };
}

/** The request from --accel, else VMRUN_ACCEL, else auto. */
export function accelRequest(flag: string | undefined, env = process.env.VMRUN_ACCEL): AccelRequest {
  if (flag !== undefined) return parseAccel(flag, '--accel');
  if (env) return parseAccel(env, 'VMRUN_ACCEL');
  return 'auto';
}

// The fault-injection switch that the tests of create's cleanup use: VMRUN_FAULT=STEP makes
// create fail at that step, as a real failure there would.
import { VmrunError } from './errors.js';

/** The steps of a create, in order: in `vmrun create`, then in the monitor. */
export const CREATE_STEPS = [
  'reserved', 'cgroup', 'monitor', 'sentry', 'warden', 'passt', 'domain', 'hooks', 'agent', 'process', 'control', 'ready', 'pid-file',
] as const;
export type CreateStep = (typeof CREATE_STEPS)[number];

export function faultPoint(step: CreateStep): void {
  if (process.env.VMRUN_FAULT === step) throw new VmrunError('InvalidState', `create failed at step "${step}" (VMRUN_FAULT)`);
}

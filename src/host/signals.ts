import { constants } from 'node:os';
import { VmrunError } from '../errors.js';

/** A signal as runc's kill takes it: a number, or a name with or without SIG. */
export function parseSignal(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : constants.signals[(value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`) as NodeJS.Signals];
  if (n === undefined || n < 1 || n > 64) throw new VmrunError('InvalidArgument', `invalid signal "${value}"`);
  return n;
}

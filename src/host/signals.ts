import { constants } from 'node:os';
import { VmrunError } from '../errors.js';

/** A signal as runc's kill takes it: a number, or a name with or without SIG. */
export function parseSignal(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : constants.signals[(value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`) as NodeJS.Signals];
  if (n === undefined || n < 1 || n > 64) throw new VmrunError('InvalidArgument', `invalid signal "${value}"`);
  return n;
}

/** A signal's name (SIGKILL) from its number, as a wait status gives it. */
export function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

/**
 * What a host process that stands for a guest process (the monitor for init, a relay for an
 * exec'd one) passes on to it: every signal Node can catch, as runc forwards all it gets, but
 * SIGCHLD and SIGWINCH (a terminal's resize, which travels as one). SIGSEGV, SIGBUS, SIGFPE and
 * SIGILL cannot be caught safely; SIGKILL and SIGSTOP not at all.
 */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTRAP', 'SIGABRT', 'SIGUSR1', 'SIGUSR2', 'SIGPIPE', 'SIGALRM',
  'SIGTERM', 'SIGSTKFLT', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU',
  'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGIO', 'SIGPWR', 'SIGSYS',
];

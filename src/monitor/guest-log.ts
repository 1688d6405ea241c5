// The guest's log events, written to the monitor's log within bounds: the guest is hostile, and
// a flood of lines must not fill the host's disk or hold up the monitor. A token bucket lets a
// burst through, then a steady rate; what it drops is said in one summary line.
import type { Logger } from '../log.js';

export type GuestLogLevel = 'debug' | 'info' | 'warn' | 'error';

export const GUEST_LOG_LIMITS = {
  /** Lines let through at once after a quiet time. */
  burst: 100,
  /** Lines a second after that. */
  perSecond: 10,
  /** Characters of a line kept; the rest is cut, saying how much. */
  lineChars: 2000,
  /** Time between two summaries of dropped lines, in ms. */
  summaryEveryMs: 10_000,
};

export class GuestLog {
  private tokens = GUEST_LOG_LIMITS.burst;
  private last: number;
  private dropped = 0;
  private lastSummary = -Infinity;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now();
  }

  write(level: GuestLogLevel, msg: string): void {
    const t = this.now();
    this.tokens = Math.min(GUEST_LOG_LIMITS.burst, this.tokens + ((t - this.last) / 1000) * GUEST_LOG_LIMITS.perSecond);
    this.last = t;
    if (this.tokens < 1) {
      this.dropped++;
      return;
    }
    this.tokens--;
    if (this.dropped > 0 && t - this.lastSummary >= GUEST_LOG_LIMITS.summaryEveryMs) this.flush();
    this.log[level](`guest: ${bounded(msg)}`);
  }

  /** Says how many lines were dropped since the last summary, if any were. */
  flush(): void {
    if (this.dropped === 0) return;
    this.log.warn(`${this.dropped} guest log lines dropped (more than ${GUEST_LOG_LIMITS.perSecond} a second)`);
    this.dropped = 0;
    this.lastSummary = this.now();
  }
}

/** The line cut to its bound, with control characters shown as escapes (no forged log lines). */
function bounded(msg: string): string {
  const max = GUEST_LOG_LIMITS.lineChars;
  const cut = msg.length > max ? `${msg.slice(0, max)}... (${msg.length - max} more characters)` : msg;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// A stack of cleanups: each step that makes something pushes how to undo it, and the undoing
// runs in reverse order, every step whatever became of the others.
import type { Logger } from './log.js';

export class Cleanups {
  private readonly steps: { what: string; undo: () => unknown }[] = [];
  private running?: Promise<void>;

  constructor(private readonly log: Logger) {}

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Runs every step, last pushed first; a failing step is logged and the rest still run. Once. */
  run(): Promise<void> {
    return (this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step.undo();
        } catch (e) {
          this.log.warn(`cleanup: ${step.what}: ${(e as Error).message}`);
        }
      }
    })());
  }
}

import type { Logger } from '../log.js';
import { StateStore } from '../state/store.js';

/** What every lifecycle operation works with: where containers are kept, and where to log. */
export interface RuntimeContext {
  store: StateStore;
  log: Logger;
}

export function runtimeContext(root: string, log: Logger): RuntimeContext {
  return { store: new StateStore(root), log };
}

// Generated from schemas/control.schema.json by `npm run gen`. Do not edit.

/**
 * One line of JSON on a monitor's control socket: a verb's request, or the monitor's answer to it.
 */
export type ControlMessage = ControlRequest | ControlResponse;
export type ControlRequest =
  | {
      op: 'start';
    }
  | {
      op: 'kill';
      signal: number;
      all?: boolean;
    }
  | {
      op: 'pause';
    }
  | {
      op: 'resume';
    }
  | {
      op: 'ps';
    }
  | {
      op: 'resize';
      rows: number;
      cols: number;
    }
  | {
      op: 'destroy';
    }
  | {
      op: 'update';
      resources: {
        memory?: {
          limit?: number;
          reservation?: number;
          swap?: number;
        };
        cpu?: {
          shares?: number;
          quota?: number;
          period?: number;
          cpus?: string;
          mems?: string;
        };
        pids?: {
          limit?: number;
        };
      };
    }
  | {
      op: 'virsh';
      /**
       * @minItems 1
       * @maxItems 64
       */
      args: [string, ...string[]];
    }
  | {
      op: 'stats';
    };

export interface ControlResponse {
  ok: boolean;
  result?: {};
  error?: {
    code: string;
    message: string;
  };
}

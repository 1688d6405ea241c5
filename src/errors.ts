// Every failure vmrun reports is a VmrunError with a stable code. The CLI maps them to
// messages and exit codes in one place (src/cli/run-verb.ts).

export type ErrorCode =
  | 'BundleNotFound'
  | 'ConfigNotFound'
  | 'ConfigUnreadable'
  | 'ConfigSyntax'
  | 'ConfigInvalid'
  | 'UnsupportedVersion'
  | 'RootfsNotFound'
  | 'InvalidId'
  | 'ContainerNotFound'
  | 'ContainerExists'
  | 'ContainerLocked'
  | 'InvalidState'
  | 'InvalidArgument'
  | 'FileExists'
  | 'StateCorrupt'
  | 'HookFailed';

export class VmrunError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The separate problems the message sums up, such as each schema violation of a config. */
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = code;
  }
}

export const isVmrunError = (e: unknown): e is VmrunError => e instanceof VmrunError;

/** The errno code of a Node system error, if it is one. */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

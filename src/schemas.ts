// Checking data that crosses into vmrun (a bundle's config.json, a state record read back from
// disk, an agent message) against schemas/, through the validators `npm run gen` compiles.
import type { ErrorObject } from 'ajv';
import type { AgentMessage } from './generated/agent-protocol.js';
import type { Spec } from './generated/config.js';
import type { ContainerRecord } from './generated/container-record.js';
import type { ContainerState } from './generated/state.js';
import type { ControlMessage } from './generated/control.js';
import * as compiled from './generated/validators.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };
export type Checker<T> = (value: unknown) => Checked<T>;

interface Validate {
  (value: unknown): boolean;
  errors?: ErrorObject[] | null;
}

function checker<T>(validate: Validate): Checker<T> {
  return (value) =>
    validate(value)
      ? { ok: true, value: value as T }
      : { ok: false, problems: (validate.errors ?? []).map(describeProblem) };
}

/** One violation as `JSON pointer: what is wrong`, naming the missing field itself when one is. */
export function describeProblem(e: ErrorObject): string {
  const at = e.instancePath;
  switch (e.keyword) {
    case 'required':
      return `${at}/${String(e.params.missingProperty)}: is required`;
    case 'enum':
      return `${at || '/'}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `${at || '/'}: must be ${JSON.stringify(e.params.allowedValue)}`;
    default:
      return `${at || '/'}: ${e.message ?? e.keyword}`;
  }
}

export const checkSpec = checker<Spec>(compiled.validateSpec);
export const checkState = checker<ContainerState>(compiled.validateContainerState);
export const checkRecord = checker<ContainerRecord>(compiled.validateContainerRecord);
export const checkAgentMessage = checker<AgentMessage>(compiled.validateAgentMessage);
export const checkControlMessage = checker<ControlMessage>(compiled.validateControlMessage);

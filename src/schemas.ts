// The one place that turns schemas/ into validators. Data crossing into vmrun (a bundle's
// config.json, a state record read back from disk, an agent message) is checked here.
import { Ajv, type ErrorObject } from 'ajv';
import configSchema from '../schemas/config.schema.json' with { type: 'json' };
import stateSchema from '../schemas/state.schema.json' with { type: 'json' };
import recordSchema from '../schemas/container-record.schema.json' with { type: 'json' };
import agentSchema from '../schemas/agent-protocol.schema.json' with { type: 'json' };
import type { Spec } from './generated/config.js';
import type { ContainerState } from './generated/state.js';
import type { ContainerRecord } from './generated/container-record.js';
import type { AgentMessage } from './generated/agent-protocol.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };
export type Checker<T> = (value: unknown) => Checked<T>;

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
ajv.addSchema([configSchema, stateSchema, recordSchema, agentSchema]);

function checker<T>(schema: { $id: string }): Checker<T> {
  let validate: ReturnType<typeof ajv.getSchema>;
  return (value) => {
    // Compiled on first use: a verb that never reads an agent message never pays for its schema.
    validate ??= ajv.getSchema(schema.$id);
    if (!validate) throw new Error(`schema ${schema.$id} is not registered`);
    if (validate(value)) return { ok: true, value: value as T };
    return { ok: false, problems: (validate.errors ?? []).map(describeProblem) };
  };
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

export const checkSpec = checker<Spec>(configSchema);
export const checkState = checker<ContainerState>(stateSchema);
export const checkRecord = checker<ContainerRecord>(recordSchema);
export const checkAgentMessage = checker<AgentMessage>(agentSchema);

// `vmrun update`: new resource limits for a running container, as runc 1.1's update takes them
// (src/oci/resource-update.ts). What runc would refuse fails before anything changes; the
// monitor applies the rest in the guest's cgroup and mirrors it on the host cgroup
// (src/monitor/update.ts); what is taken and not applied is named at debug level.
import { VmrunError } from '../errors.js';
import type { Resources } from '../generated/config.js';
import { hostTopology } from '../host/limits.js';
import { readResources, updateProblems, type FieldName } from '../oci/resource-update.js';
import type { RuntimeContext } from './context.js';
import { askMonitor, liveRecord } from './lifecycle.js';

export interface UpdateRequest {
  resources: Resources;
  /** How fields are named in messages: flags, or pointers of --resources. */
  name: FieldName;
  /** What problems are prefixed with, such as "--resources is invalid: ". */
  prefix: string;
  /** What the verb itself took and left alone (flags beside --resources). */
  ignored: string[];
}

/** The most notes the monitor's answer may carry, and their length: the log is not the monitor's to fill. */
const MAX_NOTES = 32;
const MAX_NOTE = 1000;

export async function updateContainer(ctx: RuntimeContext, id: string, request: UpdateRequest): Promise<void> {
  const { update, ignored } = readResources(request.resources, request.name);
  const problems = updateProblems(update, request.name, hostTopology());
  if (problems.length > 0) throw new VmrunError('InvalidArgument', request.prefix + problems.join('; '), problems);
  for (const note of [...request.ignored, ...ignored]) ctx.log.debug(note);
  const record = await liveRecord(ctx, id);
  if (Object.keys(update).length === 0) return;
  const answer = await askMonitor(record, { op: 'update', resources: update });
  const notes = Array.isArray(answer?.notes) ? answer.notes : [];
  for (const note of notes.slice(0, MAX_NOTES)) ctx.log.debug(String(note).slice(0, MAX_NOTE));
}

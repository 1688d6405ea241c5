// Which network a container's VM gets, from config.json: its network namespace carried in, an
// outbound-only user-mode network (passt), or none (docs/networking.md).
import type { Spec } from '../generated/config.js';

/** The annotation that picks the network of a container that has no network namespace. */
export const NETWORK_ANNOTATION = 'vmrun.network';
const CHOICES = ['none', 'user'];

export type NetworkMode = 'namespace' | 'user' | 'none';

/** config.json's network namespace entry, with its index in linux.namespaces. */
export function networkNamespace(spec: Spec): { index: number; path?: string } | undefined {
  const index = spec.linux?.namespaces?.findIndex((ns) => ns.type === 'network') ?? -1;
  return index < 0 ? undefined : { index, path: spec.linux!.namespaces![index]!.path };
}

/** A container's own network namespace is carried in; a CRI sandbox's is its pod's, whose VM it boots. */
export function networkMode(spec: Spec): NetworkMode {
  if (networkNamespace(spec)) return 'namespace';
  return spec.annotations?.[NETWORK_ANNOTATION] === 'user' ? 'user' : 'none';
}

/** What is wrong with the annotation, if anything, as `pointer: problem`. */
export function networkProblems(spec: Spec): string[] {
  const choice = spec.annotations?.[NETWORK_ANNOTATION];
  if (choice === undefined) return [];
  const at = `/annotations/${NETWORK_ANNOTATION}`;
  if (!CHOICES.includes(choice)) return [`${at}: must be one of ${CHOICES.join(', ')}`];
  if (choice === 'user' && networkMode(spec) === 'namespace') return [`${at}: "user" is for a container without a network namespace`];
  return [];
}

// The annotations a CRI puts on a pod's containers: containerd's first, then CRI-O's (which
// Podman gives its pod members too). The type is "sandbox" for a pod's sandbox (pause)
// container, "container" for its workload containers, which name their sandbox by id.
export const CRI_CONTAINER_TYPE = ['io.kubernetes.cri.container-type', 'io.kubernetes.cri-o.ContainerType'] as const;
export const CRI_SANDBOX_ID = ['io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri-o.SandboxID'] as const;

/** The first of `keys` that `annotations` has. */
export function criAnnotation(annotations: Record<string, string> | undefined, keys: readonly string[]): string | undefined {
  return keys.map((k) => annotations?.[k]).find((v) => v !== undefined);
}

// Generated from schemas/state.schema.json by `npm run gen`. Do not edit.

/**
 * What `vmrun state` prints: the OCI runtime-spec state plus runc's rootfs, created and owner fields. As with runc, pid is 0 once the container has stopped, and a paused container says so.
 */
export interface ContainerState {
  ociVersion: string;
  id: string;
  /**
   * The host process that stands for the container: vmrun's monitor of its VM. 0 when stopped.
   */
  pid: number;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  /**
   * Absolute path of the bundle.
   */
  bundle: string;
  /**
   * Absolute path of the container's root filesystem.
   */
  rootfs: string;
  /**
   * RFC 3339 time of creation.
   */
  created: string;
  /**
   * The name of the user that owns the container. runc leaves it empty in `state` and fills it in `list`; vmrun does the same.
   */
  owner: string;
  annotations?: {
    [k: string]: string;
  };
}

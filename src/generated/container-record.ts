// Generated from schemas/container-record.schema.json by `npm run gen`. Do not edit.

/**
 * vmrun's own record of one container, kept as <root>/<id>/state.json and replaced atomically. Everything a later verb needs to find, inspect or clean up the container, even after every process of it has died, is here. The monitor holds the VM and serves the control socket; the sentry (src/host/vmrun-sentry.c) stands for the container's init on the host, in its namespaces, and is the pid state and --pid-file report.
 */
export interface ContainerRecord {
  recordVersion: 1;
  id: string;
  /**
   * ociVersion of the bundle's config.json.
   */
  ociVersion: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: {
    [k: string]: string;
  };
  /**
   * The last lifecycle step vmrun completed. Liveness of the processes below decides whether the container is still in it.
   */
  phase: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  /**
   * The short per-container directory holding the libvirt root, the sockets and the console log (short because unix socket paths must stay under 108 bytes).
   */
  vmDir: string;
  accel?: 'kvm' | 'tcg';
  monitor?: HostProcess;
  sentry?: HostProcess;
  warden?: HostProcess1;
  /**
   * The VM's size as create made it (src/vm/sizing.ts): what `update` may give the container is bounded by it.
   */
  guest?: {
    /**
     * The guest's whole memory, its own overhead included.
     */
    memoryMiB: number;
    vcpus: number;
    /**
     * How the VM came up: booted, or restored from vmrun's image of a booted guest (src/guest/restore-image.ts).
     */
    start?: 'booted' | 'restored';
    /**
     * The guest kernel's /proc/sys/kernel/random/boot_id as its agent read it: which guest this is, as seen from inside.
     */
    bootId?: string;
  };
  qemu?: HostProcess;
  virtiofsd?: HostProcess[];
  passt?: HostProcess;
  /**
   * A pod member: the container whose VM it joined (the pod's sandbox, or the container whose namespaces it names), and its name in that guest.
   */
  pod?: {
    host: string;
    name: string;
    /**
     * The namespaces it shares with the host's container in the guest.
     */
    share?: ('pid' | 'ipc' | 'uts')[];
  };
  /**
   * What start changed in the container's named network namespace (the interfaces joined to the VM, its port range), so that a delete after a crash of the monitor can put it back.
   */
  carried?: {
    namespace: string;
    interfaces: string[];
    /**
     * The namespace's ip_local_port_range before vmrun gave its own sockets ports of their own (Docker's embedded DNS), to be put back.
     */
    portRange?: string;
  };
  /**
   * The host cgroup directories vmrun made for linux.cgroupsPath, one per hierarchy; delete removes them.
   */
  cgroups?: string[];
  /**
   * config.json's hooks as create read them: poststop runs at delete, whatever became of the bundle.
   */
  hooks?: {
    [k: string]: Hook[];
  };
  /**
   * The container process's exit status once known: the code, or 128+signal.
   */
  exitStatus?: number;
  /**
   * Why the container stopped when it was not its process that ended (a part of its VM, the monitor's own failure): verbs that find it stopped say so.
   */
  stopReason?: string;
}
/**
 * A host process, identified by pid and start time (clock ticks since boot, /proc/PID/stat field 22) so that a reused pid is never mistaken for it.
 */
export interface HostProcess {
  pid: number;
  startTime: number;
}
/**
 * A host process, identified by pid and start time (clock ticks since boot, /proc/PID/stat field 22) so that a reused pid is never mistaken for it.
 */
export interface HostProcess1 {
  pid: number;
  startTime: number;
}
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

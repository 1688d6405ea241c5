// Generated from schemas/config.schema.json by `npm run gen`. Do not edit.

export type Uint32 = number;
export type AbsolutePath = string;
export type CapabilityList = string[];
export type Uint64 = number;
export type HookList = Hook[];
export type Int64 = number;

/**
 * The OCI runtime-spec config.json as far as vmrun reads it. Fields the spec allows and vmrun does not read are accepted.
 */
export interface Spec {
  /**
   * Version of the runtime-spec the bundle follows; vmrun accepts 1.0.x to 1.3.x.
   */
  ociVersion: string;
  root: Root;
  process: Process;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: StringMap;
  linux?: Linux;
}
export interface Root {
  /**
   * The container's root filesystem, absolute or relative to the bundle.
   */
  path: string;
  readonly?: boolean;
}
export interface Process {
  terminal?: boolean;
  consoleSize?: {
    height: Uint32;
    width: Uint32;
  };
  user?: User;
  /**
   * @minItems 1
   */
  args: [string, ...string[]];
  commandLine?: string;
  env?: string[];
  cwd: AbsolutePath;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
  selinuxLabel?: string;
}
export interface User {
  uid: Uint32;
  gid: Uint32;
  umask?: Uint32;
  additionalGids?: Uint32[];
  username?: string;
}
export interface Capabilities {
  bounding?: CapabilityList;
  effective?: CapabilityList;
  inheritable?: CapabilityList;
  permitted?: CapabilityList;
  ambient?: CapabilityList;
}
export interface Rlimit {
  type: string;
  soft: Uint64;
  hard: Uint64;
}
export interface Mount {
  destination: AbsolutePath;
  type?: string;
  source?: string;
  options?: string[];
}
export interface Hooks {
  prestart?: HookList;
  createRuntime?: HookList;
  createContainer?: HookList;
  startContainer?: HookList;
  poststart?: HookList;
  poststop?: HookList;
}
export interface Hook {
  path: AbsolutePath;
  args?: string[];
  env?: string[];
  timeout?: number;
}
export interface StringMap {
  [k: string]: string;
}
export interface Linux {
  resources?: Resources;
  namespaces?: Namespace[];
  maskedPaths?: AbsolutePath[];
  readonlyPaths?: AbsolutePath[];
  sysctl?: StringMap;
  devices?: Device[];
  cgroupsPath?: string;
  rootfsPropagation?: string;
}
export interface Resources {
  memory?: {
    limit?: Int64;
    reservation?: Int64;
    swap?: Int64;
  };
  cpu?: {
    shares?: Uint64;
    quota?: Int64;
    period?: Uint64;
    /**
     * A cpuset list such as 0-3,6.
     */
    cpus?: string;
    mems?: string;
  };
  pids?: {
    limit?: Int64;
  };
}
export interface Namespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';
  path?: AbsolutePath;
}
export interface Device {
  type: 'c' | 'b' | 'u' | 'p';
  path: AbsolutePath;
  major?: Int64;
  minor?: Int64;
  fileMode?: Uint32;
  uid?: Uint32;
  gid?: Uint32;
}

// Generated from schemas/config.schema.json by `npm run gen`. Do not edit.

export type Uint32 = number;
export type AbsolutePath = string;
export type CapabilityList = string[];
export type Uint64 = number;
export type HookList = Hook[];
export type Int64 = number;
export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';
export type SeccompArch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64';

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
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  cgroupsPath?: string;
  rootfsPropagation?: string;
  seccomp?: Seccomp;
}
export interface Resources {
  memory?: {
    limit?: Int64;
    reservation?: Int64;
    swap?: Int64;
    kernel?: Int64;
    kernelTCP?: Int64;
    swappiness?: Uint64;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
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
    realtimeRuntime?: Int64;
    realtimePeriod?: Uint64;
    idle?: Int64;
    burst?: Uint64;
  };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
  };
  unified?: {
    [k: string]: string;
  };
  pids?: {
    limit?: Int64;
  };
  devices?: DeviceRule[];
}
export interface DeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: Int64;
  minor?: Int64;
  access?: string;
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
export interface IdMapping {
  containerID: Uint32;
  hostID: Uint32;
  size: Uint32;
}
/**
 * A system call filter for the container's processes, built with libseccomp as runc builds it. Engines resolve their profiles' includes and excludes before they write config.json.
 */
export interface Seccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: Uint32;
  architectures?: SeccompArch[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompSyscall[];
}
export interface SeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: Uint32;
  args?: SeccompArg[];
}
export interface SeccompArg {
  /**
   * Which argument: a system call has six at most.
   */
  index: number;
  value: Uint64;
  valueTwo?: Uint64;
  op:
    | 'SCMP_CMP_NE'
    | 'SCMP_CMP_LT'
    | 'SCMP_CMP_LE'
    | 'SCMP_CMP_EQ'
    | 'SCMP_CMP_GE'
    | 'SCMP_CMP_GT'
    | 'SCMP_CMP_MASKED_EQ';
}

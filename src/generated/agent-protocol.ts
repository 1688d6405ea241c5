// Generated from schemas/agent-protocol.schema.json by `npm run gen`. Do not edit.

/**
 * A control message between vmrun on the host and its agent in the guest. Messages travel in CONTROL frames on one virtio-serial port, next to the DATA, EOF and CREDIT frames that carry stdio; docs/agent-protocol.md defines the framing, the credit-based flow control that keeps stdio from ever blocking control, stdin EOF, and why an exit event always follows the process's output. Both ends validate every message against this schema.
 */
export type AgentMessage = Hello | Request | Response | Event;
/**
 * Host to agent, but dns, which the agent sends to the host. Answered by exactly one Response with the same id.
 */
export type Request = {
  type: 'request';
  id: number;
  container?: ContainerName;
} & Request1;
/**
 * A pod member's name in the guest (its host VM directory's hash). A request without one is for the guest's first container, the one that booted it.
 */
export type ContainerName = string;
export type Request1 =
  | CreateRequest
  | StartRequest
  | ExecRequest
  | SignalRequest
  | ResizeRequest
  | PsRequest
  | NetworkRequest
  | ShutdownRequest
  | UpdateRequest
  | StatsRequest
  | CpusRequest
  | DnsRequest
  | FreezeRequest
  | RemoveRequest
  | RestoredRequest
  | MemoryRequest
  | ImageRequest;
export type GuestSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG';
/**
 * The 16 bits a seccomp filter returns with ERRNO or TRACE.
 */
export type GuestErrno = number;
/**
 * A stream of DATA frames; 0 is the control stream and never carries stdio.
 */
export type StreamId = number;
/**
 * "init" for the container's process, or the name the host gave an exec'd one.
 */
export type ProcessName = string;
export type Cidr = string;
/**
 * Agent to host, unasked.
 */
export type Event = ExitEvent | LogEvent;

/**
 * The first message each side sends, and nothing is sent before it. Each lists the protocol versions it speaks; both then use the highest version in both lists, and close the channel when there is none.
 */
export interface Hello {
  type: 'hello';
  /**
   * @minItems 1
   */
  versions: [number, ...number[]];
  /**
   * How many bytes of DATA the sender of this hello accepts on each stream before it grants more with CREDIT frames.
   */
  window: number;
  /**
   * The largest control message, in bytes of JSON, the sender of this hello accepts (split over CONTROL_PART frames). Absent: one frame's payload, 65536.
   */
  maxMessage?: number;
  /**
   * Name and version of the program, for logs.
   */
  software?: string;
}
/**
 * Prepare the container: mount its filesystems and create its process, stopped before it execs the user's program.
 */
export interface CreateRequest {
  op: 'create';
  plan: GuestPlan;
  stdio: Stdio;
}
/**
 * What the agent sets up inside the guest, made on the host from config.json.
 */
export interface GuestPlan {
  hostname?: string;
  domainname?: string;
  rootfs: {
    /**
     * The virtiofs tag of the rootfs share.
     */
    tag: string;
    /**
     * A pod member's root: this folder of the share, not the whole share.
     */
    path?: string;
    readonly: boolean;
    /**
     * linux.rootfsPropagation, applied to the root after the mounts.
     */
    propagation?:
      | 'private'
      | 'rprivate'
      | 'shared'
      | 'rshared'
      | 'slave'
      | 'rslave'
      | 'unbindable'
      | 'runbindable';
  };
  mounts: GuestMount[];
  process: ProcessPlan;
  sysctl?: {
    [k: string]: string;
  };
  maskedPaths?: string[];
  readonlyPaths?: string[];
  devices?: GuestDevice[];
  /**
   * Files of the container's cgroup (v2) in the guest and the values written to them, such as memory.max.
   */
  cgroup?: {
    [k: string]: string;
  };
  /**
   * The namespaces the container gets of its own in the guest (config.json's entries without a path, but network); any other is the guest's.
   */
  namespaces?: ('pid' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user')[];
  /**
   * A pod member's namespaces that are those of the guest's first container (config.json names that container's), entered instead of made.
   */
  share?: ('pid' | 'ipc' | 'uts')[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /**
   * linux.resources.devices in order: the last rule that matches an access decides it.
   */
  deviceRules?: DeviceRule[];
  seccomp?: GuestSeccomp;
}
export interface GuestMount {
  destination: string;
  type: string;
  source?: string;
  /**
   * For a bind of a host path: the virtiofs tag that carries it.
   */
  share?: string;
  options?: string[];
}
export interface ProcessPlan {
  /**
   * @minItems 1
   */
  args: [string, ...string[]];
  env: string[];
  cwd: string;
  terminal?: boolean;
  consoleSize?: {
    rows: number;
    cols: number;
  };
  user: {
    uid: number;
    gid: number;
    umask?: number;
    additionalGids?: number[];
  };
  rlimits?: {
    type: string;
    soft: number;
    hard: number;
  }[];
  capabilities?: {
    [k: string]: string[];
  };
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}
/**
 * A device node made in the container's root, as linux.devices lists it.
 */
export interface GuestDevice {
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}
export interface DeviceRule {
  allow: boolean;
  type: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}
/**
 * linux.seccomp as vmrun-exec loads it, for the container's process and every exec'd one: rules vmrun leaves out are gone, and every ERRNO and TRACE action has its errno.
 */
export interface GuestSeccomp {
  defaultAction: GuestSeccompAction;
  defaultErrnoRet?: GuestErrno;
  architectures: string[];
  flags: string[];
  syscalls: {
    names: string[];
    action: GuestSeccompAction;
    errnoRet?: GuestErrno;
    /**
     * @maxItems 64
     */
    args: {
      index: number;
      op:
        | 'SCMP_CMP_NE'
        | 'SCMP_CMP_LT'
        | 'SCMP_CMP_LE'
        | 'SCMP_CMP_EQ'
        | 'SCMP_CMP_GE'
        | 'SCMP_CMP_GT'
        | 'SCMP_CMP_MASKED_EQ';
      value: number;
      valueTwo: number;
    }[];
  }[];
}
/**
 * The streams a process's stdio travels on; a missing one is /dev/null. With terminal, stdout carries the terminal's output and stderr is absent.
 */
export interface Stdio {
  stdin?: StreamId;
  stdout?: StreamId;
  stderr?: StreamId;
  terminal?: boolean;
}
/**
 * Let the created process exec the user's program.
 */
export interface StartRequest {
  op: 'start';
}
/**
 * Run another process in the container, named by the host.
 */
export interface ExecRequest {
  op: 'exec';
  process: ProcessName;
  spec: ProcessPlan;
  stdio: Stdio;
}
export interface SignalRequest {
  op: 'signal';
  process: ProcessName;
  signal: number;
  /**
   * Signal every process of the container, as kill --all does.
   */
  all?: boolean;
}
export interface ResizeRequest {
  op: 'resize';
  process: ProcessName;
  rows: number;
  cols: number;
}
/**
 * List the container's processes; the result is {"pids": [...]} as the container numbers them (in its PID namespace).
 */
export interface PsRequest {
  op: 'ps';
}
/**
 * Give the guest's network interfaces, in the order the VM has them, the names, MAC addresses, MTUs and addresses of the container's namespace on the host, and its routes.
 */
export interface NetworkRequest {
  op: 'network';
  interfaces: GuestInterface[];
  routes: GuestRoute[];
  /**
   * Serve Docker's embedded DNS address, 127.0.0.11:53, over UDP and TCP in the guest, each query passed to the host as a dns request.
   */
  embeddedDns?: boolean;
  /**
   * Interfaces the guest lets go of first (their PCI devices removed): those of a namespace whose container has stopped while pod members stay, as the engine takes them out of the namespace.
   *
   * @maxItems 64
   */
  unplug?: string[];
}
export interface GuestInterface {
  name: string;
  mac: string;
  mtu: number;
  /**
   * CIDR forms, such as 10.0.0.2/24.
   */
  addresses: Cidr[];
}
export interface GuestRoute {
  /**
   * default, or a CIDR form.
   */
  destination: 'default' | Cidr;
  gateway?: string;
  interface: string;
}
/**
 * Sync and power the guest off.
 */
export interface ShutdownRequest {
  op: 'shutdown';
}
/**
 * Write these files of the container's cgroup (v2) in the guest, making the cgroup, with every container process moved in, if it does not exist yet.
 */
export interface UpdateRequest {
  op: 'update';
  cgroup: {
    [k: string]: string;
  };
}
/**
 * The container's resource use; the result is {"cpuNs", "memoryBytes", "memoryLimitBytes", "pids", "pidsLimit"?}: the CPU time of its processes, the guest's memory in use and in all, its process count and limit.
 */
export interface StatsRequest {
  op: 'stats';
}
/**
 * Bring the guest's CPUs online: every present, offline one (the host plugs vCPUs in after the boot, and the guest has no uevent helper to online them), waiting a bounded time for the guest to have `count` present. The result is {"online"}: how many CPUs the guest then has online.
 */
export interface CpusRequest {
  op: 'cpus';
  count: number;
}
/**
 * Agent to host: one DNS message that a process of the container sent to 127.0.0.11:53, which the host sends to that address in the container's network namespace (Docker's resolver). The result is {"message"}: the answer, in base64. Bounds: src/agent/dns.ts.
 */
export interface DnsRequest {
  op: 'dns';
  transport: 'udp' | 'tcp';
  /**
   * The query, in base64: 12 to 65535 bytes (4096 over UDP).
   */
  message: string;
}
/**
 * Freeze or thaw the container's cgroup in the guest: how a container that shares its guest pauses.
 */
export interface FreezeRequest {
  op: 'freeze';
  frozen: boolean;
}
/**
 * A member leaves the guest: its processes are killed, then its cgroup and root go.
 */
export interface RemoveRequest {
  op: 'remove';
}
/**
 * The guest was restored from vmrun's image of a booted guest, not booted: the first request after the hello. The agent sets the guest's wall clock to the host's, mixes the host's random bytes into the kernel's pool and reseeds it (every guest of one image wakes with the same random state), and waits a bounded time for the `shares` virtiofs devices the host plugged in, and for `memoryMiB` of memory online when the host plugged memory in; init.sh mounted no rootfs share, so `create` mounts it.
 */
export interface RestoredRequest {
  op: 'restored';
  /**
   * The host's wall clock, in milliseconds since the epoch.
   */
  clockMs: number;
  /**
   * 32 to 64 random bytes, in hex.
   */
  seed: string;
  shares: number;
  /**
   * The memory the guest has once what the host plugged in is online, in MiB.
   */
  memoryMiB?: number;
}
/**
 * The host plugged memory into the running guest (an update raised the limit above what it had): the agent waits a bounded time until the guest has `memoryMiB` in online memory blocks.
 */
export interface MemoryRequest {
  op: 'memory';
  memoryMiB: number;
}
/**
 * The guest is about to be saved as the restore image (src/guest/restore-image.ts): the agent drops the guest's caches and the agent's startup snapshot (read once, at node's start), and compacts memory, so that the balloon reports whole free blocks and the image holds less.
 */
export interface ImageRequest {
  op: 'image';
}
export interface Response {
  type: 'response';
  id: number;
  ok: boolean;
  result?: {};
  error?: {
    code: string;
    message: string;
  };
}
/**
 * A process ended. Sent only after the EOF frames of its stdout and stderr streams, so a host that has written out every DATA frame before it acts on this event has delivered all of the process's output.
 */
export interface ExitEvent {
  type: 'event';
  event: 'exit';
  process: ProcessName;
  container?: ContainerName;
  /**
   * The exit code, or 128+signal.
   */
  status: number;
  /**
   * The signal that ended the process, if one did.
   */
  signal?: number;
}
export interface LogEvent {
  type: 'event';
  event: 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
}

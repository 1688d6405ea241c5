// The configuration of the CRI tests' containerd, CNI network and crictl, all written into one
// scratch folder. Each setting that looks odd is a pitfall of the hosts these tests run on.
import { join } from 'node:path';

export const NAMESPACE = 'k8s.io'; // the CRI plugin's containerd namespace

export interface CriPaths {
  dir: string;
  address: string;
  configToml: string;
  netDir: string;
  crictlYaml: string;
  /** vmrun's and runc's --root, as the shim passes it (the handler's Root, then the namespace). */
  vmrunRoot: string;
  runcRoot: string;
  /** Where the pods' network namespaces are mounted (netns_mounts_under_state_dir). */
  netnsDir: string;
  podLogs: string;
}

export function criPaths(dir: string): CriPaths {
  return {
    dir,
    address: join(dir, 'containerd.sock'),
    configToml: join(dir, 'config.toml'),
    netDir: join(dir, 'net.d'),
    crictlYaml: join(dir, 'crictl.yaml'),
    vmrunRoot: join(dir, 'run', 'vmrun', NAMESPACE),
    runcRoot: join(dir, 'run', 'runc', NAMESPACE),
    netnsDir: join(dir, 'state', 'io.containerd.grpc.v1.cri', 'netns'),
    podLogs: join(dir, 'pod-logs'),
  };
}

/** TOML's basic strings are JSON's. */
const q = (s: string) => JSON.stringify(s);

export function configToml(p: CriPaths, vmrun: string, snapshotter: string): string {
  const runtime = (name: string, binary: string) => [
    `    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${name}]`,
    '      runtime_type = "io.containerd.runc.v2"',
    `      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${name}.options]`,
    `        BinaryName = ${q(binary)}`,
    `        Root = ${q(join(p.dir, 'run', name))}`,
    '        SystemdCgroup = false',
  ];
  return [
    'version = 2',
    `root = ${q(join(p.dir, 'root'))}`,
    `state = ${q(join(p.dir, 'state'))}`,
    'oom_score = 0',
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${q(p.address)}`,
    '[ttrpc]',
    `  address = ${q(`${p.address}.ttrpc`)}`,
    '[debug]',
    '  level = "info"', // the ids of every pod and container reach the log: the leak check reads them
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(p.dir, 'opt'))}`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  sandbox_image = "registry.k8s.io/pause:3.6"',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    // Pod network namespaces under the state folder, not the host's /run/netns.
    '  netns_mounts_under_state_dir = true',
    // A cgroup v1 host may lack the hugetlb controller.
    '  tolerate_missing_hugetlb_controller = true',
    '  disable_hugetlb_controller = true',
    // Where root lacks CAP_SYS_RESOURCE the sandbox's oom_score_adj -998 fails in runc ("can't
    // get final child's PID from pipe: EOF"): never below containerd's own.
    '  restrict_oom_score_adj = true',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    `    snapshotter = ${q(snapshotter)}`,
    '    default_runtime_name = "runc"',
    ...runtime('runc', '/usr/sbin/runc'),
    ...runtime('vmrun', vmrun),
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    '    bin_dir = "/usr/lib/cni"',
    `    conf_dir = ${q(p.netDir)}`,
    '    max_conf_num = 1',
    '',
  ].join('\n');
}

export interface Network {
  /** The CNI network's name: the bridge plugin's iptables comments carry it. */
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
}

export function conflist(p: CriPaths, net: Network): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: true,
        // Not promiscMode as well: the bridge plugin refuses the two together.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: join(p.dir, 'cni-ipam'),
          ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  }, null, 2);
}

/** crictl 1.32 warns on every call without a config file. */
export function crictlYaml(p: CriPaths): string {
  return [`runtime-endpoint: unix://${p.address}`, `image-endpoint: unix://${p.address}`, 'timeout: 300', 'debug: false', ''].join('\n');
}

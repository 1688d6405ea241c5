import { networkMode } from '../src/oci/network-mode.js';
import { describe, expect, test } from 'vitest';
import { accelRequest, chooseAccel, probeHost } from '../src/host/accel.js';
import { cgroupDirs, hierarchies, limitFiles } from '../src/host/cgroups.js';
import { parseNetwork } from '../src/host/network.js';
import { parseSignal } from '../src/host/signals.js';
import { guestPlan, withSubmounts } from '../src/oci/guest-plan.js';
import { submountsOf } from '../src/host/bind-mounts.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { unhonouredFields } from '../src/oci/unhonoured.js';
import type { Spec } from '../src/generated/config.js';
import { mountArgs } from '../guest-agent/mounts.js';
import { processFlags } from '../guest-agent/process-flags.js';
import { networkScript } from '../guest-agent/network.js';
import { cpuList } from '../guest-agent/cpus.js';

const usable = { kvmDevice: true, hardwareFlags: true, pvm: false };

describe('accelerator', () => {
  test('auto picks KVM only where hardware virtualization is really usable', () => {
    expect(chooseAccel('auto', usable).accel).toBe('kvm');
    expect(chooseAccel('auto', { ...usable, kvmDevice: false })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/\/dev\/kvm/) });
    expect(chooseAccel('auto', { ...usable, hardwareFlags: false })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/vmx or svm/) });
    expect(chooseAccel('auto', { ...usable, pvm: true })).toMatchObject({ accel: 'tcg', reason: expect.stringMatching(/PVM/) });
  });

  test('an explicit choice wins', () => {
    expect(chooseAccel('tcg', usable).accel).toBe('tcg');
    expect(chooseAccel('kvm', { kvmDevice: false, hardwareFlags: false, pvm: false }).accel).toBe('kvm');
  });

  test('--accel beats VMRUN_ACCEL, which beats auto; a bad value names its source', () => {
    expect(accelRequest(undefined, undefined)).toBe('auto');
    expect(accelRequest(undefined, 'tcg')).toBe('tcg');
    expect(accelRequest('kvm', 'tcg')).toBe('kvm');
    expect(() => accelRequest('fast', undefined)).toThrow(/--accel: accelerator must be auto, kvm or tcg, not "fast"/);
    expect(() => accelRequest(undefined, 'hvf')).toThrow(/VMRUN_ACCEL/);
  });

  test('on this machine auto says TCG: /dev/kvm here is the PVM kind', () => {
    // The machines this project runs on (see PLATFORM.md) have no vmx/svm flag.
    expect(chooseAccel('auto', probeHost()).accel).toBe('tcg');
  });
});

describe("the guest's CPU lists", () => {
  test('reads the kernel\'s ranges', () => {
    expect(cpuList('0\n')).toEqual([0]);
    expect(cpuList('0-2,5\n')).toEqual([0, 1, 2, 5]);
    expect(cpuList('\n')).toEqual([]);
  });
});

describe('signals', () => {
  test.each([['9', 9], ['KILL', 9], ['SIGKILL', 9], ['term', 15], ['SIGUSR1', 10], ['64', 64]])('%s is %d', (name, n) => {
    expect(parseSignal(name)).toBe(n);
  });
  test.each(['0', '65', 'SIGNOPE', '', '-1'])('%j is refused', (name) => {
    expect(() => parseSignal(name)).toThrow(/invalid signal/);
  });
});

describe('guest plan', () => {
  test("carries the process, hostname and runc's default mounts", () => {
    const spec = defaultSpec();
    spec.mounts!.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] });
    const { plan, binds, ignored } = guestPlan(spec, '/bundle');
    expect(plan.hostname).toBe('vmrun');
    expect(plan.rootfs).toEqual({ tag: 'rootfs', readonly: true });
    expect(plan.process).toMatchObject({ args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } });
    expect(plan.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/data']);
    expect(ignored).toEqual([]);
    // The bind travels through the binds share: the guest sees its name, never the host path.
    expect(plan.mounts[7]).toEqual({ destination: '/data', type: 'bind', source: '7', share: 'binds', options: ['rbind', 'ro'] });
    expect(binds).toEqual([{ field: '/mounts/7', name: '7', source: '/srv/data', recursive: true, readonly: true }]);
    expect(plan.maskedPaths).toContain('/proc/kcore'); // runc's defaults
    expect(plan.readonlyPaths).toContain('/proc/sys');
  });

  test("becomes vmrun-exec's process flags: user, groups, umask, limits, capabilities", () => {
    const spec = defaultSpec();
    spec.process.user = { uid: 1000, gid: 100, additionalGids: [5, 6], umask: 0o27 };
    spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }, { type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 }];
    spec.process.capabilities = { bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NOPE'], ambient: ['CAP_NET_BIND_SERVICE'] };
    spec.process.noNewPrivileges = true;
    spec.process.oomScoreAdj = -17;
    const { plan, ignored } = guestPlan(spec);
    expect(ignored).toEqual(["/process/capabilities/bounding/3 (CAP_NOPE is not a capability the guest's kernel knows)"]);
    expect(processFlags(plan.process)).toEqual([
      '--cwd', '/', '--uid', '1000', '--gid', '100', '--groups', '5,6', '--umask', '23',
      '--rlimit', '7:100:200', '--rlimit', '4:0:unlimited',
      '--caps', '421:0:0:0:400', '--no-new-privileges', '--oom-score-adj', '-17',
    ]);
    // Without a capabilities object the process keeps what root has, as under runc.
    const bare = defaultSpec();
    delete bare.process.capabilities;
    expect(processFlags(guestPlan(bare).plan.process)).not.toContain('--caps');
  });

  test('binds a relative source from the bundle, and makes a bind of a bind-typed mount', () => {
    const spec = defaultSpec();
    spec.mounts = [{ destination: '/etc/hosts', type: 'bind', source: 'hosts' }];
    const { plan, binds } = guestPlan(spec, '/srv/bundle');
    expect(binds[0]).toMatchObject({ source: '/srv/bundle/hosts', recursive: false, readonly: false });
    expect(mountArgs(plan, true).slice(0, 10)).toEqual([
      '--mount', 'virtiofs', 'binds', '/run/vmrun/shares/binds', '',
      '--mount', 'bind', '/run/vmrun/shares/binds/0', '/container/etc/hosts', 'bind',
    ]);
  });

  test('carries sysctl, devices, read-only and masked paths to the guest', () => {
    const spec = defaultSpec();
    spec.linux!.sysctl = { 'kernel.msgmax': '4096' };
    spec.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/p', type: 'p', fileMode: 0o600, uid: 7, gid: 8 }];
    spec.linux!.maskedPaths = ['/secret'];
    spec.linux!.readonlyPaths = ['/data'];
    const { plan } = guestPlan(spec);
    expect(plan.sysctl).toEqual({ 'kernel.msgmax': '4096' });
    const args = mountArgs(plan, true);
    expect(args.slice(args.indexOf('--readonly-root') + 1)).toEqual([
      '--device', '/dev/fuse:c:10:229:666:0:0', '--device', '/dev/p:p:0:0:600:7:8',
      '--readonly-path', '/data', '--mask', '/secret',
    ]);
  });

  test('carries linux.rootfsPropagation and the mount extensions to vmrun-exec', () => {
    const spec = defaultSpec();
    spec.linux!.rootfsPropagation = 'rshared';
    spec.mounts!.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['rprivate', 'tmpcopyup'] });
    const { plan } = guestPlan(spec);
    expect(plan.rootfs).toEqual({ tag: 'rootfs', readonly: true, propagation: 'rshared' });
    const args = mountArgs(plan, true);
    expect(args.slice(args.indexOf('--root-propagation'), args.indexOf('--root-propagation') + 2)).toEqual(['--root-propagation', 'rshared']);
    expect(args[args.indexOf('/container/run') + 1]).toBe('rprivate,tmpcopyup');
  });

  test("a recursive bind's host submounts are bound again below it, with their flags and its recursive options", () => {
    const dir = '/run/vmrun-vm/abc/shares/binds';
    const mountinfo = [
      `90 80 0:40 / ${dir}/0 ro,relatime - ext4 /dev/vda rw`,
      `91 90 0:41 / ${dir}/0/in\\040ner rw,nosuid,relatime - tmpfs tmpfs rw`,
      `92 91 0:42 / ${dir}/0/in\\040ner/deep ro,nodev - tmpfs tmpfs rw`,
      `93 80 0:43 / ${dir}/1/sub rw - tmpfs tmpfs rw`,
      `94 80 0:44 / ${dir}/10/other rw - tmpfs tmpfs rw`,
    ].join('\n');
    const subs = submountsOf(mountinfo, dir, new Set(['0', '10']));
    expect(subs).toEqual([
      { name: '0', path: 'in ner', options: ['nosuid'] },
      { name: '0', path: 'in ner/deep', options: ['ro', 'nodev'] },
      { name: '10', path: 'other', options: [] },
    ]);
    const bind = { destination: '/data/', type: 'bind', source: '0', share: 'binds', options: ['rbind', 'ro', 'rro', 'rshared', 'private'] };
    expect(withSubmounts([bind], subs)).toEqual([bind,
      { destination: '/data/in ner', type: 'bind', source: '0/in ner', share: 'binds', options: ['bind', 'nosuid', 'rro', 'rshared'] },
      { destination: '/data/in ner/deep', type: 'bind', source: '0/in ner/deep', share: 'binds', options: ['bind', 'ro', 'nodev', 'rro', 'rshared'] },
    ]);
  });

  test("becomes vmrun-exec's mount flags, in order, with the devices of /dev", () => {
    const spec = defaultSpec();
    spec.mounts = [{ destination: "/it's", type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, ...spec.mounts!];
    const plan = guestPlan(spec).plan;
    const args = mountArgs(plan, false);
    expect(args.slice(0, 10)).toEqual(['--mount', 'virtiofs', 'rootfs', '/container', '', '--mount', 'tmpfs', 'tmpfs', "/container/it's", 'size=1m']);
    expect(args.indexOf('/container/proc')).toBeLessThan(args.indexOf('/container/dev'));
    expect(args[args.indexOf('/container/dev') + 2]).toBe('--devices');
    expect(args).toContain('cgroup2');
    expect(args).toContain('--readonly-root');
    expect(mountArgs(plan, true)[1]).toBe('tmpfs'); // init.sh mounted the rootfs share already
  });
});

describe('fields vmrun does not apply', () => {
  test("are named with the reason, and runc's default spec (a terminal) has none of them", () => {
    expect(unhonouredFields(defaultSpec())).toEqual([]);
    const spec = defaultSpec() as Spec & { linux: Record<string, unknown>; process: Record<string, unknown> };
    spec.process.apparmorProfile = 'docker-default';
    spec.linux.intelRdt = { closID: 'x' };
    spec.linux.resources = { blockIO: { weight: 10 }, memory: { limit: 1 << 28 } } as never;
    spec.linux.namespaces = [{ type: 'network', path: '/var/run/netns/x' }, { type: 'ipc', path: '/proc/1/ns/ipc' }];
    expect(unhonouredFields(spec)).toEqual([
      '/process/apparmorProfile (the guest kernel has no such policy loaded)',
      '/linux/intelRdt (the guest has no RDT)',
      '/linux/resources/blockIO (not applied yet)',
      "/linux/namespaces/1/path (a host namespace, which means nothing in the guest: the container shares the guest's ipc namespace)",
    ]);
  });

  test("runtime-spec 1.3's new fields are named; an unset default (0, false) is not", () => {
    const spec = defaultSpec() as Spec & { linux: Record<string, unknown>; process: Record<string, unknown>; vm?: unknown };
    spec.process.execCPUAffinity = { initial: '0' };
    spec.linux.netDevices = { eth1: {} };
    spec.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' };
    spec.linux.intelRdt = { schemata: ['L3:0=ff'] };
    spec.linux.resources = { cpu: { idle: 0, burst: 1000 }, memory: { disableOOMKiller: false } } as never;
    spec.mounts!.push({ destination: '/m', type: 'bind', source: '/tmp', uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] } as never);
    spec.vm = { hwConfig: { vcpus: 2 } };
    expect(unhonouredFields(spec).map((f) => f.split(' ')[0])).toEqual([
      '/process/execCPUAffinity', '/linux/intelRdt', '/linux/resources/cpu/burst', '/linux/memoryPolicy',
      '/linux/netDevices', '/vm', '/mounts/7/uidMappings',
    ]);
  });
});


describe('host cgroups', () => {
  const mountinfo = [
    '30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory',
    '31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct',
    '32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw',
  ].join('\n');

  test('a hybrid host uses its v1 hierarchies, and a path is taken from their roots', () => {
    const all = hierarchies(mountinfo);
    expect(all.map((h) => [h.mountPoint, h.controllers])).toEqual([
      ['/sys/fs/cgroup/memory', ['memory']], ['/sys/fs/cgroup/cpu,cpuacct', ['cpu', 'cpuacct']],
    ]);
    expect(cgroupDirs('a/b/../c', all)).toEqual(['/sys/fs/cgroup/memory/a/c', '/sys/fs/cgroup/cpu,cpuacct/a/c']);
    expect(() => cgroupDirs('/', all)).toThrow(/\/linux\/cgroupsPath: "\/" names the root cgroup/);
  });

  test("writes each limit in the hierarchy of its controller, in v1's or v2's files", () => {
    const limits = { memoryBytes: 1 << 30, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 1024, cpus: '0-1' };
    const [memory, cpu] = hierarchies(mountinfo);
    expect(limitFiles(memory!, { ...limits, pids: 300 })).toEqual([['memory.limit_in_bytes', String(1 << 30)]]);
    expect(limitFiles({ mountPoint: '/sys/fs/cgroup/pids', controllers: ['pids'], version: 1 }, { pids: 300 })).toEqual([['pids.max', '300']]);
    expect(limitFiles(cpu!, limits)).toEqual([['cpu.cfs_period_us', '100000'], ['cpu.cfs_quota_us', '50000'], ['cpu.shares', '1024']]);
    const v2 = { mountPoint: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'memory', 'pids'], version: 2 as const };
    expect(limitFiles(v2, limits)).toEqual([['memory.max', String(1 << 30)], ['cpu.max', '50000 100000'], ['cpu.weight', '39'], ['cpuset.cpus', '0-1']]);
  });
});

describe("a namespace's network, carried into the guest", () => {
  test('takes its Ethernet interfaces but the taps, their global addresses, and the routes the kernel did not derive', () => {
    const links = [
      { ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [] },
      { ifname: 'eth0', link_type: 'ether', address: '02:42:ac:11:00:02', mtu: 1450, addr_info: [
        { family: 'inet', local: '172.17.0.2', prefixlen: 16, scope: 'global' },
        { family: 'inet6', local: 'fe80::42:acff:fe11:2', prefixlen: 64, scope: 'link' },
      ] },
      { ifname: 'vm0123456789', link_type: 'ether', address: 'fe:54:00:00:00:01', mtu: 1500, addr_info: [] },
    ];
    const routes = [
      { dst: 'default', gateway: '172.17.0.1', dev: 'eth0' },
      { dst: '172.17.0.0/16', dev: 'eth0', protocol: 'kernel' },
    ];
    expect(parseNetwork(links, routes, 'vm0123456789'.slice(0, 12))).toEqual({
      interfaces: [{ name: 'eth0', mac: '02:42:ac:11:00:02', mtu: 1450, addresses: ['172.17.0.2/16'] }],
      routes: [{ destination: 'default', gateway: '172.17.0.1', interface: 'eth0' }],
    });
  });

  test("finds each guest card by its MAC and names it after the namespace's interface", () => {
    const script = networkScript([{ name: 'eth0', mac: '02:42:ac:11:00:02', mtu: 1450, addresses: ['172.17.0.2/16'] }],
      [{ destination: 'default', gateway: '172.17.0.1', interface: 'eth0' }]);
    expect(script).toContain("grep -l '^02:42:ac:11:00:02$' /sys/class/net/*/address");
    expect(script).toContain('ip link set dev vmrun-nic0 name eth0 mtu 1450');
    expect(script).toContain('ip addr add 172.17.0.2/16 dev eth0');
    expect(script.trim().split('\n').at(-1)).toBe('ip route add default via 172.17.0.1 dev eth0');
  });
});

describe('the network of a container', () => {
  const spec = (annotations: Record<string, string>, ns = true) =>
    ({ ...defaultSpec(), annotations, linux: { namespaces: ns ? [{ type: 'network', path: '/var/run/netns/pod' }] : [] } }) as Spec;
  test("is its namespace's, a CRI pod's sandbox's too", () => {
    expect(networkMode(spec({}))).toBe('namespace');
    expect(networkMode(spec({ 'io.kubernetes.cri.container-type': 'container' }))).toBe('namespace');
    // A pod's sandbox boots the pod's VM, which carries the pod's network.
    expect(networkMode(spec({ 'io.kubernetes.cri.container-type': 'sandbox' }))).toBe('namespace');
    expect(networkMode(spec({ 'vmrun.network': 'user' }, false))).toBe('user');
  });
});

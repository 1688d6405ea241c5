// config.json's process and linux fields, as the container's process sees them in its guest.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();


/** The lines of `report` that start with `key:` (busybox's tools print them that way or are made to). */
function field(report: string, key: string): string | undefined {
  return report.split('\n').find((l) => l.startsWith(`${key}:`))?.slice(key.length + 1).trim();
}

describe("the container's process", () => {
  test('runs as the user, groups, umask, limits, capabilities and paths config.json gives', async () => {
    const script = [
      'echo "uid: $(id -u)"; echo "gid: $(id -g)"; echo "groups: $(id -G)"',
      'echo "umask: $(umask)"; echo "pwd: $(pwd)"; echo "home: $HOME"',
      "grep -E '^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs):' /proc/self/status",
      'echo "nofile: $(grep "Max open files" /proc/self/limits | tr -s " " | cut -d" " -f4,5)"',
      'echo "core: $(grep "Max core file size" /proc/self/limits | tr -s " " | cut -d" " -f5,6)"',
      'echo "oom: $(cat /proc/self/oom_score_adj)"; echo "msgmax: $(cat /proc/sys/kernel/msgmax)"',
      'echo "hostname: $(hostname)"; echo "domainname: $(cat /proc/sys/kernel/domainname)"',
      'echo "kcore: $(wc -c < /proc/kcore)"; echo "secret: $(ls /secret | wc -l)"',
      'touch /data/x 2>/dev/null && echo "data: writable" || echo "data: read-only"',
      'touch /scratch/x && echo "scratch: writable"',
      'echo "device: $(stat -c "%t:%T %a %u %g" /dev/mynull)"',
    ].join('\n');
    const bundle = await vm.bundle('sh', '-c', script);
    const rootfs = join(bundle, 'rootfs');
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
    for (const dir of ['data', 'scratch', 'secret']) {
      await mkdir(join(rootfs, dir));
      await chown(join(rootfs, dir), 1000, 1000);
      await chmod(join(rootfs, dir), 0o777);
    }
    await writeFile(join(rootfs, 'secret/key'), 'hidden');
    await editConfig(bundle, (spec) => {
      spec.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 6], umask: 0o027 };
      spec.process.env = ['PATH=/bin']; // no HOME: it comes from /etc/passwd, as under runc
      spec.process.cwd = '/work/new'; // missing: made, as runc does
      spec.process.rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 },
        { type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 },
      ];
      const bind = ['CAP_NET_BIND_SERVICE'];
      spec.process.capabilities = { bounding: ['CAP_CHOWN', 'CAP_KILL', ...bind], effective: bind, permitted: bind, inheritable: bind, ambient: bind };
      spec.process.noNewPrivileges = true;
      spec.process.oomScoreAdj = 500;
      spec.hostname = 'box1';
      spec.domainname = 'example.org';
      spec.linux!.sysctl = { 'kernel.msgmax': '4096' };
      spec.linux!.maskedPaths = [...(spec.linux!.maskedPaths ?? []), '/secret', '/not/there'];
      spec.linux!.readonlyPaths = [...(spec.linux!.readonlyPaths ?? []), '/data'];
      spec.linux!.devices = [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o620, uid: 1000, gid: 5 }];
      (spec.linux as Record<string, unknown>).intelRdt = { closID: 'x' };
    });

    // What vmrun leaves out is said once, naming the field: never a silent difference. Without
    // --log, stderr (which may be the container's) says it only with --debug.
    const r = await vm.vmrun(['--debug', 'run', '--bundle', bundle, 'p1']);
    expect(r.stderr.split('\n').filter((l) => l.includes('level=warning'))).toEqual([expect.stringMatching(/level=warning msg=.*\/linux\/intelRdt \(the guest has no RDT/)]);
    expect(r.exitCode).toBe(0);
    const out = r.stdout;
    expect(field(out, 'uid')).toBe('1000');
    expect(field(out, 'gid')).toBe('1000');
    expect(field(out, 'groups')?.split(' ').sort()).toEqual(['1000', '5', '6']);
    expect(field(out, 'umask')).toBe('0027');
    expect(field(out, 'pwd')).toBe('/work/new');
    expect(field(out, 'home')).toBe('/home/app');
    // CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10; only the ambient one survives the exec.
    expect(field(out, 'CapBnd')).toBe('0000000000000421');
    for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb']) expect(field(out, set)).toBe('0000000000000400');
    expect(field(out, 'NoNewPrivs')).toBe('1');
    expect(field(out, 'nofile')).toBe('100 200');
    expect(field(out, 'core')).toBe('0 unlimited');
    expect(field(out, 'oom')).toBe('500');
    expect(field(out, 'msgmax')).toBe('4096');
    expect(field(out, 'hostname')).toBe('box1');
    expect(field(out, 'domainname')).toBe('example.org');
    expect(field(out, 'kcore')).toBe('0'); // runc's default masked paths
    expect(field(out, 'secret')).toBe('0');
    expect(field(out, 'data')).toBe('read-only');
    expect(field(out, 'scratch')).toBe('writable');
    expect(field(out, 'device')).toBe('1:3 620 1000 5');
  });

  test('as root with narrowed capabilities and no_new_privs keeps only its permitted set; a read-only root', async () => {
    const bundle = await vm.bundle('sh', '-c', "grep -E '^Cap(Eff|Bnd):' /proc/self/status; echo \"home: $HOME\"; touch /x 2>/dev/null || echo 'root: read-only'");
    await editConfig(bundle, (spec) => {
      spec.root.readonly = true;
      spec.process.env = ['PATH=/bin'];
      spec.process.capabilities = { bounding: ['CAP_CHOWN', 'CAP_SETUID'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] };
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'p2']);
    expect(r.exitCode).toBe(0);
    // Root's exec would gain its bounding set, but runc's default noNewPrivileges keeps the
    // permitted set to what it was: the kernel's rules, the same under runc.
    expect(field(r.stdout, 'CapBnd')).toBe('0000000000000081');
    expect(field(r.stdout, 'CapEff')).toBe('0000000000000001');
    expect(field(r.stdout, 'home')).toBe('/root');
    expect(field(r.stdout, 'root')).toBe('read-only');
  });

  test('1 MiB of env in many strings, and an arg near the 128 KiB a string may have, reach the process whole', async () => {
    // As execve takes them, and runc with them: the plan is more than one frame of the agent channel.
    const big = Array.from({ length: 256 }, (_, i) => `BIG${String(i).padStart(3, '0')}=${String.fromCharCode(97 + (i % 26)).repeat(4089)}`);
    const arg = 'q'.repeat(120 * 1024);
    const script = 'echo "vars: $(env | grep -c ^BIG)"; echo "bytes: $(env | grep ^BIG | wc -c)"; echo "arg: ${#1}"; echo "last: $BIG255"';
    const bundle = await vm.bundle('sh', '-c', script, 'sh', arg);
    await editConfig(bundle, (spec) => {
      spec.process.env = ['PATH=/bin', ...big];
    });
    const r = await vm.vmrun(['run', '--bundle', bundle, 'p3']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(big.reduce((n, e) => n + e.length, 0)).toBeGreaterThanOrEqual(1024 * 1024);
    expect(field(r.stdout, 'vars')).toBe('256');
    expect(field(r.stdout, 'bytes')).toBe(String(big.reduce((n, e) => n + e.length + 1, 0)));
    expect(field(r.stdout, 'arg')).toBe(String(arg.length));
    expect(field(r.stdout, 'last')).toBe(big[255]!.slice('BIG255='.length));
  });
});

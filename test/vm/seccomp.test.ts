// linux.seccomp in the guest: the same bundle under Debian's runc and under vmrun must meet the
// same system call filter, for the container's process and for exec'd ones.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Seccomp } from '../../src/generated/config.js';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();
const ARCHS: Seccomp['architectures'] = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
const STATUS = 'grep -E "^(NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status';

/** mkdir denied (EPERM by default), rmdir with ENOSYS, personality only for PER_LINUX32. */
const DENY_SOME: Seccomp = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ARCHS,
  syscalls: [
    { names: ['mkdir', 'mkdirat', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO' },
    { names: ['rmdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
  ],
};
const TRY_SOME = [
  'mkdir /tmp/d 2>&1; echo "mkdir $?"',
  'rmdir /tmp 2>&1; echo "rmdir $?"',
  'linux32 true 2>&1; echo "linux32 $?"',
  'linux64 true 2>&1; echo "linux64 $?"',
  'touch /tmp/f && echo "touch ok"',
  STATUS,
].join('\n');

/**
 * A profile shaped as Docker's default is after the engine resolved it: the default denies with
 * EPERM, and a long allow list (every x86_64 system call but those Docker leaves out), with
 * personality and clone allowed only for some arguments and clone3 failing with ENOSYS.
 */
function dockerLikeProfile(): Seccomp {
  const left = new Set(['acct', 'add_key', 'bpf', 'clock_settime', 'create_module', 'delete_module', 'finit_module',
    'get_kernel_syms', 'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl',
    'lookup_dcookie', 'mount', 'move_mount', 'nfsservctl', 'open_by_handle_at', 'open_tree', 'perf_event_open',
    'personality', 'pivot_root', 'query_module', 'quotactl', 'reboot', 'request_key', 'setns', 'settimeofday',
    'swapoff', 'swapon', 'syslog', '_sysctl', 'sysfs', 'umount2', 'unshare', 'uselib', 'userfaultfd', 'ustat',
    'vhangup', 'clone', 'clone3', 'fsopen', 'fsmount', 'fsconfig', 'fspick', 'afs_syscall', 'tuxcall', 'security',
    'vserver', 'putpmsg', 'getpmsg']);
  const header = readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8');
  const all = [...header.matchAll(/^#define __NR_(\w+) \d+$/gm)].map((m) => m[1]!);
  const allowed = all.filter((n) => !left.has(n));
  expect(allowed.length).toBeGreaterThan(300);
  const personality = [0, 8, 131072, 131080, 4294967295].map((value) => ({
    names: ['personality'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value, op: 'SCMP_CMP_EQ' as const }],
  }));
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ARCHS,
    syscalls: [
      { names: allowed, action: 'SCMP_ACT_ALLOW' },
      ...personality,
      // No namespace flags (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP): Docker's mask.
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };
}
const UNDER_DOCKER = [
  'echo hello > /tmp/f && cat /tmp/f',
  'ls /bin | wc -l',
  'id',
  '(echo from a subshell) | cat',
  'sleep 0 & wait $! && echo "waited"',
  'linux32 true 2>&1; echo "linux32 $?"',
  'unshare -u true 2>&1; echo "unshare $?"',
  'mount -t tmpfs t /mnt 2>&1; echo "mount $?"',
  STATUS,
].join('\n');

async function bundleWith(seccomp: Seccomp, args: string[], edit: Parameters<typeof editConfig>[1] = () => undefined): Promise<string> {
  const bundle = await vm.bundle(...args);
  await editConfig(bundle, (spec) => {
    spec.linux!.seccomp = seccomp;
    edit(spec);
  });
  return bundle;
}

/** Runs the bundle under runc in the foreground; its stdout, and the status it exited with. */
function underRunc(bundle: string, id: string, root: string): { stdout: string; status: number | null } {
  const r = spawnSync('runc', ['--root', root, 'run', '--bundle', bundle, id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { stdout: r.stdout.trimEnd(), status: r.status };
}

describe('linux.seccomp', () => {
  test('denies mkdir with EPERM, rmdir with its errnoRet and personality for one argument, as runc does', async () => {
    const runcRoot = await mkdtemp(join(tmpdir(), 'vmrun-seccomp-runc-'));
    const runc = underRunc(await bundleWith(DENY_SOME, ['sh', '-c', TRY_SOME]), 'sc-runc1', runcRoot);
    const r = await vm.vmrun(['run', '--bundle', await bundleWith(DENY_SOME, ['sh', '-c', TRY_SOME]), 'sc1']);
    expect(r.stderr).toBe(''); // nothing of the profile is left out
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(runc.stdout.split('\n'));
    expect(r.stdout.split('\n')).toEqual([
      "mkdir: can't create directory '/tmp/d': Operation not permitted",
      'mkdir 1',
      "rmdir: '/tmp': Function not implemented",
      'rmdir 1',
      'linux32: personality(0x8): Operation not permitted',
      'linux32 1',
      'linux64 0',
      'touch ok',
      'NoNewPrivs:\t1',
      'Seccomp:\t2',
      'Seccomp_filters:\t1',
    ]);
  });

  test('an exec gets the container\'s filter too, also without no_new_privs', async () => {
    const noNnp: Parameters<typeof editConfig>[1] = (spec) => { spec.process.noNewPrivileges = false; };
    const check = ['sh', '-c', `mkdir /tmp/e 2>&1; ${STATUS}; grep -E "^Seccomp:" /proc/$(pidof sleep)/status`];

    const runcRoot = await mkdtemp(join(tmpdir(), 'vmrun-seccomp-runc-'));
    const runcBundle = await bundleWith(DENY_SOME, ['sleep', '1000'], noNnp);
    execFileSync('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', runcBundle, 'sc-runc2'], { stdio: 'ignore' });
    let runcExec: string;
    try {
      runcExec = execFileSync('runc', ['--root', runcRoot, 'exec', 'sc-runc2', ...check], { encoding: 'utf8' }).trimEnd();
    } finally {
      execFileSync('runc', ['--root', runcRoot, 'delete', '--force', 'sc-runc2']);
    }

    // runc 1.1 refuses flags (1.2 sets them); vmrun sets these two, with the same outcome here.
    const flagged = { ...DENY_SOME, flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] };
    const bundle = await bundleWith(flagged, ['sleep', '1000'], noNnp);
    expect((await vm.vmrun(['create', '--bundle', bundle, 'sc2'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'sc2'])).exitCode).toBe(0);
    const r = await vm.vmrun(['exec', 'sc2', ...check]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(runcExec.split('\n'));
    expect(r.stdout.split('\n')).toEqual([
      "mkdir: can't create directory '/tmp/e': Operation not permitted",
      'NoNewPrivs:\t0',
      'Seccomp:\t2',
      'Seccomp_filters:\t1',
      'Seccomp:\t2', // the container's own process
    ]);
    expect((await vm.vmrun(['delete', '--force', 'sc2'])).exitCode).toBe(0);
  });

  test("a shell runs under a profile shaped as Docker's default, as under runc", async () => {
    const profile = dockerLikeProfile();
    const caps = ['CAP_SYS_ADMIN', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_SETUID', 'CAP_SETGID'];
    // With CAP_SYS_ADMIN, only the filter stands between the shell and unshare or mount.
    const edit: Parameters<typeof editConfig>[1] = (spec) => { spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps }; };
    const runcRoot = await mkdtemp(join(tmpdir(), 'vmrun-seccomp-runc-'));
    const runc = underRunc(await bundleWith(profile, ['sh', '-c', UNDER_DOCKER], edit), 'sc-runc3', runcRoot);
    expect(runc.status).toBe(0);
    const r = await vm.vmrun(['run', '--bundle', await bundleWith(profile, ['sh', '-c', UNDER_DOCKER], edit), 'sc3']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(runc.stdout.split('\n'));
    expect(r.stdout).toMatch(/^hello$/m);
    expect(r.stdout).toMatch(/^from a subshell$/m);
    expect(r.stdout).toMatch(/^waited$/m);
    expect(r.stdout).toMatch(/^linux32 0$/m);
    expect(r.stdout).toMatch(/^unshare: unshare\(0x4000000\): Operation not permitted\nunshare 1$/m);
    expect(r.stdout).toMatch(/^mount: permission denied \(are you root\?\)\nmount 1$/m); // busybox's EPERM
  });

  test('features names what runc names, but SCMP_ACT_NOTIFY', async () => {
    const ours = JSON.parse((await vm.vmrun(['features'])).stdout).linux.seccomp;
    const runc = JSON.parse(execFileSync('runc', ['features'], { encoding: 'utf8' })).linux.seccomp;
    expect(ours.enabled).toBe(true);
    expect(ours.actions).toEqual(runc.actions.filter((a: string) => a !== 'SCMP_ACT_NOTIFY'));
    expect(ours.operators).toEqual(runc.operators);
    expect(ours.archs).toEqual(expect.arrayContaining(runc.archs));
  });
});

import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadBundle } from '../src/oci/bundle.js';
import type { ErrorCode } from '../src/errors.js';
import { tempDir, vmrun } from './helpers/cli.js';
import { makeBundle } from './helpers/bundle.js';

const MARK = 'NOT-TEXT-HERE';

/** A bundle whose config.json has these bytes where the change put MARK. */
async function withBytes(change: Parameters<typeof makeBundle>[0], bytes: Buffer): Promise<string> {
  const dir = await makeBundle(change);
  const file = join(dir, 'config.json');
  const text = await readFile(file);
  const at = text.indexOf(MARK);
  await writeFile(file, Buffer.concat([text.subarray(0, at), bytes, text.subarray(at + MARK.length)]));
  return dir;
}

type Breakage = [name: string, code: ErrorCode, make: () => Promise<string>, says: RegExp];

const broken: Breakage[] = [
  ['missing bundle directory', 'BundleNotFound', async () => join(await tempDir(), 'nope'), /bundle .*nope does not exist/],
  ['bundle that is a file', 'BundleNotFound', async () => {
    const file = join(await tempDir(), 'file');
    await writeFile(file, '');
    return file;
  }, /bundle .*file is not a directory/],
  ['missing config.json', 'ConfigNotFound', async () => tempDir(), /config\.json does not exist/],
  ['unreadable config.json', 'ConfigUnreadable', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'config.json'));
    return dir;
  }, /config\.json cannot be read: .*EISDIR/],
  ['invalid JSON', 'ConfigSyntax', async () => {
    const dir = await makeBundle();
    await writeFile(join(dir, 'config.json'), '{\n  "ociVersion": "1.2.0",\n  "root": }\n');
    return dir;
  }, /invalid JSON at line 3, column 11: value expected/],
  ['config that ends early', 'ConfigSyntax', async () => {
    const dir = await makeBundle();
    await writeFile(join(dir, 'config.json'), '{\n  "ociVersion": "1.2.0",\n');
    return dir;
  }, /invalid JSON at line 3, column 1: property name expected/],
  ['unsupported ociVersion', 'UnsupportedVersion', () => makeBundle((s) => { s.ociVersion = '2.0.0'; }),
    /\/ociVersion: unsupported runtime-spec version "2\.0\.0"/],
  ['empty process.args', 'ConfigInvalid', () => makeBundle((s) => { s.process.args = [] as never; }),
    /\/process\/args: must NOT have fewer than 1 items/],
  ['missing process.cwd', 'ConfigInvalid', () => makeBundle((s) => { delete (s.process as { cwd?: string }).cwd; }),
    /\/process\/cwd: is required/],
  ['missing root', 'ConfigInvalid', () => makeBundle((s) => { delete (s as { root?: unknown }).root; }),
    /\/root: is required/],
  ['relative mount destination', 'ConfigInvalid', () => makeBundle((s) => { s.mounts![0]!.destination = 'proc'; }),
    /\/mounts\/0\/destination: must match pattern/],
  ['env entry without =', 'ConfigInvalid', () => makeBundle((s) => { s.process.env = ['PATH']; }),
    /\/process\/env\/0: must match pattern/],
  ['negative uid', 'ConfigInvalid', () => makeBundle((s) => { s.process.user!.uid = -1; }),
    /\/process\/user\/uid: must be >= 0/],
  ['hostname of the wrong type', 'ConfigInvalid', () => makeBundle((s) => { (s as { hostname: unknown }).hostname = 7; }),
    /\/hostname: must be string/],
  ['unknown namespace type', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.namespaces![0]!.type = 'pidx' as never; }),
    /\/linux\/namespaces\/0\/type: must be one of pid, network/],
  ['duplicate namespace', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.namespaces!.push({ type: 'pid' }); }),
    /\/linux\/namespaces\/6\/type: duplicate namespace "pid"/],
  ['rlimit soft above hard', 'ConfigInvalid', () => makeBundle((s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }]; }),
    /\/process\/rlimits\/0: soft limit 10 exceeds hard limit 5/],
  ['unknown rlimit', 'ConfigInvalid', () => makeBundle((s) => { s.process.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]; }),
    /\/process\/rlimits\/0\/type: unknown rlimit "RLIMIT_FOO"/],
  ['sysctl name that leaves /proc/sys', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.sysctl = { '../../etc/x': '1' }; }),
    /\/linux\/sysctl\/..\/..\/etc\/x: not a sysctl name/],
  ['character device without numbers', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.devices = [{ path: '/dev/x', type: 'c' }]; }),
    /\/linux\/devices\/0: a "c" device needs major and minor/],
  ['unknown network choice', 'ConfigInvalid', () => makeBundle((s) => { s.annotations = { 'vmrun.network': 'bridge' }; }),
    /\/annotations\/vmrun.network: must be one of none, user/],
  ['relative hook path', 'ConfigInvalid', () => makeBundle((s) => { s.hooks = { prestart: [{ path: 'hook.sh' }] }; }),
    /\/hooks\/prestart\/0\/path: must match pattern/],
  ['annotation that is not a string', 'ConfigInvalid', () => makeBundle((s) => { s.annotations = { a: 1 as never }; }),
    /\/annotations\/a: must be string/],
  ['unknown seccomp action', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_DENY' as never }; }),
    /\/linux\/seccomp\/defaultAction: must be one of SCMP_ACT_KILL, /],
  ['seccomp rule with a bad operator', 'ConfigInvalid', () => makeBundle((s) => {
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_IS' as never }] }] };
  }), /\/linux\/seccomp\/syscalls\/0\/args\/0\/op: must be one of SCMP_CMP_NE, /],
  ['seccomp condition on a seventh argument', 'ConfigInvalid', () => makeBundle((s) => {
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] };
  }), /\/linux\/seccomp\/syscalls\/0\/args\/0\/index: must be <= 5/],
  ['unknown seccomp architecture', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80' as never] }; }),
    /\/linux\/seccomp\/architectures\/0: must be one of SCMP_ARCH_X86, /],
  ['SCMP_ACT_NOTIFY as the default', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY' }; }),
    /\/linux\/seccomp\/defaultAction: SCMP_ACT_NOTIFY cannot be the default action/],
  ['unknown seccomp flag', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'FLAG_X'] }; }),
    /\/linux\/seccomp\/flags\/1: unknown flag "FLAG_X"/],
  ['seccomp errnoRet beyond 16 bits', 'ConfigInvalid', () => makeBundle((s) => {
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] };
  }), /\/linux\/seccomp\/syscalls\/0\/errnoRet: 70000 does not fit the filter's 16 bits/],
  ['seccomp rule without names', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' } as never] }; }),
    /\/linux\/seccomp\/syscalls\/0\/names: is required/],
  ['ociVersion 1.4', 'UnsupportedVersion', () => makeBundle((s) => { s.ociVersion = '1.4.0'; }),
    /\/ociVersion: unsupported runtime-spec version "1\.4\.0" \(vmrun reads 1\.0\.x to 1\.3\.x\)/],
  // runc passes what it does not know to the filesystem as data, and the kernel refuses it.
  ['a tmpfs option no one knows', 'ConfigInvalid', () => makeBundle((s) => {
    s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup', 'sized=1m'] });
  }), /\/mounts\/7\/options\/2: unknown option "sized=1m" for a tmpfs mount/],
  ['defaults on a sysfs mount (runc passes it on as data)', 'ConfigInvalid', () => makeBundle((s) => {
    s.mounts!.find((m) => m.type === 'sysfs')!.options!.push('defaults');
  }), /\/mounts\/5\/options\/4: unknown option "defaults" for a sysfs mount/],
  ['more device rules than the guest verifier takes', 'ConfigInvalid', () => makeBundle((s) => {
    s.linux!.resources = { devices: Array.from({ length: 190 }, () => ({ allow: true, type: 'c', major: 1, minor: 3, access: 'r' })) };
  }), /\/linux\/resources\/devices: at most 189 rules and linux.devices together/],
  ['unknown rootfsPropagation', 'ConfigInvalid', () => makeBundle((s) => { s.linux!.rootfsPropagation = 'rsharedx'; }),
    /\/linux\/rootfsPropagation: unknown propagation "rsharedx"/],
  // Go's encoding/json (runc) reads these as U+FFFD and carries on.
  ['hostname that is not UTF-8', 'ConfigInvalid', () => withBytes((s) => { s.hostname = MARK; }, Buffer.from([0x61, 0xff, 0x62])),
    /config\.json is invalid: \/hostname: not UTF-8 text \(byte 0xff at byte offset \d+\)/],
  ['an arg with a character cut short', 'ConfigInvalid', () => withBytes((s) => { s.process.args = ['sh', MARK]; }, Buffer.from([0xe2, 0x82])),
    /\/process\/args\/1: not UTF-8 text \(byte 0xe2/],
  ['an annotation name that is not UTF-8', 'ConfigInvalid', () => withBytes((s) => { s.annotations = { [MARK]: 'v' }; }, Buffer.from([0xc0, 0xaf])),
    /\/annotations\/\uFFFD+ \(its name\): not UTF-8 text \(byte 0xc0/],
  ['a lone surrogate escape', 'ConfigInvalid', () => withBytes((s) => { s.process.env = ['A=x', MARK]; }, Buffer.from('B=\\ud800')),
    /\/process\/env\/1: a lone surrogate escape is not text/],
  ['missing rootfs', 'RootfsNotFound', async () => {
    const dir = await makeBundle();
    await rm(join(dir, 'rootfs'), { recursive: true });
    return dir;
  }, /rootfs .*rootfs \(\/root\/path\) does not exist/],
];

describe('vmrun validate rejects a broken bundle', () => {
  test.each(broken)('%s', async (_name, code, make, says) => {
    const bundle = await make();
    const root = join(await tempDir(), 'state');
    const r = await vmrun(['--root', root, 'validate', '--bundle', bundle]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(says);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    await expect(access(root)).rejects.toThrow(/ENOENT/);
    await expect(loadBundle(bundle)).rejects.toMatchObject({ code });
  });

  test('every problem of a config is listed, each with its JSON pointer', async () => {
    const bundle = await makeBundle((s) => {
      s.process.args = [] as never;
      s.process.cwd = 'relative';
    });
    const r = await vmrun(['validate', '--bundle', bundle]);
    expect(r.stderr).toMatch(/\/process\/args: must NOT have fewer than 1 items; \/process\/cwd: must match pattern/);
  });
});

describe('vmrun validate accepts', () => {
  test('the bundle vmrun spec writes, with a rootfs', async () => {
    const dir = await tempDir();
    expect((await vmrun(['spec'], { cwd: dir })).exitCode).toBe(0);
    await mkdir(join(dir, 'rootfs'));
    const r = await vmrun(['validate'], { cwd: dir });
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(r.stdout).toContain('valid bundle');
  });

  test('fields the spec allows and vmrun does not read', async () => {
    const bundle = await makeBundle((s) => ({
      ...s,
      ociVersion: '1.0.2-dev',
      process: { ...s.process, apparmorProfile: 'p', ioPriority: { class: 'IOPRIO_CLASS_IDLE' } },
      linux: { ...s.linux, seccomp: { defaultAction: 'SCMP_ACT_ALLOW' }, uidMappings: [] },
      vm: { hypervisor: { path: '/x' } },
    }));
    expect((await vmrun(['validate', '--bundle', bundle])).exitCode).toBe(0);
  });

  test("runtime-spec 1.3's fields, and mount options runc knows or a bind ignores", async () => {
    const bundle = await makeBundle((s) => ({
      ...s,
      ociVersion: '1.3.0',
      process: { ...s.process, execCPUAffinity: { initial: '0', final: '0-1' } },
      linux: {
        ...s.linux, rootfsPropagation: 'rslave', netDevices: { eth1: { name: 'eth1' } },
        memoryPolicy: { mode: 'MPOL_BIND', nodes: '0' }, intelRdt: { schemata: ['L3:0=ff'], enableMonitoring: true },
        resources: { pids: {} },
      },
      mounts: [...s.mounts!,
        { destination: '/a', type: 'tmpfs', source: 'tmpfs', options: ['rprivate', 'tmpcopyup', 'size=1m', 'mode=755', 'rro', 'nosymfollow'] },
        { destination: '/b', type: 'bind', source: '/tmp', options: ['rbind', 'rro', 'runbindable', 'anything=at-all'] },
      ],
      freebsd: { devices: [] },
    }));
    expect(await vmrun(['validate', '--bundle', bundle])).toMatchObject({ exitCode: 0, stderr: '' });
  });

  test('an absolute root.path', async () => {
    const rootfs = await tempDir();
    const bundle = await makeBundle((s) => { s.root.path = rootfs; });
    expect(await loadBundle(bundle)).toMatchObject({ dir: bundle, rootfs });
  });
});

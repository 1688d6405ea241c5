import { describe, expect, test } from 'vitest';
import { seccompText } from '../guest-agent/seccomp.js';
import { features } from '../src/cli/verbs/features.js';
import type { Seccomp, Spec } from '../src/generated/config.js';
import { checkAgentMessage } from '../src/schemas.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { guestPlan } from '../src/oci/guest-plan.js';
import { seccompPlan } from '../src/oci/seccomp.js';
import { unhonouredFields } from '../src/oci/unhonoured.js';

const withSeccomp = (seccomp: Seccomp): Spec => {
  const spec = defaultSpec();
  spec.linux!.seccomp = seccomp;
  return spec;
};

describe('linux.seccomp in the guest plan', () => {
  test('keeps the filter, with runc\'s EPERM for ERRNO and TRACE without errnoRet, and warns of nothing', () => {
    const spec = withSeccomp({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['ptrace'], action: 'SCMP_ACT_TRACE' },
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 10, op: 'SCMP_CMP_EQ' }] },
        { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS', errnoRet: 5 },
      ],
    });
    const { plan, ignored } = guestPlan(spec);
    expect(ignored).toEqual([]);
    expect(unhonouredFields(spec)).toEqual([]);
    expect(plan.seccomp).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [] },
        { names: ['ptrace'], action: 'SCMP_ACT_TRACE', errnoRet: 1, args: [] },
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 10, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS', args: [] }, // errnoRet means nothing there
      ],
    });
    // The plan crosses to the agent as a create request, which the schema checks.
    const request = { type: 'request', id: 1, op: 'create', plan, stdio: {} };
    expect(checkAgentMessage(request)).toMatchObject({ ok: true });
  });

  test('names what it cannot honour: NOTIFY rules fail with ENOSYS, the listener and agent-only flags are left out', () => {
    const ignored: string[] = [];
    const plan = seccompPlan({
      defaultAction: 'SCMP_ACT_ALLOW',
      defaultErrnoRet: 5,
      listenerPath: '/run/agent.sock',
      flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV', 'SECCOMP_FILTER_FLAG_TSYNC'],
      syscalls: [{ names: ['mknod', 'mknodat'], action: 'SCMP_ACT_NOTIFY' }],
    }, ignored);
    expect(plan).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW', // no errno for ALLOW
      architectures: [],
      flags: ['SECCOMP_FILTER_FLAG_TSYNC'],
      syscalls: [{ names: ['mknod', 'mknodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [] }],
    });
    expect(ignored).toEqual([
      '/linux/seccomp/listenerPath (vmrun has no seccomp agent to connect to)',
      '/linux/seccomp/flags/0 (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only matters to a seccomp agent, which vmrun has not)',
      '/linux/seccomp/syscalls/0/action (no seccomp agent listens: mknod, mknodat fail with ENOSYS, as the kernel fails them without one)',
    ]);
  });

  test('skips names that cannot be system calls, as libseccomp skips unknown ones', () => {
    const plan = seccompPlan({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir', 'bad name', '../x', ''], action: 'SCMP_ACT_ERRNO' }, { names: ['x y'], action: 'SCMP_ACT_ERRNO' }],
    });
    expect(plan.syscalls).toEqual([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [] }]);
  });
});

describe("the agent's filter file", () => {
  test('one directive a line, one rule per name, 64-bit values kept', () => {
    const text = seccompText(seccompPlan({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 18446744073709551615, op: 'SCMP_CMP_EQ' }, { index: 1, value: 1, valueTwo: 2, op: 'SCMP_CMP_LT' }] },
      ],
    }));
    expect(text).toBe([
      'default SCMP_ACT_ERRNO 38',
      'arch SCMP_ARCH_X86_64',
      'flag SECCOMP_FILTER_FLAG_SPEC_ALLOW',
      'syscall read SCMP_ACT_ALLOW 0',
      'syscall write SCMP_ACT_ALLOW 0',
      'syscall clone SCMP_ACT_ALLOW 0 0 SCMP_CMP_MASKED_EQ 2114060288 0',
      'syscall personality SCMP_ACT_ALLOW 0 0 SCMP_CMP_EQ 18446744073709551615 0 1 SCMP_CMP_LT 1 2',
      '',
    ].join('\n'));
  });
});

test('features: seccomp enabled, with the actions, operators and architectures vmrun applies', () => {
  const seccomp = (features() as { linux: { seccomp: Record<string, unknown> } }).linux.seccomp;
  expect(seccomp).toMatchObject({ enabled: true, supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] });
  expect(seccomp.actions).toContain('SCMP_ACT_KILL_PROCESS');
  expect(seccomp.actions).not.toContain('SCMP_ACT_NOTIFY');
  expect(seccomp.operators).toHaveLength(7);
  expect(seccomp.archs).toContain('SCMP_ARCH_X86_64');
});

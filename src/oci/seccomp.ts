// linux.seccomp: checked, and mapped to the filter vmrun-exec loads in the guest
// (guest-agent/seccomp.c), as runc builds it with libseccomp.
import type { GuestSeccomp } from '../generated/agent-protocol.js';
import type { Seccomp, Spec } from '../generated/config.js';

/** The actions vmrun applies; SCMP_ACT_NOTIFY needs an agent on the host (see NOTIFY_ERRNO). */
export const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP',
] as const;
export const SECCOMP_OPERATORS = [
  'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE',
] as const;
/** Every architecture the runtime-spec names; the guest's libseccomp (2.5) knows them all. */
export const SECCOMP_ARCHS = [
  'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_X32',
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64',
] as const;
/** The flags vmrun-exec sets, as libseccomp filter attributes. */
export const SECCOMP_FLAGS = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] as const;
/** Every flag the runtime-spec names: WAIT_KILLABLE_RECV only matters to a seccomp agent, which vmrun has not. */
export const SECCOMP_KNOWN_FLAGS = [...SECCOMP_FLAGS, 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'];

const EPERM = 1;
/** What the kernel returns for SCMP_ACT_NOTIFY when no agent listens: ENOSYS. */
const NOTIFY_ERRNO = 38;
/** A filter's ERRNO and TRACE actions carry 16 bits (SECCOMP_RET_DATA). */
const MAX_ERRNO_RET = 0xffff;
/** vmrun-exec's bound on one rule's conditions (a system call has six arguments). */
const MAX_CONDITIONS = 64;
/** What libseccomp could name; anything else is no system call, skipped as libseccomp skips unknown names. */
const SYSCALL_NAME = /^[A-Za-z0-9_]{1,64}$/;

const withErrno = (action: string) => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';

/** Each broken rule of linux.seccomp as `JSON pointer: what is wrong`. */
export function seccompProblems(spec: Spec): string[] {
  const s = spec.linux?.seccomp;
  if (!s) return [];
  const at = '/linux/seccomp';
  const problems: string[] = [];
  if (s.defaultAction === 'SCMP_ACT_NOTIFY') problems.push(`${at}/defaultAction: SCMP_ACT_NOTIFY cannot be the default action`);
  const errno = (value: number | undefined, where: string) => {
    if (value !== undefined && value > MAX_ERRNO_RET) problems.push(`${where}: ${value} does not fit the filter's 16 bits`);
  };
  errno(s.defaultErrnoRet, `${at}/defaultErrnoRet`);
  s.flags?.forEach((flag, i) => {
    if (!SECCOMP_KNOWN_FLAGS.includes(flag)) problems.push(`${at}/flags/${i}: unknown flag "${flag}"`);
  });
  s.syscalls?.forEach((call, i) => {
    errno(call.errnoRet, `${at}/syscalls/${i}/errnoRet`);
    if ((call.args?.length ?? 0) > MAX_CONDITIONS) problems.push(`${at}/syscalls/${i}/args: more than ${MAX_CONDITIONS} conditions`);
  });
  return problems;
}

/** linux.seccomp as the guest loads it; what it leaves out goes to `ignored`, naming the field. */
export function seccompPlan(s: Seccomp, ignored: string[] = []): GuestSeccomp {
  const at = '/linux/seccomp';
  // checked by seccompProblems: the default is never NOTIFY.
  const plan: GuestSeccomp = {
    defaultAction: s.defaultAction as GuestSeccomp['defaultAction'],
    architectures: [...new Set(s.architectures ?? [])],
    flags: [],
    syscalls: [],
  };
  if (withErrno(s.defaultAction)) plan.defaultErrnoRet = s.defaultErrnoRet ?? EPERM;
  for (const field of ['listenerPath', 'listenerMetadata'] as const) {
    if (s[field]) ignored.push(`${at}/${field} (vmrun has no seccomp agent to connect to)`);
  }
  s.flags?.forEach((flag, i) => {
    if ((SECCOMP_FLAGS as readonly string[]).includes(flag)) plan.flags.push(flag);
    else ignored.push(`${at}/flags/${i} (${flag} only matters to a seccomp agent, which vmrun has not)`);
  });
  plan.flags = [...new Set(plan.flags)];
  s.syscalls?.forEach((call, i) => {
    const names = call.names.filter((n) => SYSCALL_NAME.test(n));
    if (names.length === 0) return;
    let action = call.action;
    let errnoRet = call.errnoRet;
    if (action === 'SCMP_ACT_NOTIFY') {
      ignored.push(`${at}/syscalls/${i}/action (no seccomp agent listens: ${names.join(', ')} fail with ENOSYS, as the kernel fails them without one)`);
      action = 'SCMP_ACT_ERRNO';
      errnoRet = NOTIFY_ERRNO;
    }
    const rule: GuestSeccomp['syscalls'][number] = {
      names,
      action: action as GuestSeccomp['defaultAction'],
      args: (call.args ?? []).map((a) => ({ index: a.index, op: a.op, value: a.value, valueTwo: a.valueTwo ?? 0 })),
    };
    if (withErrno(action)) rule.errnoRet = errnoRet ?? EPERM;
    plan.syscalls.push(rule);
  });
  return plan;
}

/*
 * linux.resources.devices in the guest: a cgroup v2 device program (BPF) on the container's
 * cgroup, as runc makes one. Rules are tried last to first and the first that matches decides,
 * which is "the last matching rule wins"; an access no rule matches is allowed, as cgroup v1's
 * devices controller allows it (config.json's rules begin with "deny all" when they mean it).
 *
 * A rule is ALLOW:TYPE:MAJOR:MINOR:ACCESS, e.g. 0:a:*:*:rwm or 1:c:1:3:rwm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "vmrun-exec.h"

#define MAX_INSNS 4096

struct program { struct bpf_insn insn[MAX_INSNS]; size_t n; };

static void emit(struct program *p, __u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm) {
  if (p->n >= MAX_INSNS) fail("too many device rules");
  p->insn[p->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

struct rule { int allow; char type; long major, minor; int access; };

static struct rule parse_rule(const char *spec) {
  struct rule r;
  char type, major[16], minor[16], access[8];
  int allow;
  if (sscanf(spec, "%d:%c:%15[^:]:%15[^:]:%7s", &allow, &type, major, minor, access) != 5 || !strchr("acb", type))
    fail("--device-rule: not ALLOW:TYPE:MAJOR:MINOR:ACCESS: %s", spec);
  r.allow = allow != 0;
  r.type = type;
  r.major = strcmp(major, "*") ? strtol(major, NULL, 10) : -1;
  r.minor = strcmp(minor, "*") ? strtol(minor, NULL, 10) : -1;
  r.access = 0;
  for (const char *a = access; *a; a++)
    r.access |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : *a == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
  return r;
}

/* The instructions of one rule: each test jumps past the rule when it does not hold. */
static void emit_rule(struct program *p, const struct rule *r) {
  const int all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
  int tests = (r->type != 'a') + (r->access != all ? 3 : 0) + (r->major >= 0) + (r->minor >= 0);
  int left = tests + 2; /* instructions after the current one to the rule's end */
#define SKIP(code, dst, src, imm) do { left--; emit(p, code, dst, src, (__s16)left, imm); } while (0)
  if (r->type != 'a') SKIP(BPF_JMP | BPF_JNE | BPF_K, 2, 0, r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
  if (r->access != all) {
    /* allow: every access asked for is in the rule; deny: any of them is */
    emit(p, BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0), left--;
    emit(p, BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, r->allow ? (~r->access & all) : r->access), left--;
    SKIP(BPF_JMP | (r->allow ? BPF_JNE : BPF_JEQ) | BPF_K, 1, 0, 0);
  }
  if (r->major >= 0) SKIP(BPF_JMP | BPF_JNE | BPF_K, 4, 0, (__s32)r->major);
  if (r->minor >= 0) SKIP(BPF_JMP | BPF_JNE | BPF_K, 5, 0, (__s32)r->minor);
#undef SKIP
  emit(p, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow);
  emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static long bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

void attach_device_filter(const char *cgroup_dir, const char **rules, size_t n) {
  static struct program p;
  p.n = 0;
  /* r2 = device type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx) */
  emit(&p, BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);
  emit(&p, BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
  emit(&p, BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0);
  emit(&p, BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
  emit(&p, BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0);
  emit(&p, BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0);
  int decided = 0; /* a rule that matches every access: the verifier refuses code after it */
  for (size_t i = n; i-- > 0 && !decided;) {
    struct rule r = parse_rule(rules[i]);
    emit_rule(&p, &r);
    decided = r.type == 'a' && r.major < 0 && r.minor < 0 && r.access == 7;
  }
  if (!decided) {
    emit(&p, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    emit(&p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }

  union bpf_attr load = {0};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (__u64)(unsigned long)p.insn;
  load.insn_cnt = (__u32)p.n;
  load.license = (__u64)(unsigned long)"Apache-2.0";
  int prog = (int)bpf(BPF_PROG_LOAD, &load);
  if (prog < 0) {
    /* Asked again with the verifier's log, only to say why: a log that overflows fails a load. */
    static char log[65536];
    int error = errno;
    load.log_buf = (__u64)(unsigned long)log;
    load.log_size = sizeof log;
    load.log_level = 1;
    if (bpf(BPF_PROG_LOAD, &load) < 0 && errno != ENOSPC) error = errno;
    fail("load the device filter: %s: %.200s", strerror(error), log);
  }
  int dir = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail("open %s: %s", cgroup_dir, strerror(errno));
  union bpf_attr attach = {0};
  attach.target_fd = (__u32)dir;
  attach.attach_bpf_fd = (__u32)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &attach) < 0) fail("attach the device filter to %s: %s", cgroup_dir, strerror(errno));
  close(dir);
  close(prog);
}

/*
 * The container's system call filter, from the file the agent writes (guest-agent/seccomp.ts),
 * one directive a line, names as config.json has them:
 *
 *   default ACTION ERRNO
 *   arch SCMP_ARCH_NAME
 *   flag SECCOMP_FILTER_FLAG_NAME
 *   syscall NAME ACTION ERRNO [INDEX SCMP_CMP_OP VALUE VALUETWO]...
 *
 * ERRNO is the data of an ERRNO or TRACE action (0 for the others). The filter is built as
 * runc builds it with libseccomp: names libseccomp does not know are skipped, a rule whose
 * action is the default is left out, and conditions on one argument given twice become one
 * rule each. The filter does not set no_new_privs itself: vmrun-exec does, when config.json asks.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seccomp.h"

struct syscall_filter {
  scmp_filter_ctx ctx;
  uint32_t default_action;
};

#define MAX_LINE 8192
#define MAX_LINES 65536
#define MAX_CONDITIONS 64
#define MAX_ARGS 6

static char message[512];

static const char *say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return message;
}

static int action_of(const char *name, const char *data, uint32_t *action) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(data, &end, 10);
  if (errno || *end || !*data || v > 0xffff) return -1;
  if (!strcmp(name, "SCMP_ACT_ALLOW")) *action = SCMP_ACT_ALLOW;
  else if (!strcmp(name, "SCMP_ACT_ERRNO")) *action = SCMP_ACT_ERRNO((uint32_t)v);
  else if (!strcmp(name, "SCMP_ACT_TRACE")) *action = SCMP_ACT_TRACE((uint32_t)v);
  /* runc's KILL is the thread's, as libseccomp's is. */
  else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) *action = SCMP_ACT_KILL_THREAD;
  else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) *action = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(name, "SCMP_ACT_TRAP")) *action = SCMP_ACT_TRAP;
  else if (!strcmp(name, "SCMP_ACT_LOG")) *action = SCMP_ACT_LOG;
  else return -1;
  return 0;
}

static int operator_of(const char *name, enum scmp_compare *op) {
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    if (!strcmp(name, ops[i].name)) {
      *op = ops[i].op;
      return 0;
    }
  }
  return -1;
}

static int u64_of(const char *text, uint64_t *v) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno || *end || !*text || *text == '-') return -1;
  *v = n;
  return 0;
}

/* SCMP_ARCH_X86_64 as libseccomp names it: x86_64. */
static uint32_t arch_of(const char *name) {
  const char *prefix = "SCMP_ARCH_";
  char lower[64];
  if (strncmp(name, prefix, strlen(prefix)) || strlen(name) - strlen(prefix) >= sizeof lower) return 0;
  size_t i = 0;
  for (const char *p = name + strlen(prefix); *p; p++) lower[i++] = (char)tolower((unsigned char)*p);
  lower[i] = 0;
  return seccomp_arch_resolve_name(lower);
}

static const char *set_flag(scmp_filter_ctx ctx, const char *name) {
  enum scmp_filter_attr attr;
  if (!strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC")) attr = SCMP_FLTATR_CTL_TSYNC;
  else if (!strcmp(name, "SECCOMP_FILTER_FLAG_LOG")) attr = SCMP_FLTATR_CTL_LOG;
  else if (!strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")) attr = SCMP_FLTATR_CTL_SSB;
  else return say("unknown flag %s", name);
  int r = seccomp_attr_set(ctx, attr, 1);
  return r < 0 ? say("flag %s: %s", name, strerror(-r)) : NULL;
}

/* One rule: `words` holds NAME ACTION ERRNO and the conditions, four words each. */
static const char *add_syscall(struct syscall_filter *f, char **words, int n) {
  if (n < 3 || (n - 3) % 4) return say("syscall: not NAME ACTION ERRNO [INDEX OP VALUE VALUETWO]...");
  uint32_t action;
  if (action_of(words[1], words[2], &action) < 0) return say("syscall %s: bad action %s %s", words[0], words[1], words[2]);
  struct scmp_arg_cmp conds[MAX_CONDITIONS];
  unsigned count = 0, per_arg[MAX_ARGS] = {0};
  int repeated = 0;
  for (int w = 3; w < n; w += 4) {
    uint64_t index, a, b;
    enum scmp_compare op;
    if (count >= MAX_CONDITIONS) return say("syscall %s: more than %d conditions", words[0], MAX_CONDITIONS);
    if (u64_of(words[w], &index) < 0 || index >= MAX_ARGS || operator_of(words[w + 1], &op) < 0 ||
        u64_of(words[w + 2], &a) < 0 || u64_of(words[w + 3], &b) < 0)
      return say("syscall %s: bad condition %s %s %s %s", words[0], words[w], words[w + 1], words[w + 2], words[w + 3]);
    if (++per_arg[index] > 1) repeated = 1;
    conds[count++] = (struct scmp_arg_cmp){(unsigned)index, op, a, b};
  }
  if (action == f->default_action) return NULL;
  int nr = seccomp_syscall_resolve_name(words[0]);
  if (nr == __NR_SCMP_ERROR) return NULL;
  int r = 0;
  if (repeated) {
    /* libseccomp cannot AND two conditions on one argument: runc adds each as its own rule. */
    for (unsigned c = 0; c < count && r >= 0; c++) r = seccomp_rule_add_array(f->ctx, action, nr, 1, &conds[c]);
  } else {
    r = seccomp_rule_add_array(f->ctx, action, nr, count, conds);
  }
  return r < 0 ? say("syscall %s: %s", words[0], strerror(-r)) : NULL;
}

static const char *directive(struct syscall_filter *f, char *line) {
  char *words[3 + 4 * MAX_CONDITIONS + 1];
  int n = 0;
  for (char *save, *w = strtok_r(line, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
    if (n == (int)(sizeof words / sizeof words[0])) return say("too many words");
    words[n++] = w;
  }
  if (n == 0) return NULL;
  if (!strcmp(words[0], "default")) {
    if (f->ctx) return say("a second default");
    if (n != 3 || action_of(words[1], words[2], &f->default_action) < 0) return say("default: not ACTION ERRNO");
    if (!(f->ctx = seccomp_init(f->default_action))) return say("seccomp_init failed");
    /* vmrun-exec sets no_new_privs when config.json asks, and only then (as runc does). */
    int r = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0);
    return r < 0 ? say("no_new_privs attribute: %s", strerror(-r)) : NULL;
  }
  if (!f->ctx) return say("%s before the default", words[0]);
  if (!strcmp(words[0], "arch")) {
    uint32_t arch = n == 2 ? arch_of(words[1]) : 0;
    if (!arch) return say("arch: unknown architecture %s", n == 2 ? words[1] : "");
    if (seccomp_arch_exist(f->ctx, arch) == 0) return NULL;
    int r = seccomp_arch_add(f->ctx, arch);
    return r < 0 ? say("arch %s: %s", words[1], strerror(-r)) : NULL;
  }
  if (!strcmp(words[0], "flag")) return n == 2 ? set_flag(f->ctx, words[1]) : say("flag: not one name");
  if (!strcmp(words[0], "syscall")) return add_syscall(f, words + 1, n - 1);
  return say("unknown directive %s", words[0]);
}

struct syscall_filter *syscall_filter_read(const char *path, const char **error) {
  static char where[768];
  struct syscall_filter *f = calloc(1, sizeof *f);
  FILE *file = fopen(path, "re");
  const char *problem = NULL;
  char line[MAX_LINE];
  int number = 0;
  if (!f || !file) problem = strerror(errno);
  while (!problem && fgets(line, sizeof line, file)) {
    if (++number > MAX_LINES) problem = say("more than %d lines", MAX_LINES);
    else if (!strchr(line, '\n') && !feof(file)) problem = say("line longer than %d bytes", MAX_LINE - 1);
    else problem = directive(f, line);
  }
  if (!problem && file && ferror(file)) problem = strerror(errno);
  if (!problem && !f->ctx) problem = "no default action";
  if (file) fclose(file);
  if (!problem) return f;
  if (number) snprintf(where, sizeof where, "seccomp %s: line %d: %s", path, number, problem);
  else snprintf(where, sizeof where, "seccomp %s: %s", path, problem);
  if (f && f->ctx) seccomp_release(f->ctx);
  free(f);
  *error = where;
  return NULL;
}

int syscall_filter_load(struct syscall_filter *f, const char **error) {
  int r = seccomp_load(f->ctx);
  if (r < 0) {
    *error = say("load the seccomp filter: %s", strerror(-r));
    return -1;
  }
  seccomp_release(f->ctx);
  f->ctx = NULL;
  return 0;
}

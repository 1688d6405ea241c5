/*
 * vmrun-exec: starts a container process inside the guest. The agent runs it with the
 * container's environment; it enters the container's root, finds the program, reports
 * "ok" (or what failed) on the status fd, waits for the start byte, and execs.
 * Node cannot chroot or exec in place, which is why this small piece is C.
 *
 *   vmrun-exec --status-fd N --start-fd N --root DIR --cwd DIR [--uid N --gid N]
 *              -- PROGRAM [ARG...]
 *
 * The status fd is close-on-exec: after "ok", EOF on it means the program is running.
 * EOF on the start fd before a byte arrives means the container was deleted: exit quietly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int status_fd = -1;

static void fail(const char *fmt, ...) {
  char msg[PATH_MAX + 256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  if (status_fd >= 0) {
    dprintf(status_fd, "error %.*s\n", n, msg);
  } else {
    dprintf(2, "vmrun-exec: %.*s\n", n, msg);
  }
  _exit(127);
}

static long number(const char *flag, const char *value) {
  char *end;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || *end || v < 0) fail("%s: not a number: %s", flag, value);
  return v;
}

/* execvp's search, done before the start so that a missing program fails create, as in runc. */
static const char *find_program(const char *name, char *buf, size_t size) {
  if (strchr(name, '/')) return access(name, X_OK) == 0 ? name : NULL;
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const char *p = path; *p;) {
    const char *colon = strchrnul(p, ':');
    int len = (int)(colon - p);
    snprintf(buf, size, "%.*s/%s", len, len ? p : ".", name);
    struct stat st;
    if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return buf;
    p = *colon ? colon + 1 : colon;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int start_fd = -1;
  const char *root = NULL, *cwd = "/";
  long uid = -1, gid = -1;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    if (i + 1 >= argc) fail("%s needs a value", argv[i]);
    const char *flag = argv[i], *value = argv[i + 1];
    if (!strcmp(flag, "--status-fd")) status_fd = (int)number(flag, value);
    else if (!strcmp(flag, "--start-fd")) start_fd = (int)number(flag, value);
    else if (!strcmp(flag, "--root")) root = value;
    else if (!strcmp(flag, "--cwd")) cwd = value;
    else if (!strcmp(flag, "--uid")) uid = number(flag, value);
    else if (!strcmp(flag, "--gid")) gid = number(flag, value);
    else fail("unknown flag %s", flag);
  }
  if (i + 1 >= argc) fail("no program given after --");
  char **args = argv + i + 1;
  if (status_fd >= 0 && fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) fail("status fd: %s", strerror(errno));

  if (root && (chroot(root) < 0 || chdir("/") < 0)) fail("chroot %s: %s", root, strerror(errno));
  if (chdir(cwd) < 0) fail("cwd %s: %s", cwd, strerror(errno));
  if (gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0)) fail("setgid %ld: %s", gid, strerror(errno));
  if (uid >= 0 && setuid((uid_t)uid) < 0) fail("setuid %ld: %s", uid, strerror(errno));

  char found[PATH_MAX];
  const char *program = find_program(args[0], found, sizeof found);
  if (!program) fail("exec: \"%s\": executable file not found in $PATH", args[0]);

  if (status_fd >= 0) dprintf(status_fd, "ok\n");
  if (start_fd >= 0) {
    char byte;
    ssize_t n;
    do n = read(start_fd, &byte, 1); while (n < 0 && errno == EINTR);
    if (n != 1) _exit(0);
    close(start_fd);
  }
  execv(program, args);
  fail("exec %s: %s", program, strerror(errno));
}

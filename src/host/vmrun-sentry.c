/*
 * vmrun-sentry: the host process that stands for the container's init, whose pid `state` and
 * --pid-file report. Tools that enter that pid's namespaces (nsenter, podman cp and top) then
 * find the container's, not the host's: new pid, ipc, uts, mount and cgroup namespaces, or the
 * ones config.json names, the bundle's rootfs as the root, config.json's hostname. The network
 * namespace and the cgroup are the monitor's, which started it.
 *
 *   vmrun-sentry [-h HOSTNAME] [-d DOMAINNAME] [-r] [-n TYPE:INDEX[:PATH]]... LABEL ROOTFS
 *
 * TYPE is pid, ipc, uts, mount or cgroup; INDEX its entry in linux.namespaces, for errors; PATH
 * a namespace to join instead of a new one. -r: the root is read-only (root.readonly). LABEL
 * (the VM directory) only names it in ps.
 *
 * fd 3 is a socket to the monitor. It says "ready PID\n" (the host pid) or "error CODE MSG\n",
 * then "signal N\n" for each signal it receives. The monitor sends one byte, the container's
 * exit status, and the sentry exits with it; at EOF (the monitor died) it exits 255 at once.
 * It double-forks, so that it is not the monitor's child but an orphan, reaped by the nearest
 * child subreaper (containerd's shim, conmon) or init, as runc's init is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MONITOR 3

struct ns {
  const char *name;
  int flag;
  int index; /* in linux.namespaces, -1 when config.json has no entry */
  const char *path;
  int fd;
};

static struct ns namespaces[] = {
    {"pid", CLONE_NEWPID, -1, NULL, -1},   {"ipc", CLONE_NEWIPC, -1, NULL, -1},
    {"uts", CLONE_NEWUTS, -1, NULL, -1},   {"cgroup", CLONE_NEWCGROUP, -1, NULL, -1},
    {"mount", CLONE_NEWNS, -1, NULL, -1}, /* last: once in it, paths mean other files */
};
#define COUNT (sizeof namespaces / sizeof namespaces[0])

static void say(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= (int)sizeof line) n = sizeof line - 1, line[n - 1] = '\n';
  /* The monitor may be gone: no SIGPIPE, the EOF on fd 3 ends the sentry anyway. */
  if (send(MONITOR, line, n, MSG_NOSIGNAL) < 0) _exit(255);
}

static void fail(const char *code, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *c = msg; *c; c++)
    if (*c == '\n') *c = ' ';
  say("error %s %s\n", code, msg);
  _exit(1);
}

static struct ns *find(const char *name, size_t len) {
  for (size_t i = 0; i < COUNT; i++)
    if (strlen(namespaces[i].name) == len && strncmp(namespaces[i].name, name, len) == 0) return &namespaces[i];
  return NULL;
}

/* TYPE:INDEX[:PATH] */
static void parse_namespace(char *arg) {
  char *colon = strchr(arg, ':');
  struct ns *ns = colon ? find(arg, colon - arg) : NULL;
  if (!ns) fail("InvalidArgument", "vmrun-sentry: bad namespace %s", arg);
  char *end;
  ns->index = (int)strtol(colon + 1, &end, 10);
  if (*end == ':') ns->path = end + 1;
  else if (*end) fail("InvalidArgument", "vmrun-sentry: bad namespace %s", arg);
}

/* Opened and checked before any is entered, as runc checks them: a wrong type names the field. */
static void open_namespace(struct ns *ns) {
  ns->fd = open(ns->path, O_RDONLY | O_CLOEXEC);
  if (ns->fd < 0) fail("ConfigInvalid", "/linux/namespaces/%d/path: %s: %s", ns->index, ns->path, strerror(errno));
  int type = ioctl(ns->fd, NS_GET_NSTYPE);
  if (type < 0) fail("ConfigInvalid", "/linux/namespaces/%d/path: %s is not a namespace", ns->index, ns->path);
  if (type != ns->flag) fail("ConfigInvalid", "/linux/namespaces/%d/path: %s is not a %s namespace", ns->index, ns->path, ns->name);
}

static void enter(struct ns *ns) {
  if (setns(ns->fd, ns->flag) < 0)
    fail("ConfigInvalid", "/linux/namespaces/%d/path: cannot join %s: %s", ns->index, ns->path, strerror(errno));
  close(ns->fd);
}

/* The rootfs as the mount namespace's root: pivot_root, or runc's MS_MOVE and chroot where the
 * old root cannot be pivoted away from (an initramfs). Nothing here propagates to the host. */
static void enter_root(const char *rootfs, int readonly) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("InvalidState", "make / private: %s", strerror(errno));
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) fail("InvalidState", "bind %s: %s", rootfs, strerror(errno));
  if (chdir(rootfs) < 0) fail("InvalidState", "chdir %s: %s", rootfs, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) < 0) fail("InvalidState", "detach the old root: %s", strerror(errno));
  } else {
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) fail("InvalidState", "move %s to /: %s", rootfs, strerror(errno));
    if (chroot(".") < 0) fail("InvalidState", "chroot %s: %s", rootfs, strerror(errno));
  }
  if (chdir("/") < 0) fail("InvalidState", "chdir /: %s", strerror(errno));
  if (readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    fail("InvalidState", "make / read-only: %s", strerror(errno));
}

/* Until the monitor says the status or goes: signals go on to it, orphans of a new pid
 * namespace (whose init this is) are reaped. */
static void serve(sigset_t *all) {
  int sfd = signalfd(-1, all, SFD_CLOEXEC);
  if (sfd < 0) _exit(255);
  struct pollfd fds[2] = {{.fd = MONITOR, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(255);
    }
    if (fds[0].revents) {
      unsigned char status;
      ssize_t n = read(MONITOR, &status, 1);
      if (n < 0 && errno == EINTR) continue;
      _exit(n == 1 ? status : 255);
    }
    if (fds[1].revents) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGCHLD) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
      } else if (si.ssi_signo != SIGWINCH) {
        say("signal %u\n", si.ssi_signo);
      }
    }
  }
}

int main(int argc, char **argv) {
  /* Blocked from the start (and in the child): each goes to the signalfd, none kills it. */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  /* Only fds 0-3: nothing of the monitor's (its namespaces, its pipes) stays open in here. */
  if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
    for (int fd = 4; fd < 1024; fd++) close(fd);

  const char *hostname = NULL, *domainname = NULL;
  int opt, readonly = 0;
  while ((opt = getopt(argc, argv, "+h:d:rn:")) != -1) {
    if (opt == 'h') hostname = optarg;
    else if (opt == 'r') readonly = 1;
    else if (opt == 'd') domainname = optarg;
    else if (opt == 'n') parse_namespace(optarg);
    else fail("InvalidArgument", "vmrun-sentry: bad option");
  }
  if (argc - optind != 2) fail("InvalidArgument", "usage: vmrun-sentry [-h HOST] [-d DOMAIN] [-r] [-n TYPE:INDEX[:PATH]]... LABEL ROOTFS");
  const char *rootfs = argv[optind + 1];

  for (size_t i = 0; i < COUNT; i++)
    if (namespaces[i].path) open_namespace(&namespaces[i]);
  struct ns *pid = &namespaces[0];
  /* A pid namespace is the children's: the sentry is the fork below, its PID 1 when new. */
  if (pid->path) enter(pid);
  else if (pid->index >= 0 && unshare(CLONE_NEWPID) < 0) fail("InvalidState", "new pid namespace: %s", strerror(errno));

  int handoff[2];
  if (pipe2(handoff, O_CLOEXEC) < 0) fail("InvalidState", "pipe: %s", strerror(errno));
  pid_t sentry = fork();
  if (sentry < 0) fail("InvalidState", "fork: %s", strerror(errno));
  if (sentry > 0) {
    /* Its host pid, which only this side knows; then this process exits and leaves it an orphan. */
    if (write(handoff[1], &sentry, sizeof sentry) != sizeof sentry) _exit(1);
    _exit(0);
  }
  close(handoff[1]);
  pid_t host_pid;
  if (read(handoff[0], &host_pid, sizeof host_pid) != sizeof host_pid) fail("InvalidState", "no pid from the parent");
  close(handoff[0]);

  int fresh = 0;
  for (size_t i = 1; i < COUNT; i++) {
    struct ns *ns = &namespaces[i];
    if (ns->path) enter(ns);
    else if (ns->index >= 0) fresh |= ns->flag;
  }
  /* The cgroup namespace is rooted where the monitor (and so this) already is: the container's. */
  if (fresh && unshare(fresh) < 0) fail("InvalidState", "new namespaces: %s", strerror(errno));
  /* As runc: in the container's UTS namespace, new or joined; never in the host's. */
  if (find("uts", 3)->index >= 0) {
    if (hostname && sethostname(hostname, strlen(hostname)) < 0) fail("ConfigInvalid", "/hostname: %s", strerror(errno));
    if (domainname && setdomainname(domainname, strlen(domainname)) < 0) fail("ConfigInvalid", "/domainname: %s", strerror(errno));
  }
  if (fresh & CLONE_NEWNS) enter_root(rootfs, readonly);
  say("ready %d\n", (int)host_pid);
  serve(&all);
}

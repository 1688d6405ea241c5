/*
 * The container's namespaces in the guest. vmrun-exec (the process the agent started, which
 * the agent signals and waits for) stays in the guest's namespaces as the container's holder:
 * it clones the container's first process into new ones, writes its user namespace's id maps,
 * then passes on every signal it gets and ends as that process ends. A process that is PID 1 of
 * its namespace must be its child, so this is the shape a PID namespace needs; and a new user
 * namespace's maps can only be written from outside it.
 *
 * exec joins the namespaces of the container's first process the same way: the holder enters
 * its PID namespace (which only its children live in) and forks; the child enters the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "vmrun-exec.h"

int in_user_namespace = 0;

static const struct { const char *name; int flag; } kinds[] = {
  {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
  {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])
/* /proc/PID/ns/ names, in the order kinds[] has them: the user namespace is entered first. */
static const char *proc_names[N_KINDS] = {"user", "mnt", "pid", "ipc", "uts", "cgroup"};

int namespace_flags(const char *list) {
  char buf[256];
  int flags = 0;
  if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) fail("--namespaces: too long: %s", list);
  for (char *save, *n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < N_KINDS && strcmp(n, kinds[i].name); i++) {}
    if (i == N_KINDS) fail("--namespaces: unknown namespace %s", n);
    flags |= kinds[i].flag;
  }
  return flags;
}

/* Exits as the child did: with its code, or killed by its signal (without a core dump). */
static void __attribute__((noreturn)) end_as(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig);
}

/* The holder's life once its child runs: every signal goes on to the child (for a PID 1 the
   kernel drops those it has no handler for, as under runc); the holder ends as the child does. */
static void __attribute__((noreturn)) hold(pid_t child) {
  /* Out of the container's cgroup, which its child stays in: the holder is the guest's, and
     counts against none of the container's limits. */
  int procs = open("/sys/fs/cgroup/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (procs >= 0 && write(procs, "0", 1) < 0) {} /* a guest without cgroup2 mounted has none to leave */
  close_range(0, ~0U, 0); /* the child's stdio and status must reach EOF when it ends */
  sigset_t all;
  sigfillset(&all);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
      if (p == child) end_as(status);
  }
}

static void write_maps(pid_t pid, const char *file, const char *const *maps, size_t n) {
  char path[64], text[MAX_ID_MAPS * 36] = "";
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned long c, h, s;
    if (sscanf(maps[i], "%lu:%lu:%lu", &c, &h, &s) != 3) fail("not CONTAINER:HOST:SIZE: %s", maps[i]);
    used += (size_t)snprintf(text + used, sizeof text - used, "%lu %lu %lu\n", c, h, s);
    if (used >= sizeof text) fail("%s: too many mappings", file);
  }
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, used) != (ssize_t)used) fail("write %s: %s", path, strerror(errno));
  close(fd);
}

/*
 * Forks a child into the new namespaces `flags` names (none: a plain fork) and returns in it;
 * the caller's own process stays behind as its holder and never returns. The holder names the
 * child ("pid N") on the status fd before the child reports anything there, writes a new user
 * namespace's id maps (`req`), and only then lets the child go on.
 */
static void fork_held(unsigned long flags, const struct ns_request *req) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old); /* no signal is lost before the holder waits for them */
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) fail("clone into new namespaces: %s", strerror(errno));
  if (pid > 0) {
    close(go[0]);
    if (status_fd >= 0) dprintf(status_fd, "pid %d\n", pid);
    if (flags & CLONE_NEWUSER) {
      write_maps(pid, "uid_map", req->uid_maps, req->n_uid_maps);
      write_maps(pid, "gid_map", req->gid_maps, req->n_gid_maps);
    }
    if (write(go[1], "x", 1) != 1) fail("start the container's process: %s", strerror(errno));
    hold(pid);
  }
  close(go[1]);
  sigprocmask(SIG_SETMASK, &old, NULL);
  /* The holder's death (SIGKILL from the agent) is the child's. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail("death signal: %s", strerror(errno));
  char byte;
  if (read(go[0], &byte, 1) != 1) _exit(127); /* the holder failed, and said why, or is gone */
  close(go[0]);
}

/* Clones the container's first process into the namespaces `req` asks for and returns in it. */
void new_namespaces(const struct ns_request *req) {
  fork_held((unsigned long)req->flags, req);
  if (req->flags & CLONE_NEWUSER) {
    in_user_namespace = 1;
    /* Root of the new user namespace: the container's mounts and files are made as it. */
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      fail("become root of the user namespace (is container id 0 mapped?): %s", strerror(errno));
    /* A change of ids clears it: the holder's death must still end the child. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail("death signal: %s", strerror(errno));
  }
  /* The guest's mounts are private: none of the container's reaches them, nor theirs it. */
  if ((req->flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    fail("make / a slave mount: %s", strerror(errno));
}

static int same_namespace(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/*
 * exec: enters the namespaces of process `pid` that differ from the guest's and returns in a
 * child that lives in all of them (the caller stays behind as its holder). Returns whether the
 * mount namespace was entered, whose root is then the container's.
 */
int join_namespaces(const char *pid) {
  int fds[N_KINDS];
  char path[64], own[64];
  for (size_t i = 0; i < N_KINDS; i++) {
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, proc_names[i]);
    snprintf(own, sizeof own, "/proc/self/ns/%s", proc_names[i]);
    fds[i] = -1;
    if (same_namespace(path, own)) continue;
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) fail("open %s: %s", path, strerror(errno));
  }
  /* The process's own root, not its namespace's: what lies beneath it is the guest's. */
  snprintf(path, sizeof path, "/proc/%s/root", pid);
  int root = fds[1] >= 0 ? open(path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  if (fds[1] >= 0 && root < 0) fail("open %s: %s", path, strerror(errno));
  /* The PID namespace holds only the holder's children: it enters it first, then forks. */
  if (fds[2] >= 0 && setns(fds[2], CLONE_NEWPID) < 0) fail("enter the PID namespace of %s: %s", pid, strerror(errno));
  fork_held(0, NULL);
  for (size_t i = 0; i < N_KINDS; i++) {
    if (i == 2 || fds[i] < 0) continue;
    if (setns(fds[i], kinds[i].flag) < 0) fail("enter the %s namespace of %s: %s", kinds[i].name, pid, strerror(errno));
    close(fds[i]);
  }
  if (root >= 0 && (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)) fail("enter the root of %s: %s", pid, strerror(errno));
  if (root >= 0) close(root);
  in_user_namespace = fds[0] >= 0;
  return fds[1] >= 0;
}

/*
 * --share TYPES:PID: enters only these namespaces (ipc, uts, pid) of PID, a pod's first
 * container's process, before --namespaces makes the rest new: a pod's member shares what its
 * config.json shares with the pod, as under runc. A PID namespace takes the next fork's child.
 */
void share_namespaces(const char *spec) {
  char buf[256];
  if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) fail("--share: too long: %s", spec);
  char *pid = strrchr(buf, ':');
  if (!pid || !pid[1]) fail("--share: not TYPES:PID: %s", spec);
  *pid++ = 0;
  for (char *save, *n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < N_KINDS && strcmp(n, kinds[i].name); i++) {}
    if (i == N_KINDS || (kinds[i].flag != CLONE_NEWIPC && kinds[i].flag != CLONE_NEWUTS && kinds[i].flag != CLONE_NEWPID))
      fail("--share: cannot share the %s namespace", n);
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, proc_names[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, kinds[i].flag) < 0) fail("enter the %s namespace of %s: %s", n, pid, strerror(errno));
    close(fd);
  }
}

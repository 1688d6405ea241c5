/*
 * vmrun-warden: PID 1 of a pid namespace that holds a VM's host processes: virsh, the QEMU and
 * virtiofsd it starts, passt. When the monitor that started it dies, its end of fd 3 closes,
 * the warden exits, and the kernel kills every process left in the namespace: a VM never
 * outlives its monitor, whatever happens to the monitor. It tells the monitor of every process
 * it reaps, so that a part of the VM that ends is noticed at once.
 *
 *   vmrun-warden [-i] PROGRAM ARGS... [-- [-i] PROGRAM ARGS...]...
 *
 * Each PROGRAM is started as its child; -i: with fds 0-2 inherited (else /dev/null). The
 * namespace has a mount namespace and a /proc of its own, so that libvirt's pid files and its
 * reads of /proc agree. On fd 3 (a socket to the monitor) it says "warden PID\n" (its host
 * pid), "start INDEX PID\n" per program, and "exit PID code N\n" or "exit PID signal N\n" for
 * each process it reaps; pids but the first are the namespace's. Any byte or EOF from the
 * monitor ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MONITOR 3

static void say(const char *fmt, ...) {
  char line[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* A monitor that is gone is seen as EOF on the next poll. */
  if (write(MONITOR, line, n) < 0) return;
}

static void die(const char *what) {
  fprintf(stderr, "vmrun-warden: %s: %s\n", what, strerror(errno));
  exit(125);
}

/* The programs' stdio is theirs alone: its ends close when they exit. */
static void let_go_of_stdio(void) {
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) dup2(null, fd);
  if (null > 2) close(null);
}

static pid_t run(char **argv, int inherit) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid > 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  close(MONITOR);
  if (!inherit) let_go_of_stdio();
  execvp(argv[0], argv);
  fprintf(stderr, "vmrun-warden: %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* PID 1: starts the programs, reaps every process, and ends when the monitor goes. */
static int warden(int argc, char **argv) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die("prctl");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("mount --make-rprivate /");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount /proc");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  for (int at = 1, index = 0; at < argc; index++) {
    int end = at;
    while (end < argc && strcmp(argv[end], "--") != 0) end++;
    int inherit = end > at && strcmp(argv[at], "-i") == 0;
    if (end - at - inherit < 1) {
      fprintf(stderr, "vmrun-warden: program %d is empty\n", index);
      return 125;
    }
    argv[end] = NULL;
    say("start %d %d\n", index, (int)run(argv + at + inherit, inherit));
    at = end + 1;
  }
  let_go_of_stdio();
  for (;;) {
    struct pollfd fds[] = {{MONITOR, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].revents) return 0; /* the monitor says so, or is gone: the kernel kills the rest */
    struct signalfd_siginfo info;
    if (read(sfd, &info, sizeof info) < 0 && errno != EAGAIN) die("read signalfd");
    int status;
    for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
      if (WIFSIGNALED(status)) say("exit %d signal %d\n", (int)pid, WTERMSIG(status));
      else say("exit %d code %d\n", (int)pid, WEXITSTATUS(status));
    }
  }
}

int main(int argc, char **argv) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) die("unshare");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) return warden(argc, argv);
  /* This process stays in the monitor's pid namespace, as the child it waits for. */
  say("warden %d\n", (int)pid);
  close(MONITOR);
  let_go_of_stdio();
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

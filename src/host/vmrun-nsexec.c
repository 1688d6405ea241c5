/*
 * vmrun-nsexec: runs a hook in vmrun's own network and mount namespaces, from the monitor,
 * which lives in the container's. Unlike nsenter, it gives the program the argv[0] that
 * config.json names (Docker's libnetwork-setkey hook is dockerd itself, dispatched by argv[0]).
 *
 *   vmrun-nsexec NETNS MNTNS PATH ARGV0 [ARG...]
 *
 * NETNS and MNTNS are namespace files (/proc/PID/fd/N). fd 3 is a pipe to the monitor: the
 * hook's end goes there as "code N\n" or "signal N\n" ("code 127" if PATH cannot run). It
 * stays the child subreaper of whatever the hook leaves running, and kills it when the
 * monitor ends, however it ends (its parent-death signal), or at SIGTERM (the hook's timeout):
 * what a hook starts does not outlive the container. It exits once nothing of the hook is left.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MONITOR 3

static int open_namespace(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "vmrun-nsexec: open %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  return fd;
}

static void enter(int fd, int type, const char *path) {
  if (setns(fd, type) < 0) {
    fprintf(stderr, "vmrun-nsexec: enter %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(fd);
}

static volatile sig_atomic_t ending;
static void end_all(int sig) {
  (void)sig;
  ending = 1;
}

/* SIGKILL to every child; orphans of the killed become children, so this repeats until none. */
static void kill_children(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "r");
  if (!f) return;
  for (int pid; fscanf(f, "%d", &pid) == 1;) kill(pid, SIGKILL);
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: vmrun-nsexec NETNS MNTNS PATH ARGV0 [ARG...]\n");
    return 127;
  }
  struct sigaction sa = {0};
  sa.sa_handler = end_all;
  sigaction(SIGTERM, &sa, NULL);
  pid_t monitor = getppid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != monitor) return 127;
  /* Both are opened first: once in the other mount namespace, the paths may mean other files. */
  int net = open_namespace(argv[1]), mnt = open_namespace(argv[2]);
  enter(net, CLONE_NEWNET, argv[1]);
  enter(mnt, CLONE_NEWNS, argv[2]);
  pid_t hook = fork();
  if (hook < 0) {
    perror("vmrun-nsexec: fork");
    return 127;
  }
  if (hook == 0) {
    close(MONITOR);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    execv(argv[3], argv + 4);
    fprintf(stderr, "vmrun-nsexec: exec %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  /* The hook's stdio is its own: the monitor sees its end when the hook's processes let go. */
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) dup2(null, fd);
  for (;;) {
    if (ending) kill_children();
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return 0; /* nothing of the hook is left */
    if (pid != hook) continue;
    char line[32];
    int n = WIFSIGNALED(status) ? snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status))
                                : snprintf(line, sizeof line, "code %d\n", WEXITSTATUS(status));
    if (write(MONITOR, line, n) < 0) ending = 1;
    close(MONITOR);
  }
}

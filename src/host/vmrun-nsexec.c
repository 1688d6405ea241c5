/*
 * vmrun-nsexec: runs a hook in vmrun's own network and mount namespaces, from the monitor,
 * which lives in the container's. Unlike nsenter, it gives the program the argv[0] that
 * config.json names (Docker's libnetwork-setkey hook is dockerd itself, dispatched by argv[0]).
 *
 *   vmrun-nsexec [-p PIDNS] NETNS MNTNS PATH ARGV0 [ARG...]
 *
 * NETNS and MNTNS are namespace files (/proc/PID/fd/N). Exit status 127 if it cannot run PATH.
 * -p: the hook runs in that pid namespace (the VM's warden's, src/host/vmrun-warden.c), so that
 * whatever it leaves running ends with the VM; this process waits for it and exits as it does,
 * and the hook dies with this process (a hook's timeout kills this one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
  const char *pidns = NULL;
  if (argc > 2 && strcmp(argv[1], "-p") == 0) {
    pidns = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: vmrun-nsexec [-p PIDNS] NETNS MNTNS PATH ARGV0 [ARG...]\n");
    return 127;
  }
  /* All are opened first: once in the other mount namespace, the paths may mean other files. */
  int pid = pidns ? open_namespace(pidns) : -1;
  int net = open_namespace(argv[1]), mnt = open_namespace(argv[2]);
  enter(net, CLONE_NEWNET, argv[1]);
  enter(mnt, CLONE_NEWNS, argv[2]);
  if (pidns) {
    enter(pid, CLONE_NEWPID, pidns);
    pid_t child = fork();
    if (child < 0) {
      perror("vmrun-nsexec: fork");
      return 127;
    }
    if (child > 0) {
      int status;
      while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) return 127;
      if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        kill(getpid(), WTERMSIG(status));
      }
      return WEXITSTATUS(status);
    }
    /* Its parent, outside the namespace, is pid 0 here until it dies. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != 0) _exit(127);
  }
  execv(argv[3], argv + 4);
  fprintf(stderr, "vmrun-nsexec: exec %s: %s\n", argv[3], strerror(errno));
  return 127;
}

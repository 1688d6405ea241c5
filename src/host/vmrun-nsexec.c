/*
 * vmrun-nsexec: runs a hook in vmrun's own network and mount namespaces, from the monitor,
 * which lives in the container's. Unlike nsenter, it gives the program the argv[0] that
 * config.json names (Docker's libnetwork-setkey hook is dockerd itself, dispatched by argv[0]).
 *
 *   vmrun-nsexec NETNS MNTNS PATH ARGV0 [ARG...]
 *
 * NETNS and MNTNS are namespace files (/proc/PID/fd/N). Exit status 127 if it cannot run PATH.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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
  if (argc < 5) {
    fprintf(stderr, "usage: vmrun-nsexec NETNS MNTNS PATH ARGV0 [ARG...]\n");
    return 127;
  }
  /* Both are opened first: once in the other mount namespace, the paths may mean other files. */
  int net = open_namespace(argv[1]), mnt = open_namespace(argv[2]);
  enter(net, CLONE_NEWNET, argv[1]);
  enter(mnt, CLONE_NEWNS, argv[2]);
  execv(argv[3], argv + 4);
  fprintf(stderr, "vmrun-nsexec: exec %s: %s\n", argv[3], strerror(errno));
  return 127;
}

// vmrun-graft SOURCE PID TARGET: copies the mount tree at SOURCE (this process's mount namespace,
// submounts and all) to TARGET in PID's mount namespace, as `mount --rbind` would across
// namespaces. PID is the virtiofsd of a pod's share, which pivots into the share in a mount
// namespace of its own: TARGET is a path inside the share, and only that virtiofsd sees the copy.
// A pod member's monitor grafts its root and binds there, so that its VM's host (the pod's first
// container) serves them without a restart, and no other process ever sees them.
// vmrun-graft --remove PID TARGET: detaches TARGET and what is below it in PID's namespace.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/* Enters PID's mount namespace, never the caller's own (whose root is the host's). */
static void enter(const char *pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", atoi(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat own, target;
  if (fd < 0 || fstat(fd, &target) < 0 || stat("/proc/self/ns/mnt", &own) < 0) {
    perror(path);
    exit(1);
  }
  if (own.st_dev == target.st_dev && own.st_ino == target.st_ino) {
    fprintf(stderr, "%s is the caller's own mount namespace\n", path);
    exit(1);
  }
  if (setns(fd, CLONE_NEWNS) < 0 || chdir("/") < 0) {
    perror(path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--remove") && atoi(argv[2]) > 0) {
    enter(argv[2]);
    /* Not a mount point (any more): gone already, which is what was asked. */
    if (umount2(argv[3], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
      perror(argv[3]);
      return 1;
    }
    return 0;
  }
  if (argc != 4 || atoi(argv[2]) <= 0) {
    fprintf(stderr, "usage: vmrun-graft SOURCE PID TARGET | vmrun-graft --remove PID TARGET\n");
    return 2;
  }
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, argv[1], OPEN_TREE_CLONE | AT_RECURSIVE | O_CLOEXEC);
  if (tree < 0) {
    perror(argv[1]);
    return 1;
  }
  enter(argv[2]);
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, argv[3], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    perror(argv[3]);
    return 1;
  }
  return 0;
}

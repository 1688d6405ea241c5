// vmrun-seal PID: makes the root of PID's mount namespace read-only, keeping its other flags.
// PID is the virtiofsd of a container's rootfs share: virtiofsd pivots into the share in a
// mount namespace of its own, so its root there is its own bind of the rootfs, and only it
// changes. The monitor seals it once the guest has made the container's mount points (which
// runc too makes in the rootfs before making it read-only), so that root.readonly holds on the
// host as well as in the guest.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: vmrun-seal PID\n");
    return 2;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", atoi(argv[1]));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  // Never the caller's own namespace, whose root is the host's.
  struct stat own, target;
  if (fd >= 0 && stat("/proc/self/ns/mnt", &own) == 0 && fstat(fd, &target) == 0 && own.st_ino == target.st_ino) {
    fprintf(stderr, "%s is the caller's own mount namespace\n", path);
    return 1;
  }
  // setns puts this process at the namespace's root: the share, as virtiofsd sees it.
  if (fd < 0 || setns(fd, CLONE_NEWNS) < 0 || chdir("/") < 0) {
    perror(path);
    return 1;
  }
  struct statvfs s;
  if (statvfs("/", &s) < 0) {
    perror("statvfs /");
    return 1;
  }
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
  if (s.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (s.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (s.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (s.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  if (mount(NULL, "/", NULL, flags, NULL) < 0) {
    perror("remount / read-only");
    return 1;
  }
  return 0;
}

/*
 * The file I/O of bench (e): the same program on the host and in a container, on the same
 * filesystem (the container's rootfs share, or the folder it is in).
 *   iobench write FILE MIB   sequential 1 MiB writes and an fsync: prints MB/s
 *   iobench drop FILE        drops the file from this kernel's page cache (the guest's, in a container)
 *   iobench randread FILE N  N reads of 4 KiB at random aligned offsets: prints reads per second
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "drop")) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return perror(argv[2]), 1;
    return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) ? 1 : 0;
  }
  if (argc != 4) return fprintf(stderr, "usage: iobench write|randread FILE N, or drop FILE\n"), 2;
  long n = atol(argv[3]);
  static char buf[1 << 20];
  memset(buf, 0x5a, sizeof buf);
  if (!strcmp(argv[1], "write")) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return perror("open"), 1;
    double t0 = now();
    for (long i = 0; i < n; i++)
      if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) return perror("write"), 1;
    if (fsync(fd) < 0) return perror("fsync"), 1;
    printf("%.1f\n", n * 1.048576 / (now() - t0));
    return 0;
  }
  int fd = open(argv[2], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) return perror(argv[2]), 1;
  long pages = st.st_size / 4096;
  srand(1);
  double t0 = now();
  for (long i = 0; i < n; i++)
    if (pread(fd, buf, 4096, (off_t)(rand() % pages) * 4096) != 4096) return perror("pread"), 1;
  printf("%.0f\n", n / (now() - t0));
  return 0;
}

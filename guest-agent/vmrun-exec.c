/*
 * vmrun-exec: starts a container process inside the guest. The agent runs it with the
 * container's environment; it mounts the container's filesystems, enters its root, applies the
 * process's attributes, finds the program, reports "ok" (or what failed) on the status fd, waits
 * for the start byte, and execs. Node cannot mount, chroot, set limits or capabilities, or exec
 * in place, which is why this small piece is C; doing it all here rather than with busybox saves
 * a process start (0.1 s under TCG) per step.
 *
 *   vmrun-exec --status-fd N --start-fd N [--cgroup-set FILE=VALUE]... [--device-rule RULE]...
 *              [--cgroup DIR] [--uid-map C:H:N]... [--gid-map C:H:N]... [--namespaces LIST]
 *              [--share TYPES:PID] [--join PID] [--sysctl KEY=VALUE]...
 *              [--mount TYPE SOURCE TARGET OPTIONS]... [--devices DIR]
 *              [--readonly-root] [--root-propagation NAME] --root DIR [--device PATH:TYPE:MAJOR:MINOR:MODE:UID:GID]...
 *              [--readonly-path PATH]... [--mask PATH]... [--oom-score-adj N]
 *              [--rlimit RESOURCE:SOFT:HARD]... --cwd DIR [--uid N] [--gid N] [--groups G,G...]
 *              [--caps BOUNDING:EFFECTIVE:PERMITTED:INHERITABLE:AMBIENT] [--umask N]
 *              [--no-new-privileges] [--seccomp FILE] [--winsize ROWSxCOLS] [--pty-fd N] -- PROGRAM [ARG...]
 *   vmrun-exec --resize ROWSxCOLS    (sets the window size of the terminal on fd 0, and exits)
 *   vmrun-exec --unlock [ROWSxCOLS]  (unlocks the pty master on fd 0, sizes it, prints its number)
 *
 * A terminal reaches the process in one of two ways; either way the process gets it as stdin,
 * stdout, stderr and controlling terminal, in a session of its own. "pty N" as the start
 * message: /dev/pts/N inside the root, a pty of the container's own devpts that the agent
 * opened and unlocked (the usual way). --pty-fd N: the peer of the pty master on fd N, which
 * the agent opened in the guest's devpts when the container mounts none; --winsize sizes it.
 * --cgroup joins (and makes) the guest's cgroup DIR with the --cgroup-set values before it, and
 * attaches the --device-rule filter to it (device-filter.c). --namespaces clones the container's
 * process into new namespaces (pid, ipc, uts, mount, cgroup, user, with the id maps), --join
 * enters those of a running process (namespaces.c): either way this process stays behind as
 * the holder. --share, before --namespaces, enters only some namespaces of a pod's first
 * container (a pod member's shared IPC, UTS or PID namespace). With a mount namespace, the root is moved over / and entered (runc's way on a
 * ramfs root, where pivot_root fails), leaving the guest's files unreachable beneath it.
 * --sysctl writes a value that belongs to the container's IPC namespace.
 * Mounts happen in order, before the root is entered; OPTIONS are mount(8)'s, comma-separated,
 * as in config.json, with runc's propagation options, recursive attributes (rro...) and
 * tmpcopyup. --root-propagation (linux.rootfsPropagation) is applied to the root after them. --devices fills a /dev tmpfs with the devices and links runc puts there.
 * Paths of --device, --readonly-path and --mask are inside the root. Limits are numbers or
 * "unlimited"; capability sets are hexadecimal masks. The order of the steps is runc's.
 * --seccomp reads the guest's FILE at once (guest-agent/seccomp.c); the filter is loaded as runc
 * loads it: before the capabilities change without no_new_privs, just before "ok" with it.
 *
 * The status fd is close-on-exec: after "ok", EOF on it means the program is running.
 * EOF on the start fd before a byte arrives means the container was deleted: exit quietly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/random.h>
#include <time.h>
#include <sys/socket.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "vmrun-exec.h"
#include "seccomp.h"

int status_fd = -1;

void fail(const char *fmt, ...) {
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

static void mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) fail("path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) fail("mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) fail("mkdir %s: %s", buf, strerror(errno));
}

/* The folders a path needs, for a file (or device node) that is to be made there. */
static void mkdir_parent(const char *path) {
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent) fail("path too long: %s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return;
  *slash = 0;
  mkdir_p(parent);
}

static void write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) fail("write %s to %s: %s", value, path, strerror(errno));
  close(fd);
}

/* runc's (1.1) tables: mount flags, propagation (applied by a call of its own after the mount),
 * and recursive attributes (mount_setattr(2) over a bind's whole tree). */
struct option_flag { const char *name; unsigned long set, clear; };
static const struct option_flag mount_flags[] = {
  {"ro", MS_RDONLY, 0}, {"rw", 0, MS_RDONLY}, {"nosuid", MS_NOSUID, 0}, {"suid", 0, MS_NOSUID},
  {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV}, {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},
  {"sync", MS_SYNCHRONOUS, 0}, {"async", 0, MS_SYNCHRONOUS}, {"dirsync", MS_DIRSYNC, 0},
  {"noatime", MS_NOATIME, 0}, {"atime", 0, MS_NOATIME}, {"nodiratime", MS_NODIRATIME, 0},
  {"diratime", 0, MS_NODIRATIME}, {"relatime", MS_RELATIME, 0}, {"norelatime", 0, MS_RELATIME},
  {"strictatime", MS_STRICTATIME, 0}, {"nostrictatime", 0, MS_STRICTATIME},
  {"bind", MS_BIND, 0}, {"rbind", MS_BIND | MS_REC, 0}, {"remount", MS_REMOUNT, 0},
  {"acl", MS_POSIXACL, 0}, {"noacl", 0, MS_POSIXACL}, {"iversion", MS_I_VERSION, 0},
  {"noiversion", 0, MS_I_VERSION}, {"lazytime", MS_LAZYTIME, 0}, {"nolazytime", 0, MS_LAZYTIME},
  {"mand", MS_MANDLOCK, 0}, {"nomand", 0, MS_MANDLOCK}, {"silent", MS_SILENT, 0}, {"loud", 0, MS_SILENT},
  {"nosymfollow", MS_NOSYMFOLLOW, 0}, {"symfollow", 0, MS_NOSYMFOLLOW},
}, propagation_flags[] = {
  {"private", MS_PRIVATE, 0}, {"rprivate", MS_PRIVATE | MS_REC, 0}, {"shared", MS_SHARED, 0},
  {"rshared", MS_SHARED | MS_REC, 0}, {"slave", MS_SLAVE, 0}, {"rslave", MS_SLAVE | MS_REC, 0},
  {"unbindable", MS_UNBINDABLE, 0}, {"runbindable", MS_UNBINDABLE | MS_REC, 0},
}, rec_attrs[] = {
  {"rro", MOUNT_ATTR_RDONLY, 0}, {"rrw", 0, MOUNT_ATTR_RDONLY}, {"rnosuid", MOUNT_ATTR_NOSUID, 0},
  {"rsuid", 0, MOUNT_ATTR_NOSUID}, {"rnodev", MOUNT_ATTR_NODEV, 0}, {"rdev", 0, MOUNT_ATTR_NODEV},
  {"rnoexec", MOUNT_ATTR_NOEXEC, 0}, {"rexec", 0, MOUNT_ATTR_NOEXEC},
  {"rnodiratime", MOUNT_ATTR_NODIRATIME, 0}, {"rdiratime", 0, MOUNT_ATTR_NODIRATIME},
  {"rrelatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}, {"rnorelatime", 0, MOUNT_ATTR_RELATIME},
  {"rnoatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}, {"ratime", 0, MOUNT_ATTR_NOATIME},
  {"rstrictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME}, {"rnostrictatime", 0, MOUNT_ATTR_STRICTATIME},
  {"rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0}, {"rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW},
};
#define TABLE_SIZE(t) (sizeof t / sizeof t[0])
#define MAX_PROPAGATION 16

static long table_index(const char *name, size_t n, const struct option_flag *t) {
  for (size_t i = 0; i < n; i++) if (!strcmp(name, t[i].name)) return (long)i;
  return -1;
}
#define LOOKUP(table, name) table_index(name, TABLE_SIZE(table), table)

/* One entry of a folder copied into another (tmpcopyup), as runc does it, keeping owner, mode and times too. */
static void copy_tree(const char *from, const char *to, int depth);
static void copy_entry(const char *from, const char *to, const struct stat *st, int depth) {
  if (S_ISDIR(st->st_mode)) {
    if (mkdir(to, 0700) < 0) fail("tmpcopyup: mkdir %s: %s", to, strerror(errno));
    copy_tree(from, to, depth + 1);
  } else if (S_ISREG(st->st_mode)) {
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) fail("tmpcopyup: copy %s: %s", from, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      for (ssize_t done = 0, w; n > 0 && done < n; done += w) {
        w = write(out, buf + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR) w = 0;
        else if (w < 0) fail("tmpcopyup: write %s: %s", to, strerror(errno));
      }
    }
    if (n < 0) fail("tmpcopyup: read %s: %s", from, strerror(errno));
    close(in);
    close(out);
  } else if (S_ISLNK(st->st_mode)) {
    char link[PATH_MAX];
    ssize_t n = readlink(from, link, sizeof link - 1);
    if (n < 0) fail("tmpcopyup: readlink %s: %s", from, strerror(errno));
    link[n] = 0;
    if (symlink(link, to) < 0) fail("tmpcopyup: symlink %s: %s", to, strerror(errno));
  } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode)) {
    if (mknod(to, st->st_mode, st->st_rdev) < 0) fail("tmpcopyup: mknod %s: %s", to, strerror(errno));
  } else {
    return; /* a socket: nothing to copy */
  }
  if (lchown(to, st->st_uid, st->st_gid) < 0) fail("tmpcopyup: chown %s: %s", to, strerror(errno));
  if (!S_ISLNK(st->st_mode) && chmod(to, st->st_mode & 07777) < 0) fail("tmpcopyup: chmod %s: %s", to, strerror(errno));
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  if (utimensat(AT_FDCWD, to, times, AT_SYMLINK_NOFOLLOW) < 0) fail("tmpcopyup: times of %s: %s", to, strerror(errno));
}

static void copy_tree(const char *from, const char *to, int depth) {
  if (depth > 64) fail("tmpcopyup: %s is nested too deep", from);
  DIR *dir = opendir(from);
  if (!dir) fail("tmpcopyup: open %s: %s", from, strerror(errno));
  for (struct dirent *e; (e = readdir(dir));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char src[PATH_MAX], dst[PATH_MAX];
    struct stat st;
    if (snprintf(src, sizeof src, "%s/%s", from, e->d_name) >= (int)sizeof src ||
        snprintf(dst, sizeof dst, "%s/%s", to, e->d_name) >= (int)sizeof dst) fail("tmpcopyup: path too long in %s", from);
    if (lstat(src, &st) < 0) fail("tmpcopyup: stat %s: %s", src, strerror(errno));
    copy_entry(src, dst, &st, depth);
  }
  closedir(dir);
}

/*
 * Flags become mount flags; anything else is filesystem data, as mount(8) and runc do it.
 * Propagation options are applied in their order by calls of their own after the mount, as runc
 * applies them; rro and its kin go over a bind's whole tree with mount_setattr(2). tmpcopyup: the
 * tmpfs is mounted aside, filled with a copy of what the root has at the target, and moved there.
 */
static void mount_one(const char *type, const char *source, const char *target, const char *options) {
  unsigned long flags = 0, propagation[MAX_PROPAGATION];
  size_t n_propagation = 0;
  struct mount_attr attr = {0};
  int copy_up = 0;
  long k;
  char data[4096] = "", opts[4096];
  if (snprintf(opts, sizeof opts, "%s", options) >= (int)sizeof opts) fail("mount options too long for %s", target);
  for (char *save, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
    if ((k = LOOKUP(mount_flags, o)) >= 0) {
      flags = (flags | mount_flags[k].set) & ~mount_flags[k].clear;
    } else if ((k = LOOKUP(propagation_flags, o)) >= 0) {
      if (n_propagation == MAX_PROPAGATION) fail("too many propagation options for %s", target);
      propagation[n_propagation++] = propagation_flags[k].set;
    } else if ((k = LOOKUP(rec_attrs, o)) >= 0) {
      if (rec_attrs[k].set) attr.attr_set |= rec_attrs[k].set;
      else attr.attr_clr |= rec_attrs[k].clear;
      attr.attr_clr |= rec_attrs[k].clear & MOUNT_ATTR__ATIME;
    } else if (!strcmp(o, "tmpcopyup")) {
      copy_up = 1;
    } else {
      size_t used = strlen(data);
      if (snprintf(data + used, sizeof data - used, "%s%s", used ? "," : "", o) >= (int)(sizeof data - used))
        fail("mount options too long for %s", target);
    }
  }
  struct stat st, before;
  int is_tmpfs = !strcmp(type, "tmpfs");
  /* As runc (1.1) does: a tmpfs over an existing folder takes that folder's mode, mode= or not. */
  int keep_mode = is_tmpfs && stat(target, &before) == 0 && S_ISDIR(before.st_mode);
  if ((flags & MS_BIND) && stat(source, &st) == 0 && !S_ISDIR(st.st_mode)) {
    /* A file bound in: its mount point is a file, made (with its folders) if missing, as runc does. */
    mkdir_parent(target);
    if (access(target, F_OK) < 0) {
      int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) fail("create %s: %s", target, strerror(errno));
      close(fd);
    }
  } else {
    mkdir_p(target);
  }
  /* A tmpfs is mounted writable first (its mode is set, its copy made), then read-only if asked, as runc does. */
  unsigned long first = is_tmpfs ? flags & ~MS_RDONLY : flags;
  copy_up = copy_up && is_tmpfs;
  char aside[] = "/run/vmrun/copyup.XXXXXX";
  if (copy_up && !mkdtemp(aside)) fail("tmpcopyup: %s", strerror(errno));
  const char *at = copy_up ? aside : target;
  if (mount(source, at, type, first, data) < 0) {
    /* A sysfs belongs to a network namespace, and the guest's is not the user namespace's:
       runc binds the sysfs it has instead. */
    if (!(in_user_namespace && errno == EPERM && !strcmp(type, "sysfs"))) fail("mount %s on %s: %s", type, target, strerror(errno));
    if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind /sys on %s: %s", target, strerror(errno));
    flags |= MS_BIND;
  }
  if (copy_up) {
    copy_tree(target, aside, 0);
    if (mount(aside, target, NULL, MS_MOVE, NULL) < 0) fail("tmpcopyup: move onto %s: %s", target, strerror(errno));
    rmdir(aside);
  }
  if (keep_mode && chmod(target, before.st_mode & 07777) < 0) fail("chmod %s: %s", target, strerror(errno));
  /* A bind mount takes its other flags (read-only among them) only on a remount; so does a tmpfs's read-only. */
  unsigned long rest = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if (((flags & MS_BIND) && rest) || (is_tmpfs && (flags & MS_RDONLY))) {
    if (mount(NULL, target, NULL, MS_REMOUNT | (flags & MS_BIND) | rest, NULL) < 0)
      fail("remount %s: %s", target, strerror(errno));
  }
  for (size_t p = 0; p < n_propagation; p++) {
    if (mount(NULL, target, NULL, propagation[p], NULL) < 0) fail("propagation of %s: %s", target, strerror(errno));
  }
  /* runc (1.1) applies these to binds only. */
  if ((flags & MS_BIND) && (attr.attr_set || attr.attr_clr) && mount_setattr(AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) < 0)
    fail("mount_setattr %s: %s", target, strerror(errno));
}

/* linux.rootfsPropagation on the container's root, after its mounts, as runc does it on "/"
 * (private and slave change nothing here: the guest's mounts are private already). */
static void root_propagation(const char *root, const char *name) {
  long k = LOOKUP(propagation_flags, name);
  if (k < 0) fail("unknown root propagation %s", name);
  unsigned long flag = propagation_flags[k].set;
  if ((flag & (MS_PRIVATE | MS_SLAVE)) == 0 && mount(NULL, root, NULL, flag, NULL) < 0)
    fail("propagation of %s: %s", root, strerror(errno));
}

/* In a user namespace, which cannot make device nodes: the guest's node bound on a file, as runc does. */
static void bind_guest_device(const char *name, const char *path) {
  char guest[64];
  snprintf(guest, sizeof guest, "/dev/%s", name);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) fail("create %s: %s", path, strerror(errno));
  close(fd);
  if (mount(guest, path, NULL, MS_BIND, NULL) < 0) fail("bind %s on %s: %s", guest, path, strerror(errno));
}

/* The devices and links runc creates in a container's /dev. */
static void make_devices(const char *dev) {
  static const struct { const char *name; unsigned maj, min; } devices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
  };
  static const char *links[][2] = {
    {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
  };
  char path[PATH_MAX];
  mode_t old = umask(0);
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dev, devices[i].name);
    if (in_user_namespace) {
      bind_guest_device(devices[i].name, path);
      continue;
    }
    if (mknod(path, S_IFCHR | 0666, makedev(devices[i].maj, devices[i].min)) < 0 && errno != EEXIST)
      fail("mknod %s: %s", path, strerror(errno));
  }
  umask(old);
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dev, links[i][0]);
    if (symlink(links[i][1], path) < 0 && errno != EEXIST) fail("symlink %s: %s", path, strerror(errno));
  }
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

/* A container path's device node, as linux.devices describes it. */
static void make_device(const char *spec) {
  char path[PATH_MAX], type;
  unsigned maj, min, mode, uid, gid;
  if (sscanf(spec, "%4095[^:]:%c:%u:%u:%o:%u:%u", path, &type, &maj, &min, &mode, &uid, &gid) != 7)
    fail("--device: not PATH:TYPE:MAJOR:MINOR:MODE:UID:GID: %s", spec);
  mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  mkdir_parent(path);
  unlink(path);
  mode_t old = umask(0);
  if (mknod(path, kind | (mode & 07777), makedev(maj, min)) < 0)
    fail("mknod %s: %s%s", path, strerror(errno), in_user_namespace ? " (a user namespace cannot make device nodes)" : "");
  umask(old);
  if (chown(path, uid, gid) < 0) fail("chown %s: %s", path, strerror(errno));
}

/* runc's readonlyPaths: the path bind-mounted on itself, read-only; a missing path is skipped. */
static void readonly_path(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    fail("bind %s read-only: %s", path, strerror(errno));
  }
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail("remount %s read-only: %s", path, strerror(errno));
}

/* runc's maskedPaths: /dev/null over a file, an empty read-only tmpfs over a directory. */
static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return;
    fail("mask %s: %s", path, strerror(errno));
  }
  int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", path, NULL, MS_BIND, NULL);
  if (r < 0) fail("mask %s: %s", path, strerror(errno));
}

static rlim_t limit_value(const char *text, const char *spec) {
  if (!strcmp(text, "unlimited")) return RLIM_INFINITY;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || !*text) fail("--rlimit: not a limit: %s", spec);
  return (rlim_t)v;
}

static void set_rlimit(const char *spec) {
  char soft[32], hard[32];
  int resource;
  if (sscanf(spec, "%d:%31[^:]:%31s", &resource, soft, hard) != 3) fail("--rlimit: not RESOURCE:SOFT:HARD: %s", spec);
  struct rlimit limit = {limit_value(soft, spec), limit_value(hard, spec)};
  if (setrlimit(resource, &limit) < 0) fail("setrlimit %s: %s", spec, strerror(errno));
}

static void set_groups(const char *list) {
  gid_t groups[NGROUPS_MAX];
  size_t n = 0;
  for (const char *p = list; *p && n < NGROUPS_MAX;) {
    char *end;
    groups[n++] = (gid_t)strtoul(p, &end, 10);
    if (end == p || (*end && *end != ',')) fail("--groups: not a list of numbers: %s", list);
    p = *end ? end + 1 : end;
  }
  if (setgroups(n, groups) < 0) fail("setgroups %s: %s", list, strerror(errno));
}

/* HOME from the container's /etc/passwd when the environment has none, as runc sets it. */
static void default_home(uid_t uid) {
  if (getenv("HOME")) return;
  const char *home = "/";
  FILE *f = fopen("/etc/passwd", "r");
  struct passwd *pw;
  while (f && (pw = fgetpwent(f))) {
    if (pw->pw_uid == uid) {
      home = pw->pw_dir;
      break;
    }
  }
  setenv("HOME", home, 1);
  if (f) fclose(f);
}

struct caps { unsigned long long bounding, effective, permitted, inheritable, ambient; };

static struct caps parse_caps(const char *spec) {
  struct caps c;
  if (sscanf(spec, "%llx:%llx:%llx:%llx:%llx", &c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient) != 5)
    fail("--caps: not five hexadecimal masks: %s", spec);
  return c;
}

/* The bounding set goes first, while this process may still drop from it (runc's order). */
static void drop_bounding(const struct caps *c, int last_cap) {
  for (int cap = 0; cap <= last_cap; cap++) {
    if (c->bounding & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) fail("drop capability %d from the bounding set: %s", cap, strerror(errno));
  }
}

static void apply_caps(const struct caps *c, int last_cap) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (unsigned)(c->effective >> (32 * i));
    data[i].permitted = (unsigned)(c->permitted >> (32 * i));
    data[i].inheritable = (unsigned)(c->inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) < 0) fail("capset: %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail("clear ambient capabilities: %s", strerror(errno));
  /* An ambient capability needs to be permitted and inheritable; runc skips those that are not
     (its default config lists ambient capabilities and no inheritable ones). */
  for (int cap = 0; cap <= last_cap; cap++) {
    if (!(c->ambient & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
      fail("raise ambient capability %d: %s", cap, strerror(errno));
  }
}

static int read_number_file(const char *path, int fallback) {
  FILE *f = fopen(path, "r");
  int v = fallback;
  if (f) {
    if (fscanf(f, "%d", &v) != 1) v = fallback;
    fclose(f);
  }
  return v;
}

#define MAX_LIST 256

/* The guest's loopback up, as runc brings it up in a new network namespace. */
static void loopback_up(void) {
  struct ifreq ifr = {0};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket: %s", strerror(errno));
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) fail("lo: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) fail("lo up: %s", strerror(errno));
  close(fd);
}

static void set_winsize(int fd, const char *size) {
  struct winsize ws = {0};
  if (sscanf(size, "%hux%hu", &ws.ws_row, &ws.ws_col) != 2) fail("not ROWSxCOLS: %s", size);
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) fail("set the window size: %s", strerror(errno));
}

static void become_terminal(int peer) {
  if (setsid() < 0) fail("setsid: %s", strerror(errno));
  if (ioctl(peer, TIOCSCTTY, 0) < 0) fail("make the pty the controlling terminal: %s", strerror(errno));
  for (int fd = 0; fd < 3; fd++)
    if (dup2(peer, fd) < 0) fail("dup2 the pty: %s", strerror(errno));
  if (peer > 2) close(peer);
}

/* The peer of the pty master as the process's terminal. TIOCGPTPEER opens it without a path,
   which the container's root may not have: the master comes from the guest's own devpts. */
static void take_terminal(int master, const char *size) {
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail("unlock the pty: %s", strerror(errno));
  if (size) set_winsize(master, size);
  int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (peer < 0) fail("open the pty's peer: %s", strerror(errno));
  become_terminal(peer);
  close(master);
}

/* The container's cgroup in the guest's cgroup2 hierarchy (mounted here the first time), its
   limits written, and this process moved in, so that the program and all its children count. */
static void join_cgroup(const char *dir, const char **sets, size_t n, const char **rules, size_t n_rules) {
  const char *top = "/sys/fs/cgroup";
  if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) < 0 && mount("cgroup2", top, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail("mount cgroup2 on %s: %s", top, strerror(errno));
  /* Controllers only for limits: a device filter needs none, and enabling them costs time;
     cpuset only for a cpuset (a guest with more vCPUs than the container's set). */
  int cpuset = 0;
  for (size_t i = 0; i < n; i++) cpuset |= !strncmp(sets[i], "cpuset.", 7);
  if (n > 0) write_file("/sys/fs/cgroup/cgroup.subtree_control", cpuset ? "+cpu +memory +pids +cpuset" : "+cpu +memory +pids");
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) fail("mkdir %s: %s", dir, strerror(errno));
  char path[PATH_MAX];
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(sets[i], '=');
    if (!eq || memchr(sets[i], '/', (size_t)(eq - sets[i]))) fail("--cgroup-set: not FILE=VALUE: %s", sets[i]);
    snprintf(path, sizeof path, "%s/%.*s", dir, (int)(eq - sets[i]), sets[i]);
    write_file(path, eq + 1);
  }
  if (n_rules > 0) attach_device_filter(dir, rules, n_rules);
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  write_file(path, "0");
}

/* A sysctl of the container's IPC namespace, written from inside it. */
static void write_sysctl(const char *spec) {
  const char *eq = strchr(spec, '=');
  char path[PATH_MAX] = "/proc/sys/";
  size_t len = strlen(path);
  if (!eq || eq == spec || (size_t)(eq - spec) + len >= sizeof path) fail("--sysctl: not KEY=VALUE: %s", spec);
  for (const char *c = spec; c < eq; c++) {
    if (*c == '/' ) fail("--sysctl: not a sysctl name: %s", spec);
    path[len++] = *c == '.' ? '/' : *c;
  }
  path[len] = 0;
  write_file(path, eq + 1);
}

/* runc's way into a root on a ramfs (--no-pivot): the root moved over / and entered; what was
   there stays beneath. A root mounted before a user namespace was made is locked to its place
   there: it is bound anew first (which leaves out unbindable submounts, as a bind does). */
static void enter_root_moved(const char *root, int readonly) {
  if (readonly && mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    fail("remount %s read-only: %s", root, strerror(errno));
  if (chdir(root) < 0) fail("chdir %s: %s", root, strerror(errno));
  if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) {
    if (errno != EINVAL || mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(root) < 0 ||
        (readonly && mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) || mount(".", "/", NULL, MS_MOVE, NULL) < 0)
      fail("move %s over /: %s", root, strerror(errno));
  }
  if (chroot(".") < 0 || chdir("/") < 0) fail("chroot %s: %s", root, strerror(errno));
}

static void exit_of_signal(int sig) { _exit(128 + sig); }

/* Until it execs, a PID 1 waiting for its start ends of the signals that would end any other
   process: the kernel spares a PID 1 what it does not handle, and a created container must
   still stop at a TERM, as runc's waiting init does. exec resets the handlers. */
static void die_of_signals(void) {
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH ||
        sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
      continue;
    signal(sig, exit_of_signal);
  }
}

/*
 * A guest restored from vmrun's image starts with the image's clock and the image's random
 * state. Sets the wall clock to the host's (HOST_NS, read by the agent at guest monotonic
 * MONO_NS, so the time since then counts too), mixes the host's random bytes (SEED, hex) into
 * the kernel's pool and reseeds its generator, which it would otherwise do only minutes later.
 */
static void restored(const char *host_ns, const char *mono_ns, const char *seed) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long elapsed = (long long)now.tv_sec * 1000000000LL + now.tv_nsec - strtoll(mono_ns, NULL, 10);
  long long wall = strtoll(host_ns, NULL, 10) + (elapsed > 0 ? elapsed : 0);
  struct timespec set = { .tv_sec = wall / 1000000000LL, .tv_nsec = wall % 1000000000LL };
  if (clock_settime(CLOCK_REALTIME, &set) < 0) fail("clock_settime: %s", strerror(errno));
  unsigned char bytes[64];
  size_t n = strlen(seed) / 2;
  if (n == 0 || n > sizeof bytes) fail("--restored: the seed must be 1 to %zu bytes", sizeof bytes);
  for (size_t i = 0; i < n; i++) {
    unsigned int b;
    if (sscanf(seed + 2 * i, "%2x", &b) != 1) fail("--restored: the seed is not hex");
    bytes[i] = (unsigned char)b;
  }
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("/dev/urandom: %s", strerror(errno));
  if (write(fd, bytes, n) != (ssize_t)n) fail("writing /dev/urandom: %s", strerror(errno));
  if (ioctl(fd, RNDRESEEDCRNG) < 0) fail("RNDRESEEDCRNG: %s", strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  int start_fd = -1;
  const char *root = NULL, *root_propagation_name = NULL, *cwd = "/", *groups = NULL, *caps_spec = NULL, *oom_score_adj = NULL;
  const char *devices[MAX_LIST], *readonly_paths[MAX_LIST], *masks[MAX_LIST], *rlimits[MAX_LIST], *cgroup_sets[MAX_LIST];
  const char *device_rules[MAX_LIST];
  size_t n_devices = 0, n_readonly = 0, n_masks = 0, n_rlimits = 0, n_cgroup_sets = 0, n_device_rules = 0;
  static struct ns_request ns;
  /* a mount namespace of the container's made, or one joined; a holder waits for us */
  int own_mounts = 0, joined_mounts = 0, held = 0;
  long uid = -1, gid = -1, mask = 022;
  int readonly_root = 0, no_new_privileges = 0;
  struct syscall_filter *seccomp = NULL;
  const char *seccomp_error;
  int i = 1;
  if (argc == 3 && !strcmp(argv[1], "--resize")) {
    set_winsize(0, argv[2]);
    return 0;
  }
  if ((argc == 2 || argc == 3) && !strcmp(argv[1], "--unlock")) {
    int unlock = 0, n;
    if (ioctl(0, TIOCSPTLCK, &unlock) < 0 || ioctl(0, TIOCGPTN, &n) < 0) fail("unlock the pty: %s", strerror(errno));
    if (argc == 3) set_winsize(0, argv[2]);
    printf("%d\n", n);
    return 0;
  }
  const char *winsize = NULL;
#define PUSH(list, n, v) do { if (n >= MAX_LIST) fail("too many %s", flag); list[n++] = v; } while (0)
  /* The guest's, done before any namespace: the loopback of the guest's network (the
     container's too), and an OOM score, which only a process outside a user namespace may lower. */
  loopback_up();
  for (int j = 1; j + 1 < argc && strcmp(argv[j], "--"); j++)
    if (!strcmp(argv[j], "--oom-score-adj")) oom_score_adj = argv[j + 1];
  if (oom_score_adj) write_file("/proc/self/oom_score_adj", oom_score_adj);
  /* The flags are handled in order: the status fd first, then each mount as it comes. */
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    if (!strcmp(argv[i], "--readonly-root") || !strcmp(argv[i], "--no-new-privileges")) {
      if (argv[i][2] == 'r') readonly_root = 1; else no_new_privileges = 1;
      i -= 1;
      continue;
    }
    if (i + 1 >= argc) fail("%s needs a value", argv[i]);
    const char *flag = argv[i], *value = argv[i + 1];
    if (!strcmp(flag, "--restored")) {
      /* first of all: the container's process must not start with the image's clock or entropy */
      if (i + 3 >= argc) fail("--restored needs HOST_NS MONO_NS SEED");
      restored(argv[i + 1], argv[i + 2], argv[i + 3]);
      memset(argv[i + 3], '0', strlen(argv[i + 3])); /* this process's holder stays: not the seed in its cmdline */
      i += 2;
    } else if (!strcmp(flag, "--mount")) {
      if (i + 4 >= argc) fail("--mount needs TYPE SOURCE TARGET OPTIONS");
      mount_one(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]);
      i += 3;
    } else if (!strcmp(flag, "--devices")) make_devices(value);
    else if (!strcmp(flag, "--status-fd")) {
      status_fd = (int)number(flag, value);
      if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) fail("status fd: %s", strerror(errno));
    }
    else if (!strcmp(flag, "--start-fd")) start_fd = (int)number(flag, value);
    else if (!strcmp(flag, "--root")) root = value;
    else if (!strcmp(flag, "--root-propagation")) root_propagation_name = value;
    else if (!strcmp(flag, "--cwd")) cwd = value;
    else if (!strcmp(flag, "--uid")) uid = number(flag, value);
    else if (!strcmp(flag, "--gid")) gid = number(flag, value);
    else if (!strcmp(flag, "--groups")) groups = value;
    else if (!strcmp(flag, "--umask")) mask = number(flag, value);
    else if (!strcmp(flag, "--caps")) caps_spec = value;
    else if (!strcmp(flag, "--oom-score-adj")) {} /* written before the loop, outside any namespace */
    else if (!strcmp(flag, "--device")) PUSH(devices, n_devices, value);
    else if (!strcmp(flag, "--readonly-path")) PUSH(readonly_paths, n_readonly, value);
    else if (!strcmp(flag, "--mask")) PUSH(masks, n_masks, value);
    else if (!strcmp(flag, "--rlimit")) PUSH(rlimits, n_rlimits, value);
    else if (!strcmp(flag, "--cgroup")) join_cgroup(value, cgroup_sets, n_cgroup_sets, device_rules, n_device_rules);
    else if (!strcmp(flag, "--device-rule")) PUSH(device_rules, n_device_rules, value);
    else if (!strcmp(flag, "--uid-map")) { if (ns.n_uid_maps >= MAX_ID_MAPS) fail("too many %s", flag); ns.uid_maps[ns.n_uid_maps++] = value; }
    else if (!strcmp(flag, "--gid-map")) { if (ns.n_gid_maps >= MAX_ID_MAPS) fail("too many %s", flag); ns.gid_maps[ns.n_gid_maps++] = value; }
    else if (!strcmp(flag, "--namespaces")) {
      ns.flags = namespace_flags(value);
      own_mounts = (ns.flags & CLONE_NEWNS) != 0;
      new_namespaces(&ns);
      held = 1;
    }
    else if (!strcmp(flag, "--share")) share_namespaces(value);
    else if (!strcmp(flag, "--join")) {
      joined_mounts = join_namespaces(value); /* that namespace's root is the container's */
      held = 1;
    }
    else if (!strcmp(flag, "--sysctl")) write_sysctl(value);
    else if (!strcmp(flag, "--cgroup-set")) PUSH(cgroup_sets, n_cgroup_sets, value);
    else if (!strcmp(flag, "--winsize")) winsize = value;
    else if (!strcmp(flag, "--seccomp")) {
      if (!(seccomp = syscall_filter_read(value, &seccomp_error))) fail("%s", seccomp_error);
    }
    else if (!strcmp(flag, "--pty-fd")) take_terminal((int)number(flag, value), winsize);
    else fail("unknown flag %s", flag);
  }
  if (i + 1 >= argc) fail("no program given after --");
  char **args = argv + i + 1;
  struct caps caps = {0};
  if (caps_spec) caps = parse_caps(caps_spec);
  /* The guest's /proc, before the root changes: the container may not mount one. */
  int last_cap = read_number_file("/proc/sys/kernel/cap_last_cap", 40);
  if (joined_mounts) root = NULL; /* exec: already in the container's root */
  /* runc makes a missing working directory, as root, before the root may turn read-only. */
  if (root) {
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s%s", root, cwd) >= (int)sizeof path) fail("cwd too long: %s", cwd);
    if (stat(path, &st) < 0 && errno == ENOENT) mkdir_p(path);
  }
  if (root && own_mounts) {
    enter_root_moved(root, readonly_root);
    if (root_propagation_name) root_propagation("/", root_propagation_name);
  } else {
    if (readonly_root && root && mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
      fail("remount %s read-only: %s", root, strerror(errno));
    if (root_propagation_name && root) root_propagation(root, root_propagation_name);
    if (root && (chroot(root) < 0 || chdir("/") < 0)) fail("chroot %s: %s", root, strerror(errno));
    if (!root && chdir("/") < 0) fail("chdir /: %s", strerror(errno));
  }
  for (size_t d = 0; d < n_devices; d++) make_device(devices[d]);
  for (size_t p = 0; p < n_readonly; p++) readonly_path(readonly_paths[p]);
  for (size_t p = 0; p < n_masks; p++) mask_path(masks[p]);
  for (size_t r = 0; r < n_rlimits; r++) set_rlimit(rlimits[r]);
  if (chdir(cwd) < 0) fail("cwd %s: %s", cwd, strerror(errno));
  default_home(uid >= 0 ? (uid_t)uid : getuid());

  /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before any capability goes. */
  if (seccomp && !no_new_privileges && syscall_filter_load(seccomp, &seccomp_error) < 0) fail("%s", seccomp_error);
  if (caps_spec) {
    drop_bounding(&caps, last_cap);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("keep capabilities: %s", strerror(errno));
  }
  if (groups) set_groups(groups);
  else if (gid >= 0 && setgroups(0, NULL) < 0) fail("setgroups: %s", strerror(errno));
  if (gid >= 0 && setgid((gid_t)gid) < 0) fail("setgid %ld: %s", gid, strerror(errno));
  if (uid >= 0 && setuid((uid_t)uid) < 0) fail("setuid %ld: %s", uid, strerror(errno));
  if (caps_spec) {
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail("keep capabilities: %s", strerror(errno));
    apply_caps(&caps, last_cap);
  }
  /* A change of ids clears the death signal; the holder's death must still be the process's. */
  if (held && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail("death signal: %s", strerror(errno));
  umask((mode_t)mask);

  char found[PATH_MAX];
  const char *program = find_program(args[0], found, sizeof found);
  if (!program) fail("exec: \"%s\": executable file not found in $PATH", args[0]);
  if (no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs: %s", strerror(errno));
  /* With it, as late as can be: what follows is what runc too does under the filter. */
  if (seccomp && no_new_privileges && syscall_filter_load(seccomp, &seccomp_error) < 0) fail("%s", seccomp_error);

  if (getpid() == 1) die_of_signals();
  if (status_fd >= 0) dprintf(status_fd, "ok\n");
  if (start_fd >= 0) {
    char message[32];
    ssize_t n, got = 0;
    do {
      n = read(start_fd, message + got, sizeof message - 1 - (size_t)got);
      if (n > 0) got += n;
    } while ((n > 0 && got < (ssize_t)sizeof message - 1) || (n < 0 && errno == EINTR));
    if (got == 0) _exit(0);
    message[got] = 0;
    close(start_fd);
    int pty;
    if (sscanf(message, "pty %d", &pty) == 1) {
      char path[32];
      snprintf(path, sizeof path, "/dev/pts/%d", pty);
      int peer = open(path, O_RDWR | O_NOCTTY);
      if (peer < 0) fail("open %s: %s", path, strerror(errno));
      become_terminal(peer);
    }
  }
  execv(program, args);
  fail("exec %s: %s", program, strerror(errno));
}

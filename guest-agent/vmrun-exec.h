/* What vmrun-exec's parts share (vmrun-exec.c, namespaces.c, device-filter.c). */
#ifndef VMRUN_EXEC_H
#define VMRUN_EXEC_H
#include <sys/types.h>

/* Reports what failed on the status fd (or stderr) and exits 127. */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
extern int status_fd;

/* namespaces.c */
#define MAX_ID_MAPS 340
struct ns_request {
  int flags;                    /* CLONE_NEW* */
  const char *uid_maps[MAX_ID_MAPS], *gid_maps[MAX_ID_MAPS];
  size_t n_uid_maps, n_gid_maps;
};
int namespace_flags(const char *list);
void new_namespaces(const struct ns_request *req);
int join_namespaces(const char *pid);
void share_namespaces(const char *spec);
extern int in_user_namespace;

/* device-filter.c */
void attach_device_filter(const char *cgroup_dir, const char **rules, size_t n);
#endif

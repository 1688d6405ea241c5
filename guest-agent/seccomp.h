/* linux.seccomp for vmrun-exec: the filter the agent wrote (guest-agent/seccomp.ts), built with
   libseccomp as runc builds it, and loaded into the process before it execs. */
#ifndef VMRUN_SECCOMP_H
#define VMRUN_SECCOMP_H

struct syscall_filter;

/* Reads and builds the filter at path (read before the root changes: the file is the guest's).
   NULL, with *error saying why, if it cannot. */
struct syscall_filter *syscall_filter_read(const char *path, const char **error);

/* Loads the filter into this process and all it execs: 0, or -1 with *error saying why. */
int syscall_filter_load(struct syscall_filter *filter, const char **error);

#endif

#!/usr/bin/env python3
"""Runs a command as a child subreaper, as containerd's shim is, and reports each process it
reaps: "exited PID STATUS" (STATUS is the code, or 128+signal). Processes that outlive the
command (a container's monitor and sentry) are reparented here, so their exit status can be seen."""
import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
command = os.fork()
if command == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    code = os.waitstatus_to_exitcode(status)
    print(f"{'command' if pid == command else 'exited'} {pid} {code if code >= 0 else 128 - code}", flush=True)

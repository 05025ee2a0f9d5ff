/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vb-harness.h: what the vssbackup writer proofs (test-vssbackup-*.c) share on top of the
 * writer harness: running the vssbackup program against a private vssd with its output kept
 * in files the test reads, finding the backup a run stored, and reading the commit
 * acknowledgements the load programs write outside the volume.
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The outcome of one vssbackup run. */
typedef struct VbRun {
        int exit_status;  /* its exit status; -1 when killed by a signal */
        char *out;        /* its stdout, whole (malloc'd) */
        char *err;        /* its stderr, whole (malloc'd) */
} VbRun;

/*
 * vb_run: run $VSSBACKUP with args (NULL-terminated, without argv[0]) and VSS_SOCKET=socket
 * to its end; its stdout and stderr go to <log_dir>/vssbackup-<serial>.{out,err} and are
 * returned in *ret. -ENOENT when $VSSBACKUP is unset. Ownership: *ret ended by vb_run_done().
 */
int vb_run(const char *socket, const char *log_dir, unsigned serial, const char *const *args, VbRun *ret);

/*
 * vb_start / vb_finish: vb_run in two halves, so a test can act while vssbackup runs.
 * vb_start returns the child's pid in *ret_pid; vb_finish reaps it and fills *ret.
 */
int vb_start(const char *socket, const char *log_dir, unsigned serial, const char *const *args, pid_t *ret_pid);
int vb_finish(pid_t pid, const char *log_dir, unsigned serial, VbRun *ret);

/* vb_run_done: free a VbRun's strings. Safe on a zeroed one. */
void vb_run_done(VbRun *r);

/*
 * vb_run_backup_path: the backup directory a successful `vssbackup backup` named on its
 * stdout ("<type> backup <DIR>/<NAME>"), malloc'd in *ret. -ENOENT when there is none.
 */
int vb_run_backup_path(const VbRun *r, char **ret);


/* One commit acknowledgement of a load program: "<k> <begin µs> <ack µs>". */
typedef struct VbAck {
        int64_t k;
        uint64_t begin;
        uint64_t ack;
} VbAck;

/* vb_acks_read: every well-formed line of path, in file order (malloc'd array, *ret_n). */
int vb_acks_read(const char *path, VbAck **ret, size_t *ret_n);

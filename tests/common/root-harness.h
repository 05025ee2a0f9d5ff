/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * root-harness.h: what the root test (tests/root) and the benchmark (bench/) share: a btrfs
 * filesystem on a loop device inside a temporary directory, the child processes they run
 * against it (vssd, writer processes), and the few file helpers both need.
 *
 * Everything here needs root (loop devices, mount). Internal style: functions return 0 or a
 * negative errno; ret_* outputs are written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "time-util.h"

/* A btrfs image attached to a loop device and mounted at <dir>/mnt. */
typedef struct LoopBtrfs {
        char *dir;       /* the temporary directory holding image and mount point (owned) */
        char *image;     /* <dir>/btrfs.img */
        char *mnt;       /* <dir>/mnt */
        char *loop_path; /* /dev/loopN once attached */
        int loop_fd;     /* open while attached; the device auto-clears when it closes */
        bool mounted;
} LoopBtrfs;

/*
 * loop_btrfs_setup: make a temporary directory (template like "/var/tmp/vss-root-XXXXXX"),
 * a sparse image of size bytes in it, mkfs.btrfs it, attach it to a free loop device and
 * mount it at <dir>/mnt. On failure everything made so far is undone and *ret untouched.
 * Ownership: *ret is ended by loop_btrfs_teardown().
 */
int loop_btrfs_setup(const char *dir_template, uint64_t size, LoopBtrfs *ret);

/*
 * loop_btrfs_teardown: unmount, detach the loop device, delete the image and the whole
 * temporary directory. Safe on a zeroed or half set-up LoopBtrfs, and idempotent. Returns
 * the first error met (it carries on regardless).
 */
int loop_btrfs_teardown(LoopBtrfs *l);

/* rm_rf_physical: remove path and everything below it without crossing into other
 * filesystems. Missing path is not an error. */
int rm_rf_physical(const char *path);

/*
 * process_spawn: fork+exec argv[0] (a path) with argv. When ret_stdout_fd is non-NULL, the
 * child's stdout is a pipe whose read end (O_CLOEXEC) is returned there; otherwise the
 * child inherits ours. The child dies with us (PR_SET_PDEATHSIG), so a crashed test leaves
 * no daemon behind.
 */
int process_spawn(char *const argv[], pid_t *ret_pid, int *ret_stdout_fd);

/* process_spawn_flags: process_spawn without a pipe; flags send the child's stdout and/or
 * stderr to /dev/null. */
#define SPAWN_NULL_STDOUT 0x1u
#define SPAWN_NULL_STDERR 0x2u
int process_spawn_flags(char *const argv[], unsigned flags, pid_t *ret_pid);

/*
 * process_stop: SIGTERM, wait up to timeout_ms, then SIGKILL and reap. Returns 0 when the
 * process exited with status 0 after SIGTERM, -ECHILD when it was already gone,
 * -EPROTO otherwise (killed, non-zero exit). pid <= 0 is a no-op returning 0.
 */
int process_stop(pid_t pid, unsigned timeout_ms);

/*
 * read_line_timeout: read one '\n'-terminated line (without the '\n') from fd into buf,
 * waiting at most timeout_ms in total. -ETIMEDOUT, -EPIPE on EOF, -ENOBUFS if too long.
 */
int read_line_timeout(int fd, char *buf, size_t size, unsigned timeout_ms);

/*
 * unix_socket_wait: wait until a stream socket at path accepts connections. When server > 0
 * and that child exits meanwhile (it is reaped here), -ESRCH at once; -ETIMEDOUT otherwise.
 */
int unix_socket_wait(const char *path, pid_t server, unsigned timeout_ms);

/* path_wait_gone: wait until path no longer exists. -ETIMEDOUT when it still does. */
int path_wait_gone(const char *path, unsigned timeout_ms);

/* read_file_full: the whole file, NUL-terminated, malloc'd; *ret_size without the NUL. */
int read_file_full(const char *path, char **ret, size_t *ret_size);

/*
 * spawn_logged: fork+exec argv[0] (searched in PATH) with argv, stdin from /dev/null, stdout
 * and stderr appended to log_path (created 0600). The child dies with us (PR_SET_PDEATHSIG).
 * *ret_pid is the child; stop it with process_stop().
 */
int spawn_logged(char *const argv[], const char *log_path, pid_t *ret_pid);

/*
 * spawn_logged_setup: spawn_logged, with setup(userdata) called in the child once its output
 * goes to the log and before the exec; a setup returning < 0 (having said why on stderr, which
 * is the log) makes the child exit 126 instead.
 */
typedef int (*SpawnSetupFn)(void *userdata);
int spawn_logged_setup(char *const argv[], const char *log_path, SpawnSetupFn setup, void *userdata,
                       pid_t *ret_pid);

/*
 * process_wait_success: reap pid (retrying on EINTR). 0 when it exited with status 0,
 * -EPROTO when it failed or was killed, a negative errno when it cannot be waited for.
 */
int process_wait_success(pid_t pid);

/* process_run_logged: spawn_logged() argv and wait for it: process_wait_success()'s answer. */
int process_run_logged(char *const argv[], const char *log_path);

/*
 * build_program: the path of a built program the test runs: $env_name when set, else
 * $VSS_TEST_BUILDDIR (or ".") / build_rel. The answer lives in one of four rotating static
 * buffers (not thread-safe): enough for the program paths of one argv.
 */
const char *build_program(const char *env_name, const char *build_rel);

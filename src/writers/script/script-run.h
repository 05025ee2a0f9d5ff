/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * script-run.h: run one hook script to its end or its timeout, its output captured into the
 * writer's log (vss-writer-script's process handling, apart from what the events mean).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum ScriptStatus {
        SCRIPT_OK,              /* exited with status 0 */
        SCRIPT_FAILED,          /* exited non-zero, or died of a signal we did not send */
        SCRIPT_TIMED_OUT,       /* we killed its process group at the timeout */
        SCRIPT_SPAWN_FAILED,    /* could not be started */
} ScriptStatus;

typedef struct ScriptResult {
        ScriptStatus status;
        pid_t pid;
        int code;               /* exit status, or the signal number when signaled */
        bool signaled;
        uint64_t duration_usec;
} ScriptResult;

/*
 * script_run: run path as `path arg` with exactly envp as its environment, in a new process
 * group, from "/", with stdin on /dev/null and stdout+stderr on a pipe whose lines go to the
 * log prefixed with "<name>[<pid>] <arg>: ". No other file descriptor is inherited. When the
 * script has not exited after timeout_ms, its whole process group gets SIGKILL. Processes
 * the script leaves running in the background after a normal exit are left alone (a hook
 * may keep a lock-holding client alive until thaw).
 *
 * Returns 0 with *ret filled (whatever the script's fate; SCRIPT_SPAWN_FAILED included), or
 * -ENOMEM/-EMFILE when not even the pipe could be made.
 */
int script_run(const char *path, const char *name, const char *arg, char *const envp[], uint32_t timeout_ms,
               ScriptResult *ret);

/* script_status_describe: "exited 0", "exited 3", "killed by SIGSEGV", "timed out" ... into buf. */
const char *script_status_describe(const ScriptResult *r, char *buf, size_t size);

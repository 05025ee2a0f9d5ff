/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * script-run.c: starting a hook script, collecting its output, enforcing its timeout.
 *
 * Why it is built this way:
 *   - posix_spawn (clone+exec inside glibc) instead of fork: the writer is multi-threaded
 *     (libvss runs callbacks on its own thread), and nothing between fork and exec may take
 *     a lock another thread held. Every file descriptor above 2 is closed in the child, so a
 *     script never inherits the vssd connection or a database descriptor.
 *   - A new process group per script: a timeout kills the script and everything it started
 *     in the foreground, not the writer.
 *   - Output goes through a pipe into our log (stderr, the journal), never to a file: a file
 *     could sit on a volume that is being frozen, and the write would block the very thread
 *     that has to thaw it.
 *   - The wait uses a pidfd when the kernel has one, so the script's exit is seen at once
 *     even if a background child keeps the pipe open; the freeze window is short and every
 *     millisecond of latency here is a millisecond the application stays held.
 *   - A script killed at its timeout may still not die (stuck in the kernel on a frozen
 *     filesystem). We wait a bounded time, then leave it as an orphan to reap later rather
 *     than block the writer, which would then never thaw anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "writers/common/writer-util.h"
#include "writers/script/script-run.h"

#define LINE_MAX_BYTES 1024U
#define OUTPUT_MAX_BYTES (64U * 1024U)
#define KILL_WAIT_MS 2000U
#define ORPHANS_MAX 64U
#define POLL_FALLBACK_MS 10

typedef struct Output {
        const char *name;
        const char *arg;
        pid_t pid;
        char line[LINE_MAX_BYTES];
        size_t len;
        size_t total;          /* bytes seen */
        bool truncated;        /* OUTPUT_MAX_BYTES reached: the rest is drained and dropped */
} Output;

static pid_t orphans[ORPHANS_MAX];

/* Reaps the scripts that outlived their SIGKILL earlier, as far as they are gone now. */
static void orphans_reap(void) {
        for (size_t i = 0; i < ORPHANS_MAX; i++)
                if (orphans[i] > 0 && waitpid(orphans[i], NULL, WNOHANG) != 0)
                        orphans[i] = 0;
}

static void orphan_add(pid_t pid) {
        for (size_t i = 0; i < ORPHANS_MAX; i++)
                if (orphans[i] <= 0) {
                        orphans[i] = pid;
                        return;
                }
        /* Table full: the zombie stays until we exit; nothing else is lost. */
}

static void output_flush(Output *o) {
        if (o->len == 0)
                return;
        wlog(LOG_INFO, "%s[%d] %s: %.*s", o->name, (int) o->pid, o->arg, (int) o->len, o->line);
        o->len = 0;
}

static void output_feed(Output *o, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (o->total >= OUTPUT_MAX_BYTES) {
                        if (!o->truncated) {
                                output_flush(o);
                                wlog(LOG_WARNING, "%s[%d] %s: output beyond %u bytes dropped", o->name,
                                     (int) o->pid, o->arg, OUTPUT_MAX_BYTES);
                                o->truncated = true;
                        }
                        return;
                }
                o->total++;
                if (buf[i] == '\n') {
                        output_flush(o);
                        continue;
                }
                o->line[o->len++] = buf[i];
                if (o->len == sizeof(o->line))
                        output_flush(o);
        }
}

/* Reads what the pipe holds now. Returns 1 while it may hold more, 0 at EOF. */
static int output_drain(Output *o, int fd) {
        char buf[4096];

        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k > 0) {
                        output_feed(o, buf, (size_t) k);
                        continue;
                }
                if (k == 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN ? 1 : 0;
        }
}

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
        return (int) syscall(SYS_pidfd_open, pid, 0);
#else
        errno = ENOSYS;
        return -1;
#endif
}

static int spawn_script(const char *path, const char *arg, char *const envp[], int out_fd, pid_t *ret_pid) {
        char *const argv[] = { (char *) path, (char *) arg, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, defaults;
        int r;

        sigemptyset(&none);
        /* The writer blocks/ignores these; a script must start with the defaults. */
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGTERM);
        sigaddset(&defaults, SIGINT);
        sigaddset(&defaults, SIGHUP);
        sigaddset(&defaults, SIGCHLD);

        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                (void) posix_spawnattr_destroy(&attr);
                return -r;
        }

        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &defaults);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        if (r == 0)
                r = posix_spawn_file_actions_addchdir_np(&fa, "/");
        if (r == 0)
                r = posix_spawn(ret_pid, path, &fa, &attr, argv, envp);

        (void) posix_spawn_file_actions_destroy(&fa);
        (void) posix_spawnattr_destroy(&attr);
        return -r;
}

/* Waits up to ms for pid to exit (reaping it). Returns true when it was reaped. */
static bool wait_exit(pid_t pid, int pidfd, unsigned ms, int *ret_status) {
        uint64_t deadline = mono_usec() + (uint64_t) ms * USEC_PER_MSEC;

        for (;;) {
                pid_t k = waitpid(pid, ret_status, WNOHANG);
                uint64_t now;

                if (k == pid || (k < 0 && errno != EINTR))
                        return k == pid;
                now = mono_usec();
                if (now >= deadline)
                        return false;
                if (pidfd >= 0)
                        (void) poll(&(struct pollfd) { .fd = pidfd, .events = POLLIN }, 1,
                                    (int) ((deadline - now + 999) / 1000));
                else
                        (void) poll(NULL, 0, POLL_FALLBACK_MS);
        }
}

int script_run(const char *path, const char *name, const char *arg, char *const envp[], uint32_t timeout_ms,
               ScriptResult *ret) {
        _cleanup_close_ int rd = -EBADF, wr = -EBADF, pidfd = -EBADF;
        uint64_t start = mono_usec(), deadline = start + (uint64_t) timeout_ms * USEC_PER_MSEC;
        Output out = { .name = name, .arg = arg };
        ScriptResult res = {};
        bool pipe_open = true, exited = false;
        int fds[2], status = 0, r;

        orphans_reap();

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rd = fds[0];
        wr = fds[1];
        if (fcntl(rd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;

        r = spawn_script(path, arg, envp, wr, &res.pid);
        if (r < 0) {
                wlog(LOG_ERR, "%s %s: cannot run: %s", name, arg, strerror(-r));
                res.status = SCRIPT_SPAWN_FAILED;
                res.code = -r;
                *ret = res;
                return 0;
        }
        out.pid = res.pid;
        (void) close(TAKE_FD(wr)); /* only the script holds the write end now: EOF when it is done */
        pidfd = pidfd_open_compat(res.pid);

        while (!exited) {
                struct pollfd p[2];
                uint64_t now = mono_usec();
                nfds_t n = 0;
                int wait_ms;

                if (now >= deadline)
                        break;
                wait_ms = (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
                if (pipe_open)
                        p[n++] = (struct pollfd) { .fd = rd, .events = POLLIN };
                if (pidfd >= 0)
                        p[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                else
                        wait_ms = MIN(wait_ms, POLL_FALLBACK_MS);

                if (poll(p, n, wait_ms) < 0 && errno != EINTR)
                        break;
                if (pipe_open && output_drain(&out, rd) == 0)
                        pipe_open = false;
                exited = waitpid(res.pid, &status, WNOHANG) == res.pid;
        }

        if (!exited) {
                wlog(LOG_ERR, "%s[%d] %s: no exit after %u ms; killing its process group", name, (int) res.pid, arg,
                     timeout_ms);
                (void) kill(-res.pid, SIGKILL);
                if (!wait_exit(res.pid, pidfd, KILL_WAIT_MS, &status)) {
                        wlog(LOG_ERR, "%s[%d] %s: still alive %u ms after SIGKILL; leaving it", name, (int) res.pid,
                             arg, KILL_WAIT_MS);
                        orphan_add(res.pid);
                }
                res.status = SCRIPT_TIMED_OUT;
        }

        /* What the script wrote before it ended; background children may keep the pipe open,
         * so this reads only what is there, it does not wait for EOF. */
        if (pipe_open)
                (void) output_drain(&out, rd);
        output_flush(&out);

        if (exited) {
                if (WIFEXITED(status)) {
                        res.code = WEXITSTATUS(status);
                        res.status = res.code == 0 ? SCRIPT_OK : SCRIPT_FAILED;
                } else {
                        res.signaled = true;
                        res.code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
                        res.status = SCRIPT_FAILED;
                }
        }
        res.duration_usec = mono_usec() - start;
        *ret = res;
        return 0;
}

const char *script_status_describe(const ScriptResult *r, char *buf, size_t size) {
        switch (r->status) {
        case SCRIPT_OK:
                (void) snprintf(buf, size, "exited 0");
                break;
        case SCRIPT_FAILED:
                if (r->signaled)
                        (void) snprintf(buf, size, "killed by SIG%s", sigabbrev_np(r->code) ?: "?");
                else
                        (void) snprintf(buf, size, "exited %d", r->code);
                break;
        case SCRIPT_TIMED_OUT:
                (void) snprintf(buf, size, "timed out");
                break;
        case SCRIPT_SPAWN_FAILED:
                (void) snprintf(buf, size, "could not start: %s", strerror(r->code));
                break;
        }
        return buf;
}

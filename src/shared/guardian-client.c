/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guardian-client.c: vssd's side of the freeze guardian (protocol in guardian-client.h).
 *
 * This file owns the guardian child process: starting it on a socketpair, calling Freeze and
 * Thaw synchronously (the provider phases run synchronously in vssd's loop), noticing that it
 * died and starting a new one for the next hold, and reaping it.
 *
 * The one rule everything here follows: never SIGKILL the guardian. A guardian killed while
 * it holds a freeze leaves the filesystem frozen for good, which is the very failure it exists
 * to prevent. Letting it go means closing our end of the socket; it then thaws and exits on
 * its own, even when it is stuck in a FIFREEZE that takes too long (it sees the hang-up as
 * soon as the ioctl returns). SIGTERM, which it handles by thawing, is the only signal sent,
 * and only to one that does not exit after its socket closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "guardian-client.h"
#include "macro.h"
#include "vss-bus.h"

#define GUARDIAN_FD             3
#define GUARDIAN_START_USEC     (5 * USEC_PER_SEC)  /* exec + mlockall + bus start + Ping */
#define GUARDIAN_THAW_USEC      (5 * USEC_PER_SEC)  /* FITHAW takes well under a millisecond */
#define GUARDIAN_FREEZE_SLACK   (5 * USEC_PER_SEC)  /* added to the deadline for a Freeze call */
#define GUARDIAN_REAP_MS        3000                /* after the socket closed, then SIGTERM */

struct Guardian {
        char *exe_path;
        pid_t pid;       /* 0: none running */
        sd_bus *bus;
        bool holding;    /* a Freeze succeeded and no Thaw has answered yet */
};

/* Waits up to timeout_ms for pid to exit and reaps it. true when it is gone. */
static bool child_reap(pid_t pid, int timeout_ms) {
        _cleanup_close_ int pidfd = -EBADF;
        pid_t w;

        pidfd = pidfd_open(pid, 0);
        if (pidfd >= 0 && timeout_ms > 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
                        ;
        }

        do
                w = waitpid(pid, NULL, WNOHANG);
        while (w < 0 && errno == EINTR);

        /* ECHILD: someone else reaped it, or it is not our child; either way it is gone for us. */
        return w == pid || (w < 0 && errno == ECHILD);
}

/* Forgets the running guardian: closes the socket (it thaws and exits) and reaps it. */
static void guardian_drop(Guardian *g, int reap_ms) {
        if (g->bus) {
                sd_bus_close(g->bus);
                g->bus = sd_bus_unref(g->bus);
        }
        if (g->pid > 0 && !child_reap(g->pid, reap_ms) && reap_ms > 0) {
                (void) kill(g->pid, SIGTERM);
                if (!child_reap(g->pid, reap_ms))
                        fprintf(stderr, "vss-guardian[%d] did not exit after its socket closed and SIGTERM\n",
                                (int) g->pid);
        }
        g->pid = 0;
        g->holding = false;
}

/* The child between fork and exec: async-signal-safe calls only. Never returns. */
_Noreturn static void child_exec(const char *exe, int fd, pid_t parent) {
        char fd_arg[] = "3";
        char *argv[] = { (char *) exe, (char *) "--fd", fd_arg, NULL };
        sigset_t none;
        int null_fd;

        /* vssd blocks signals for sd-event and may ignore SIGPIPE; the guardian starts clean. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        (void) signal(SIGTERM, SIG_DFL);
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGHUP, SIG_DFL);

        /* Belt and braces beside the socket: should vssd's end leak into another process,
         * vssd's death still reaches the guardian as SIGTERM, which thaws. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        if (fd == GUARDIAN_FD) {
                if (fcntl(fd, F_SETFD, 0) < 0)
                        _exit(EXIT_FAILURE);
        } else if (dup2(fd, GUARDIAN_FD) < 0)
                _exit(EXIT_FAILURE);

        /* stdout may be a pipe someone reads to EOF (a test harness reading vssd): not ours. */
        null_fd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0)
                _exit(EXIT_FAILURE);
        (void) close_range(GUARDIAN_FD + 1, ~0U, 0);

        execv(exe, argv);
        _exit(127);
}

static int bus_ping(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, GUARDIAN_BUS_PATH, "org.freedesktop.DBus.Peer", "Ping");
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, GUARDIAN_START_USEC, &error, NULL);
}

int guardian_spawn(const char *exe_path, Guardian **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int ours = -EBADF, theirs = -EBADF;
        _cleanup_free_ char *exe = NULL;
        Guardian *g;
        int pair[2], r;
        pid_t pid, parent;

        if (isempty(exe_path) || !ret)
                return -EINVAL;
        if (access(exe_path, X_OK) < 0)
                return -errno;

        exe = strdup(exe_path);
        if (!exe)
                return -ENOMEM;

        /* CLOEXEC: no other child of vssd may inherit either end, or vssd's death would not
         * close the socket. The child clears it on fd 3 alone. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        ours = pair[0];
        theirs = pair[1];

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_fd(bus, ours, ours);
        if (r < 0)
                return r;
        TAKE_FD(ours); /* the bus owns it now */

        parent = getpid();
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(exe, theirs, parent);
        (void) close(TAKE_FD(theirs));

        r = sd_bus_start(bus);
        if (r >= 0)
                r = bus_ping(bus);
        if (r < 0) {
                Guardian tmp = { .pid = pid, .bus = TAKE_PTR(bus) };

                guardian_drop(&tmp, GUARDIAN_REAP_MS);
                return r == -ETIMEDOUT ? -ETIMEDOUT : -ECHILD;
        }

        g = calloc(1, sizeof(*g));
        if (!g) {
                Guardian tmp = { .pid = pid, .bus = TAKE_PTR(bus) };

                guardian_drop(&tmp, GUARDIAN_REAP_MS);
                return -ENOMEM;
        }
        g->exe_path = TAKE_PTR(exe);
        g->pid = pid;
        g->bus = TAKE_PTR(bus);
        *ret = g;
        return 0;
}

/*
 * Is the guardian still there? Processes whatever it sent meanwhile (HoldExpired signals,
 * which nothing here waits for, would otherwise pile up) and notices a closed socket or an
 * exited child.
 */
static bool guardian_alive(Guardian *g) {
        pid_t w;
        int r;

        if (!g->bus || g->pid <= 0)
                return false;

        do
                r = sd_bus_process(g->bus, NULL);
        while (r > 0);
        if (r < 0 || sd_bus_is_open(g->bus) <= 0)
                return false;

        /* waitpid, not kill(0): a zombie must count as dead, and reaping it here is right.
         * ECHILD: SIGCHLD is ignored, children reap themselves; then ask whether it exists. */
        w = waitpid(g->pid, NULL, WNOHANG);
        if (w < 0 && errno == ECHILD)
                return kill(g->pid, 0) == 0;
        return w == 0;
}

static int guardian_respawn(Guardian *g) {
        Guardian *fresh = NULL;
        int r;

        guardian_drop(g, GUARDIAN_REAP_MS);

        r = guardian_spawn(g->exe_path, &fresh);
        if (r < 0)
                return r;

        /* Move the new child into g; the spawned shell struct is freed empty. */
        g->pid = fresh->pid;
        g->bus = TAKE_PTR(fresh->bus);
        fresh->pid = 0;
        (void) guardian_free(fresh);
        return 0;
}

/* A reply error the guardian sent (a VSS name) rather than a lost or silent connection. */
static bool is_guardian_error(const sd_bus_error *error) {
        return error && error->name && strncmp(error->name, VSS_BUS_ERROR_PREFIX, strlen(VSS_BUS_ERROR_PREFIX)) == 0;
}

vss_hr guardian_freeze(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t effective;
        int r;

        if (!g || !paths || n == 0 || n > GUARDIAN_MAX_PATHS || deadline_ms > GUARDIAN_MAX_DEADLINE_MS)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++)
                if (isempty(paths[i]))
                        return E_INVALIDARG;
        if (g->holding)
                return VSS_E_BAD_STATE;

        if (!guardian_alive(g)) {
                r = guardian_respawn(g);
                if (r < 0) {
                        fprintf(stderr, "vss-guardian: cannot start %s: %s\n", g->exe_path, strerror(-r));
                        return VSS_E_UNEXPECTED;
                }
        }

        r = sd_bus_message_new_method_call(g->bus, &m, NULL, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE, "Freeze");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append_basic(m, 's', paths[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "u", deadline_ms);
        if (r < 0)
                return r == -ENOMEM ? E_OUTOFMEMORY : E_INVALIDARG;

        effective = deadline_ms ?: GUARDIAN_DEFAULT_DEADLINE_MS;
        r = sd_bus_call(g->bus, m, effective * USEC_PER_MSEC + GUARDIAN_FREEZE_SLACK, &error, &reply);
        if (r >= 0) {
                g->holding = true;
                return S_OK;
        }
        if (is_guardian_error(&error))
                return vss_hr_from_bus_error(&error, r);

        /* No answer: stuck in a FIFREEZE, or gone. Let it go; it thaws when it gets out. */
        guardian_drop(g, 0);
        return r == -ETIMEDOUT ? VSS_E_FLUSH_WRITES_TIMEOUT : VSS_E_UNEXPECTED;
}

vss_hr guardian_thaw(Guardian *g) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool was_holding;
        int in_time = 0, r;

        if (!g)
                return E_INVALIDARG;

        was_holding = g->holding;
        g->holding = false;

        if (!guardian_alive(g)) {
                /* It died: whatever it held it thawed at exit (or a SIGKILL left it frozen,
                 * which nothing here can undo), so the hold is broken either way. */
                guardian_drop(g, GUARDIAN_REAP_MS);
                return was_holding ? VSS_E_HOLD_WRITES_TIMEOUT : S_OK;
        }

        r = sd_bus_message_new_method_call(g->bus, &m, NULL, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE, "Thaw");
        if (r < 0)
                return r == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED;

        r = sd_bus_call(g->bus, m, GUARDIAN_THAW_USEC, &error, &reply);
        if (r < 0) {
                if (is_guardian_error(&error))
                        return vss_hr_from_bus_error(&error, r);
                guardian_drop(g, GUARDIAN_REAP_MS);
                return was_holding ? VSS_E_HOLD_WRITES_TIMEOUT : VSS_E_UNEXPECTED;
        }

        r = sd_bus_message_read(reply, "b", &in_time);
        if (r < 0)
                return VSS_E_UNEXPECTED;
        return in_time ? S_OK : VSS_E_HOLD_WRITES_TIMEOUT;
}

pid_t guardian_pid(const Guardian *g) {
        return g ? g->pid : 0;
}

Guardian *guardian_free(Guardian *g) {
        if (!g)
                return NULL;
        guardian_drop(g, GUARDIAN_REAP_MS);
        free(g->exe_path);
        free(g);
        return NULL;
}

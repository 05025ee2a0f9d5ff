/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guardian-client.c: vssd's side of the freeze guardian (protocol in guardian-client.h).
 *
 * This file owns the guardian child process: starting it on a socketpair, calling Freeze and
 * Thaw synchronously (the provider phases run synchronously in vssd's loop), noticing that it
 * died and starting a new one for the next hold, and reaping it.
 *
 * The one rule everything here follows: never SIGKILL a guardian that may still thaw. Letting
 * it go means closing our end of the socket; it then thaws and exits on its own, even when it
 * is stuck in a FIFREEZE that takes too long (it sees the hang-up as soon as the ioctl
 * returns). SIGTERM, which it handles by thawing, is sent only to one that does not exit after
 * its socket closed. The one exception is a stopped guardian (SIGSTOP, SIGTSTP), which can
 * thaw nothing: it is SIGKILLed, and vssd thaws in its place.
 *
 * A guardian can still end a hold without thawing: SIGKILL (the OOM killer, an admin), a stop,
 * a hang. So from the Freeze call to the end of Thaw a watchdog thread of vssd's stands by
 * (the hold's watch, below). It has its own descriptors of the mount points, opened before the
 * freeze, and FITHAWs them itself the moment the guardian is killed, is seen stopped, or vssd's
 * own deadline (the hold deadline plus HOLD_GRACE_USEC) passes. A dm hold (Suspend) is
 * watched the same way; the watch then resumes, through its own /dev/mapper/control, each
 * device of the hold that is still suspended (dm-control.h). It does nothing else: no
 * logging, no allocation, no file I/O but reading the guardian's /proc/<pid>/stat (procfs is
 * never frozen). The provider phases run on vssd's main thread, which is busy in FICLONE or in
 * a bus call during a hold, so the watch must be a thread of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "dm-control.h"
#include "guardian-client.h"
#include "macro.h"
#include "vss-bus.h"
#include "time-util.h"

#ifndef P_PIDFD
#define P_PIDFD 3               /* waitid on a pidfd: Linux 5.4, glibc 2.36 */
#endif

#define GUARDIAN_FD             3
#define GUARDIAN_START_USEC     (5 * USEC_PER_SEC)  /* exec + mlockall + bus start + Ping */
#define GUARDIAN_THAW_USEC      (5 * USEC_PER_SEC)  /* FITHAW takes well under a millisecond */
#define GUARDIAN_FREEZE_SLACK   (5 * USEC_PER_SEC)  /* added to the deadline for a Freeze call */
#define GUARDIAN_REAP_MS        3000                /* after the socket closed, then SIGTERM */
#define HOLD_GRACE_USEC         (250 * USEC_PER_MSEC) /* vssd's deadline trails the guardian's */
#define HOLD_POLL_MSEC          20                  /* how often the watch looks for a stop */
#define HOLD_KILL_WAIT_MSEC     1000                /* a SIGKILLed stopped guardian dies at once */

/* How a hold ended, when it was not by an answered Thaw. */
typedef enum HoldEnd {
        HOLD_RUNNING = 0,
        HOLD_END_EXITED,    /* the guardian exited by itself, which it does only after thawing */
        HOLD_END_GONE,      /* the guardian was killed (or cannot be watched) */
        HOLD_END_STOPPED,   /* the guardian was stopped; the watch SIGKILLed it */
        HOLD_END_DEADLINE,  /* vssd's own deadline passed, the guardian had not thawed */
} HoldEnd;

/*
 * One hold, from the Freeze call to the end of Thaw: vssd's own way to thaw, and the watch
 * thread that uses it. The thread reads only the fields set before it starts; end and
 * n_thawed are written by it and read by the main thread after pthread_join.
 */
typedef struct Hold {
        int fds[GUARDIAN_MAX_PATHS];   /* the mount points asked to be frozen, opened by us */
        size_t n;
        bool dm;                       /* a Suspend: resume devs through control, not FITHAW */
        dev_t devs[GUARDIAN_MAX_PATHS];/* dm: the device under each mount point */
        int control;                   /* dm: our own /dev/mapper/control */
        pid_t pid;                     /* the guardian holding them (for messages) */
        int pidfd;                     /* readable when it exits */
        int stat_fd;                   /* its /proc/<pid>/stat, to see it stopped */
        int quit_fd;                   /* eventfd: the hold ended by Thaw, the watch returns */
        uint64_t deadline_usec;        /* CLOCK_MONOTONIC; vssd's own end of the hold */
        pthread_t thread;
        atomic_int end;                /* HoldEnd */
        size_t n_thawed;               /* filesystems vssd thawed itself */
} Hold;

struct Guardian {
        char *exe_path;
        pid_t pid;       /* 0: none running */
        sd_bus *bus;
        bool holding;    /* a Freeze succeeded and no Thaw has answered yet */
        Hold *hold;      /* from the Freeze call to the end of Thaw */
};

/*
 * Is the process whose /proc/<pid>/stat fd is open stopped by a signal (state T)? Such a
 * guardian can thaw nothing until someone continues it. A tracing stop (t) is not counted: a
 * tracer stops its tracee briefly and often (LeakSanitizer's exit check does, after the
 * guardian thawed), and a debugger holding it stopped meets vssd's deadline instead. pread
 * at 0 makes procfs produce the line afresh; no allocation, so the watch thread may call it.
 */
static bool stat_fd_stopped(int fd) {
        char buf[512], *paren;
        ssize_t k;

        k = pread(fd, buf, sizeof(buf) - 1, 0);
        if (k <= 0)
                return false;
        buf[k] = 0;
        /* "pid (comm) state ...": comm may hold anything, so read from the last ')'. */
        paren = strrchr(buf, ')');
        return paren && paren[1] == ' ' && paren[2] == 'T';
}

static bool process_stopped(pid_t pid) {
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd >= 0 && stat_fd_stopped(fd);
}

/* FITHAW of every mount point (a dm hold: resume of every device still suspended), last
 * first; how many were frozen (and are thawed now). */
static size_t hold_thaw(Hold *h) {
        size_t thawed = 0;

        for (size_t i = h->n; i > 0; i--)
                if (h->dm ? dm_device_resume(h->control, h->devs[i - 1]) > 0 : ioctl(h->fds[i - 1], FITHAW, 0) == 0)
                        thawed++;
        return thawed;
}

/*
 * Did the guardian exit by itself (exit status, not a signal)? Every such exit of a guardian
 * that held something comes after its own thaw; a signal that killed it (SIGKILL, or a crash
 * whose handler re-raised) may not have let it thaw. The child is not reaped (WNOWAIT).
 */
static bool guardian_exited_by_itself(int pidfd) {
        siginfo_t si = {};

        return waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               si.si_pid > 0 && si.si_code == CLD_EXITED;
}

/*
 * The watch: waits for the hold to end by Thaw (quit_fd), and thaws by itself first if the
 * guardian is killed or stops, or vssd's deadline passes. A guardian that exits by itself
 * thawed first, so then the watch does not thaw: a FITHAW after that could only end someone
 * else's freeze made since. Async-signal-safe calls only, in effect: poll, waitid, pread,
 * ioctl, pidfd_send_signal.
 */
static void *hold_watch(void *userdata) {
        Hold *h = userdata;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = h->quit_fd, .events = POLLIN },
                        { .fd = h->pidfd, .events = POLLIN },
                };
                uint64_t now = now_usec();
                int timeout = HOLD_POLL_MSEC;
                HoldEnd end = HOLD_RUNNING;

                if (now >= h->deadline_usec)
                        end = HOLD_END_DEADLINE;
                else {
                        timeout = (int) MIN((uint64_t) HOLD_POLL_MSEC, (h->deadline_usec - now + 999) / 1000);
                        if (poll(p, 2, timeout) < 0 && errno != EINTR)
                                end = HOLD_END_GONE; /* cannot watch: thaw now rather than never */
                        else if (p[0].revents)
                                return NULL;
                        else if (p[1].revents)
                                end = guardian_exited_by_itself(h->pidfd) ? HOLD_END_EXITED : HOLD_END_GONE;
                        else if (stat_fd_stopped(h->stat_fd)) {
                                /* It can run no thaw of its own; make sure it never runs
                                 * again either (a later SIGCONT would have it thaw whatever
                                 * a newer hold froze), wait for it to be gone, then thaw. */
                                struct pollfd dead = { .fd = h->pidfd, .events = POLLIN };

                                (void) pidfd_send_signal(h->pidfd, SIGKILL, NULL, 0);
                                (void) poll(&dead, 1, HOLD_KILL_WAIT_MSEC);
                                end = HOLD_END_STOPPED;
                        }
                }

                if (end != HOLD_RUNNING) {
                        if (end != HOLD_END_EXITED)
                                h->n_thawed = hold_thaw(h);
                        atomic_store(&h->end, end);
                        return NULL;
                }
        }
}

static Hold *hold_free(Hold *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                (void) close(h->fds[i]);
        if (h->pidfd >= 0)
                (void) close(h->pidfd);
        if (h->stat_fd >= 0)
                (void) close(h->stat_fd);
        if (h->quit_fd >= 0)
                (void) close(h->quit_fd);
        if (h->control >= 0)
                (void) close(h->control);
        free(h);
        return NULL;
}

/*
 * Before Freeze is sent: opens the mount points (nothing is frozen yet, so opening cannot
 * block) and the guardian's pidfd, and starts the watch. Returns 0 or a negative errno (a
 * path that cannot be opened: the guardian could not freeze it either).
 */
static int hold_begin(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms, bool dm) {
        Hold *h;
        char stat_path[64];
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->pidfd = h->stat_fd = h->quit_fd = h->control = -EBADF;
        h->pid = g->pid;
        h->dm = dm;

        for (size_t i = 0; i < n; i++) {
                int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                struct stat st;

                if (fd < 0 || (dm && fstat(fd, &st) < 0)) {
                        r = -errno;
                        if (fd >= 0)
                                (void) close(fd);
                        hold_free(h);
                        return r;
                }
                if (dm)
                        h->devs[h->n] = st.st_dev;
                h->fds[h->n++] = fd;
        }
        if (dm) {
                h->control = dm_control_open();
                if (h->control < 0) {
                        r = h->control;
                        hold_free(h);
                        return r;
                }
        }

        (void) snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int) g->pid);
        h->pidfd = pidfd_open(g->pid, 0);
        h->stat_fd = open(stat_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        h->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->pidfd < 0 || h->stat_fd < 0 || h->quit_fd < 0) {
                r = -errno;
                hold_free(h);
                return r;
        }
        h->deadline_usec = now_usec() + (uint64_t) deadline_ms * USEC_PER_MSEC + HOLD_GRACE_USEC;

        r = -pthread_create(&h->thread, NULL, hold_watch, h);
        if (r < 0) {
                hold_free(h);
                return r;
        }
        g->hold = h;
        return 0;
}

/*
 * Ends the hold: stops the watch and, when thaw is set (the guardian may not have thawed:
 * it is gone, hung, or did not answer), FITHAWs every mount point itself. Logs what vssd had
 * to do, now that nothing it froze is frozen. Returns how the hold ended (HOLD_RUNNING: by
 * the guardian, vssd thawed nothing). No-op without a hold.
 */
static HoldEnd hold_finish(Guardian *g, bool thaw) {
        static const char *const why[] = {
                [HOLD_END_EXITED] = "exited by itself, having thawed,",
                [HOLD_END_GONE] = "was killed",
                [HOLD_END_STOPPED] = "was stopped (it is killed now)",
                [HOLD_END_DEADLINE] = "had not thawed by vssd's own deadline",
        };
        Hold *h = g->hold;
        HoldEnd end;

        if (!h)
                return HOLD_RUNNING;
        (void) eventfd_write(h->quit_fd, 1);
        (void) pthread_join(h->thread, NULL);

        end = atomic_load(&h->end);
        if (end != HOLD_RUNNING)
                fprintf(stderr, "vss-guardian[%d] %s during a hold: vssd %s %zu of %zu %s itself\n",
                        (int) h->pid, why[end], h->dm ? "resumed" : "thawed", h->n_thawed, h->n,
                        h->dm ? "device(s)" : "filesystem(s)");
        else if (thaw) {
                h->n_thawed = hold_thaw(h);
                if (h->n_thawed > 0) {
                        fprintf(stderr, "vss-guardian[%d] left %zu of %zu %s: vssd %s them\n", (int) h->pid,
                                h->n_thawed, h->n, h->dm ? "device(s) suspended" : "filesystem(s) frozen",
                                h->dm ? "resumed" : "thawed");
                        end = HOLD_END_GONE;
                }
        }

        g->hold = hold_free(h);
        return end;
}

/* Waits up to timeout_ms for pid to exit and reaps it. true when it is gone; *ret_clean
 * (if given) true when we reaped it and it had exited by itself (exit status, not a signal). */
static bool child_reap(pid_t pid, int timeout_ms, bool *ret_clean) {
        _cleanup_close_ int pidfd = -EBADF;
        int status = 0;
        pid_t w;

        pidfd = pidfd_open(pid, 0);
        if (pidfd >= 0 && timeout_ms > 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
                        ;
        }

        do
                w = waitpid(pid, &status, WNOHANG);
        while (w < 0 && errno == EINTR);

        if (ret_clean)
                *ret_clean = w == pid && WIFEXITED(status);
        /* ECHILD: someone else reaped it, or it is not our child; either way it is gone for us. */
        return w == pid || (w < 0 && errno == ECHILD);
}

/*
 * Forgets the running guardian: closes the socket (it thaws and exits) and reaps it; a
 * stopped one, which cannot thaw, is SIGKILLed. A hold still open is then thawed by vssd,
 * unless the guardian was seen to exit by itself (after its own thaw): nothing it was asked to
 * freeze stays frozen.
 */
static void guardian_drop(Guardian *g, int reap_ms) {
        bool clean = false;

        if (g->bus) {
                sd_bus_close(g->bus);
                g->bus = sd_bus_unref(g->bus);
        }
        if (g->pid > 0 && process_stopped(g->pid))
                (void) kill(g->pid, SIGKILL);
        if (g->pid > 0 && !child_reap(g->pid, reap_ms, &clean) && reap_ms > 0) {
                (void) kill(g->pid, SIGTERM);
                if (!child_reap(g->pid, reap_ms, &clean))
                        fprintf(stderr, "vss-guardian[%d] did not exit after its socket closed and SIGTERM\n",
                                (int) g->pid);
        }
        (void) hold_finish(g, !clean);
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
                return kill(g->pid, 0) == 0 && !process_stopped(g->pid);
        /* A stopped guardian would take a Freeze and never answer: as good as dead. */
        return w == 0 && !process_stopped(g->pid);
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

/* Freeze or Suspend (dm), as guardian_freeze and guardian_suspend describe. */
static vss_hr guardian_hold(Guardian *g, bool dm, char *const *paths, size_t n, uint32_t deadline_ms) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t effective;
        int r;

        if (!g || !paths || n == 0 || n > GUARDIAN_MAX_PATHS || deadline_ms > GUARDIAN_MAX_DEADLINE_MS)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++)
                if (isempty(paths[i]) || paths[i][0] != '/')
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

        r = sd_bus_message_new_method_call(g->bus, &m, NULL, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE,
                                           dm ? "Suspend" : "Freeze");
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
        r = hold_begin(g, paths, n, effective, dm);
        if (r < 0) {
                fprintf(stderr, "vss-guardian: cannot watch the hold: %s\n", strerror(-r));
                return r == -ENOMEM ? E_OUTOFMEMORY : vss_hr_from_errno(r);
        }

        r = sd_bus_call(g->bus, m, effective * USEC_PER_MSEC + GUARDIAN_FREEZE_SLACK, &error, &reply);
        if (r >= 0) {
                /* Holding; the watch stands by until guardian_thaw. */
                g->holding = true;
                return S_OK;
        }
        if (is_guardian_error(&error)) {
                /* It refused or failed, and thawed whatever it had frozen before answering. */
                (void) hold_finish(g, false);
                return vss_hr_from_bus_error(&error, r);
        }

        /* No answer: stuck in a FIFREEZE, stopped, or gone. Thaw what it froze so far, and
         * let it go; it thaws what it still freezes when it gets out, seeing us gone. */
        (void) hold_finish(g, true);
        guardian_drop(g, 0);
        return r == -ETIMEDOUT ? VSS_E_FLUSH_WRITES_TIMEOUT : VSS_E_UNEXPECTED;
}

vss_hr guardian_freeze(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms) {
        return guardian_hold(g, false, paths, n, deadline_ms);
}

vss_hr guardian_suspend(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms) {
        return guardian_hold(g, true, paths, n, deadline_ms);
}

vss_hr guardian_thaw(Guardian *g) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool was_holding;
        HoldEnd end;
        int in_time = 0, r;

        if (!g)
                return E_INVALIDARG;

        was_holding = g->holding;
        g->holding = false;

        end = g->hold ? (HoldEnd) atomic_load(&g->hold->end) : HOLD_RUNNING;
        if (end == HOLD_END_EXITED || end == HOLD_END_GONE || end == HOLD_END_STOPPED || !guardian_alive(g)) {
                /* It exited (thawing first), was killed or was stopped: the watch (or
                 * guardian_drop, now) thawed in its place. The hold is broken either way. */
                guardian_drop(g, GUARDIAN_REAP_MS);
                return was_holding ? VSS_E_HOLD_WRITES_TIMEOUT : S_OK;
        }

        r = sd_bus_message_new_method_call(g->bus, &m, NULL, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE, "Thaw");
        if (r < 0) {
                guardian_drop(g, GUARDIAN_REAP_MS);
                return r == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED;
        }

        r = sd_bus_call(g->bus, m, GUARDIAN_THAW_USEC, &error, &reply);
        if (r < 0) {
                if (is_guardian_error(&error)) {
                        /* Its deadline fired first: it thawed by itself. */
                        (void) hold_finish(g, false);
                        return vss_hr_from_bus_error(&error, r);
                }
                guardian_drop(g, GUARDIAN_REAP_MS);
                return was_holding ? VSS_E_HOLD_WRITES_TIMEOUT : VSS_E_UNEXPECTED;
        }

        /* It thawed. Had vssd's own deadline passed first, the hold was too long anyway. */
        end = hold_finish(g, false);
        r = sd_bus_message_read(reply, "b", &in_time);
        if (r < 0)
                return VSS_E_UNEXPECTED;
        return in_time && end == HOLD_RUNNING ? S_OK : VSS_E_HOLD_WRITES_TIMEOUT;
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

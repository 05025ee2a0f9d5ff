/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-guardian: holds filesystem freezes for vssd, and guarantees they end.
 *
 * FIFREEZE is not owned by a file descriptor: a freezer that dies leaves the filesystem
 * frozen, and every guest agent that froze from its main process has had to fix "the machine
 * hung" after the fact. So vssd never freezes anything. It starts this small process on a
 * socketpair (src/shared/guardian-client.c) and asks it, over D-Bus peer to peer, to Freeze a
 * list of filesystems and later to Thaw them (protocol: guardian-client.h). A hold of the
 * second kind, Suspend, suspends the device-mapper devices under the filesystems instead
 * (the kernel freezes each filesystem as part of the suspend): the LVM provider's classic
 * snapshots are made of suspended origins, which a FIFREEZE'd filesystem would refuse
 * (dm-control.h, docs/providers.md). Such a hold is a freeze in all but name and ends the
 * same way. This process thaws (resumes) everything it froze, in reverse order:
 *   - at its deadline (default 10 s, VSS's flush-and-hold limit), after which Thaw fails with
 *     VSS_E_HOLD_WRITES_TIMEOUT so the snapshot set fails;
 *   - at once when the socket to vssd closes (vssd died or let it go);
 *   - on SIGTERM, SIGINT and SIGHUP, at exit, and on a crash (a last-gasp signal handler).
 * It thaws only what it froze; a filesystem someone else froze is never touched.
 *
 * It must never need a frozen filesystem itself: all its memory is locked (mlockall) and
 * symbols are bound at load time (-z now), so no page of it is read from disk while it
 * holds; the mount points are opened before the first FIFREEZE and kept open until the thaw;
 * it writes no files, never forks or execs, and logs (to stderr, the journal) only when it
 * holds nothing, because stderr may itself lead to a frozen filesystem. The ends it cannot
 * handle are SIGKILL and SIGSTOP, so it opts out of the OOM killer at start (a failure to lock
 * its memory or to opt out is logged as a warning), and vssd stands by to thaw in its place
 * should it die, stop or hang mid-hold (guardian-client.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "config.h"
#include "dm-control.h"
#include "guardian-client.h"
#include "macro.h"
#include "vss-bus.h"
#include "time-util.h"

/*
 * What is frozen (FIFREEZE) or suspended (dm), at file scope because the crash handler must
 * reach it. Only the event loop's thread writes it; the handler only reads it, after the loop
 * stopped dead. One hold at a time, of one kind.
 */
static int frozen_fds[GUARDIAN_MAX_PATHS];
static volatile sig_atomic_t n_frozen;
static dev_t suspended_devs[GUARDIAN_MAX_PATHS];
static volatile sig_atomic_t n_suspended;
static int dm_control = -EBADF;      /* /dev/mapper/control, open while a dm hold is */

static bool holding(void) {
        return n_frozen > 0 || n_suspended > 0;
}

typedef struct Keeper {
        sd_event *event;
        sd_bus *bus;
        sd_event_source *deadline;  /* armed while holding */
        uint32_t deadline_ms;
        bool expired;               /* the deadline thawed; the next Thaw reports it */
} Keeper;

static bool log_to_journal; /* stderr is the journal's stream: "<N>" priority prefixes */

/* systemd names the stream it connected in $JOURNAL_STREAM ("<dev>:<inode>"). */
static void log_setup(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                         (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

/*
 * One line at priority (LOG_ERR, LOG_WARNING, LOG_INFO), to stderr: with the journal's
 * priority prefix under systemd, else "vss-guardian: warning: ...". Logs only while nothing
 * is frozen: stderr may be a file on a filesystem we froze.
 */
_printf_(2, 3) static void log_msg(int priority, const char *fmt, ...) {
        va_list ap;

        if (holding())
                return;
        if (log_to_journal)
                fprintf(stderr, "<%d>", priority);
        else
                fprintf(stderr, "vss-guardian: %s", priority == LOG_ERR       ? "error: "
                                                    : priority == LOG_WARNING ? "warning: "
                                                                              : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/*
 * Thaws everything held, last frozen first, and closes the descriptors. Returns how many
 * FITHAW calls failed: EINVAL means someone else thawed that filesystem meanwhile. A dm hold
 * is resumed likewise; a device found no longer suspended is no failure there, for the
 * lvcreate run inside the hold resumes its own origin (docs/providers.md): only a failed
 * resume counts.
 */
static size_t thaw_all(Keeper *k) {
        size_t failed = 0;

        while (n_suspended > 0) {
                if (dm_device_resume(dm_control, suspended_devs[n_suspended - 1]) < 0)
                        failed++;
                n_suspended--;
        }
        if (dm_control >= 0) {
                (void) close(dm_control);
                dm_control = -EBADF;
        }
        while (n_frozen > 0) {
                int fd = frozen_fds[n_frozen - 1];

                if (ioctl(fd, FITHAW, 0) < 0)
                        failed++;
                n_frozen--;
                (void) close(fd);
        }
        if (k)
                k->deadline = sd_event_source_disable_unref(k->deadline);
        return failed;
}

/* A crash must not leave anything frozen: thaw with bare syscalls, then die as we would have. */
static void fatal_signal_handler(int sig) {
        for (int i = n_suspended; i > 0; i--)
                (void) dm_device_resume(dm_control, suspended_devs[i - 1]);
        n_suspended = 0;
        for (int i = n_frozen; i > 0; i--)
                (void) ioctl(frozen_fds[i - 1], FITHAW, 0);
        n_frozen = 0;
        (void) raise(sig);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Keeper *k = userdata;
        size_t held = n_frozen + n_suspended, failed;

        failed = thaw_all(k);
        k->expired = true;
        (void) sd_bus_emit_signal(k->bus, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE, "HoldExpired", NULL);
        log_msg(LOG_WARNING, "hold deadline of %u ms reached: thawed %zu filesystem(s)%s", k->deadline_ms, held,
                failed > 0 ? ", some had already been thawed by someone else" : "");
        return 0;
}

/* Did vssd hang up? Checked between FIFREEZE calls, which can each take long. */
static bool peer_gone(Keeper *k) {
        struct pollfd p = { .fd = sd_bus_get_fd(k->bus), .events = POLLRDHUP };

        if (p.fd < 0)
                return true;
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* FIFREEZE's errno as the caller sees it: a flush that did not happen, unless it is plainly
 * a permission or an unsupported filesystem. */
static vss_hr hr_from_freeze_errno(int e) {
        if (e == EPERM || e == EACCES || e == EOPNOTSUPP || e == ENOTTY)
                return vss_hr_from_errno(e);
        return VSS_E_FLUSH_WRITES_TIMEOUT;
}

/* Reads and checks Freeze's paths; they point into m and live as long as it does. */
static int read_paths(sd_bus_message *m, const char **paths, size_t *ret_n, sd_bus_error *error) {
        const char *p;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(m, 's', &p)) > 0) {
                if (n >= GUARDIAN_MAX_PATHS)
                        return vss_hr_to_bus_error(error, E_INVALIDARG, "more than %u filesystems",
                                                   GUARDIAN_MAX_PATHS);
                if (p[0] != '/' || strnlen(p, PATH_MAX) >= PATH_MAX)
                        return vss_hr_to_bus_error(error, E_INVALIDARG, "not an absolute path: %.256s", p);
                paths[n++] = p;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (n == 0)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "no filesystem to freeze");

        *ret_n = n;
        return 0;
}

/*
 * Opens every path before anything is frozen (opening later could need a frozen
 * filesystem). Two paths on one filesystem get one descriptor: a second FIFREEZE of the same
 * filesystem would fail with EBUSY.
 */
static int open_targets(const char *const *paths, size_t n, int *fds, size_t *ret_n, sd_bus_error *error) {
        dev_t devs[GUARDIAN_MAX_PATHS];
        size_t m = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                bool dup = false;

                fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        int e = errno;

                        for (size_t j = 0; j < m; j++)
                                (void) close(fds[j]);
                        return vss_hr_to_bus_error(error, vss_hr_from_errno(e), "cannot open %s: %s", paths[i],
                                                   strerror(e));
                }
                for (size_t j = 0; j < m && !dup; j++)
                        dup = devs[j] == st.st_dev;
                if (dup)
                        continue;
                devs[m] = st.st_dev;
                fds[m++] = TAKE_FD(fd);
        }

        *ret_n = m;
        return 0;
}

/* The hold is taken (start: when the first freeze began): arm its deadline and answer. */
static int hold_arm(Keeper *k, sd_bus_message *m, uint64_t start, sd_bus_error *error) {
        int r;

        r = sd_event_add_time(k->event, &k->deadline, CLOCK_MONOTONIC, start + k->deadline_ms * USEC_PER_MSEC, 0,
                              on_deadline, k);
        if (r < 0) {
                (void) thaw_all(k);
                return vss_hr_to_bus_error(error, E_OUTOFMEMORY, "cannot arm the hold deadline");
        }
        return sd_bus_reply_method_return(m, NULL);
}

/*
 * The arguments Freeze and Suspend share: the paths ("as") and the deadline ("u", 0 for the
 * default, at most GUARDIAN_MAX_DEADLINE_MS); refused while a hold is active.
 */
static int read_hold_request(sd_bus_message *m, const char *paths[static GUARDIAN_MAX_PATHS], size_t *ret_n,
                             uint32_t *ret_deadline_ms, sd_bus_error *error) {
        uint32_t deadline_ms;
        int r;

        r = read_paths(m, paths, ret_n, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "u", &deadline_ms);
        if (r < 0)
                return r;
        if (deadline_ms > GUARDIAN_MAX_DEADLINE_MS)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "deadline over %u ms", GUARDIAN_MAX_DEADLINE_MS);
        if (holding())
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE, "a hold is already active");
        *ret_deadline_ms = deadline_ms == 0 ? GUARDIAN_DEFAULT_DEADLINE_MS : deadline_ms;
        return 0;
}

static int method_freeze(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Keeper *k = userdata;
        const char *paths[GUARDIAN_MAX_PATHS];
        int fds[GUARDIAN_MAX_PATHS];
        uint64_t start;
        uint32_t deadline_ms;
        size_t n = 0, nfd = 0;
        int r;

        r = read_hold_request(m, paths, &n, &deadline_ms, error);
        if (r < 0)
                return r;

        r = open_targets(paths, n, fds, &nfd, error);
        if (r < 0)
                return r;

        k->expired = false;
        k->deadline_ms = deadline_ms;
        start = now_usec();
        for (size_t i = 0; i < nfd; i++) {
                vss_hr hr = S_OK;
                int e = 0;

                if (ioctl(fds[i], FIFREEZE, 0) < 0) {
                        e = errno;
                        hr = hr_from_freeze_errno(e);
                        (void) close(fds[i]);
                } else {
                        frozen_fds[n_frozen] = fds[i];
                        n_frozen = n_frozen + 1;
                        if (now_usec() - start > deadline_ms * USEC_PER_MSEC)
                                hr = VSS_E_FLUSH_WRITES_TIMEOUT;
                        else if (peer_gone(k))
                                hr = VSS_E_UNEXPECTED;
                }

                if (VSS_FAILED(hr)) {
                        for (size_t j = i + 1; j < nfd; j++)
                                (void) close(fds[j]);
                        (void) thaw_all(k);
                        if (e > 0)
                                return vss_hr_to_bus_error(error, hr, "cannot freeze the filesystem of %s: %s",
                                                           paths[i], strerror(e));
                        return vss_hr_to_bus_error(error, hr, "freezing took longer than %u ms or the peer left",
                                                   deadline_ms);
                }
        }

        return hold_arm(k, m, start, error);
}

/*
 * Suspend: like Freeze, with a dm suspend (lockfs) of the device under each filesystem
 * instead of FIFREEZE. Every device is checked before the first is suspended: a path not on
 * a device-mapper device, or a device someone else suspended (we would resume it at our
 * thaw), refuses the whole call.
 */
static int method_suspend(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Keeper *k = userdata;
        const char *paths[GUARDIAN_MAX_PATHS];
        int fds[GUARDIAN_MAX_PATHS];
        dev_t devs[GUARDIAN_MAX_PATHS];
        _cleanup_close_ int control = -EBADF;
        uint64_t start;
        uint32_t deadline_ms;
        size_t n = 0, nfd = 0;
        int r;

        r = read_hold_request(m, paths, &n, &deadline_ms, error);
        if (r < 0)
                return r;

        /* One device per filesystem (open_targets merges paths on one), by its number. */
        r = open_targets(paths, n, fds, &nfd, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nfd; i++) {
                struct stat st;

                devs[i] = fstat(fds[i], &st) == 0 ? st.st_dev : 0;
                (void) close(fds[i]);
        }

        control = dm_control_open();
        if (control < 0)
                return vss_hr_to_bus_error(error, vss_hr_from_errno(control), "cannot open %s: %s", DM_CONTROL_PATH,
                                           strerror(-control));
        for (size_t i = 0; i < nfd; i++) {
                r = dm_device_suspended(control, devs[i]);
                if (r == -ENXIO)
                        return vss_hr_to_bus_error(error, VSS_E_VOLUME_NOT_SUPPORTED,
                                                   "volume %zu of %zu is not on a device-mapper device", i + 1, nfd);
                if (r < 0)
                        return vss_hr_to_bus_error(error, vss_hr_from_errno(r), "cannot query device %u:%u: %s",
                                                   major(devs[i]), minor(devs[i]), strerror(-r));
                if (r > 0)
                        return vss_hr_to_bus_error(error, VSS_E_FLUSH_WRITES_TIMEOUT,
                                                   "device %u:%u is suspended by someone else", major(devs[i]),
                                                   minor(devs[i]));
        }

        k->expired = false;
        k->deadline_ms = deadline_ms;
        dm_control = TAKE_FD(control);
        start = now_usec();
        for (size_t i = 0; i < nfd; i++) {
                vss_hr hr = S_OK;

                r = dm_device_suspend(dm_control, devs[i]);
                if (r < 0)
                        hr = hr_from_freeze_errno(-r);
                else {
                        suspended_devs[n_suspended] = devs[i];
                        n_suspended = n_suspended + 1;
                        if (now_usec() - start > deadline_ms * USEC_PER_MSEC)
                                hr = VSS_E_FLUSH_WRITES_TIMEOUT;
                        else if (peer_gone(k))
                                hr = VSS_E_UNEXPECTED;
                }

                if (VSS_FAILED(hr)) {
                        (void) thaw_all(k);
                        if (r < 0)
                                return vss_hr_to_bus_error(error, hr, "cannot suspend device %u:%u: %s",
                                                           major(devs[i]), minor(devs[i]), strerror(-r));
                        return vss_hr_to_bus_error(error, hr, "suspending took longer than %u ms or the peer left",
                                                   deadline_ms);
                }
        }

        return hold_arm(k, m, start, error);
}

static int method_thaw(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Keeper *k = userdata;
        size_t held, failed;

        if (k->expired) {
                k->expired = false;
                return vss_hr_to_bus_error(error, VSS_E_HOLD_WRITES_TIMEOUT,
                                           "the hold deadline of %u ms fired before the thaw", k->deadline_ms);
        }

        held = n_frozen + n_suspended;
        failed = thaw_all(k);
        if (failed > 0)
                log_msg(LOG_WARNING, "%zu of %zu filesystem(s) were no longer frozen at the thaw: someone else thawed them",
                        failed, held);
        return sd_bus_reply_method_return(m, "b", failed == 0);
}

static const sd_bus_vtable guardian_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Freeze", SD_BUS_ARGS("as", mount_paths, "u", deadline_ms), SD_BUS_NO_RESULT,
                                method_freeze, 0),
        SD_BUS_METHOD_WITH_ARGS("Suspend", SD_BUS_ARGS("as", mount_paths, "u", deadline_ms), SD_BUS_NO_RESULT,
                                method_suspend, 0),
        SD_BUS_METHOD_WITH_ARGS("Thaw", SD_BUS_NO_ARGS, SD_BUS_RESULT("b", all_thawed_in_time), method_thaw, 0),
        SD_BUS_SIGNAL("HoldExpired", NULL, 0),
        SD_BUS_VTABLE_END,
};

static int setup_signals(sd_event *event) {
        static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
        struct sigaction sa = { .sa_handler = fatal_signal_handler, .sa_flags = SA_RESETHAND | SA_NODEFER };
        sigset_t ss;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                (void) sigaction(fatal[i], &sa, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        /* sd-event wants the signals blocked; a NULL handler ends the loop, which thaws. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return -errno;
        r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGHUP, NULL, NULL);
        return r;
}

static int setup_bus(Keeper *k, int fd) {
        sd_id128_t id;
        int r;

        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        r = sd_bus_new(&k->bus);
        if (r < 0)
                return r;
        r = sd_bus_set_fd(k->bus, fd, fd);
        if (r < 0)
                return r;
        r = sd_bus_set_server(k->bus, 1, id);
        if (r < 0)
                return r;
        /* vssd gone: end the loop, which thaws. */
        r = sd_bus_set_exit_on_disconnect(k->bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(k->bus, NULL, GUARDIAN_BUS_PATH, GUARDIAN_BUS_IFACE, guardian_vtable, k);
        if (r < 0)
                return r;
        r = sd_bus_start(k->bus);
        if (r < 0)
                return r;
        return sd_bus_attach_event(k->bus, k->event, SD_EVENT_PRIORITY_NORMAL);
}

static int oom_protect(void) {
        _cleanup_close_ int fd = -EBADF;

        fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (write(fd, "-1000", 5) != 5)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* Exit statuses (docs/exit-codes.md): 1 is a usage error, 2 a failure. */
#define EXIT_FAILED 2

static void help(void) {
        printf("Usage: vss-guardian --fd N\n"
               "\n"
               "Holds filesystem freezes (FIFREEZE, or a device-mapper suspend) for vssd and\n"
               "thaws them at their deadline, when the socket on fd N closes, on\n"
               "SIGTERM/SIGINT/SIGHUP and at exit. Speaks D-Bus peer to\n"
               "peer on fd N (interface " GUARDIAN_BUS_IFACE " at " GUARDIAN_BUS_PATH ").\n"
               "Started by vssd; runnable by hand for tests.\n"
               "\n"
               "  -h --help      show this help\n"
               "     --version  show the version\n"
               "     --fd N     the connected socket to serve (required)\n"
               "\n"
               "Exit status: 0 success, 1 usage error, 2 failure (docs/exit-codes.md).\n");
}

static int parse_argv(int argc, char *argv[], int *ret_fd) {
        static const struct option options[] = {
                { "help", no_argument,       NULL, 'h' },
                { "version", no_argument,    NULL, 'V' },
                { "fd",   required_argument, NULL, 'f' },
                {}
        };
        int c, fd = -1;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("vss-guardian %s\n", VSS_VERSION);
                        return 0;
                case 'f': {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || *end || end == optarg || v < 0 || v > INT_MAX) {
                                fprintf(stderr, "vss-guardian: invalid --fd: %s\n", optarg);
                                return -EINVAL;
                        }
                        fd = (int) v;
                        break;
                }
                default:
                        return -EINVAL;
                }

        if (optind < argc || fd < 0) {
                fprintf(stderr, "vss-guardian: --fd N is required (see --help)\n");
                return -EINVAL;
        }
        *ret_fd = fd;
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Keeper k = {};
        struct stat st;
        size_t held, failed;
        int fd = -1, r;

        log_setup();
        r = parse_argv(argc, argv, &fd);
        if (r <= 0)
                return r < 0 ? 1 : 0; /* usage error, or help/version (docs/exit-codes.md) */

        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                fprintf(stderr, "vss-guardian: fd %d is not a socket\n", fd);
                return EXIT_FAILED;
        }

        /* No page of ours may need reading from a disk we froze. Beyond RLIMIT_MEMLOCK this
         * needs CAP_IPC_LOCK, which vssd's unit grants; without it we carry on, warned. */
        if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
                log_msg(LOG_WARNING,
                        "cannot lock memory (%s): a hold may stall on paging; vssd's unit grants CAP_IPC_LOCK",
                        strerror(errno));

        /* The OOM killer's SIGKILL is the one end we cannot thaw at (vssd then thaws in our
         * place): opt out of it. A kernel knob, not a file on any disk, and set before
         * anything is ever frozen. -1000 needs CAP_SYS_RESOURCE, which vssd's unit grants. */
        r = oom_protect();
        if (r < 0)
                log_msg(LOG_WARNING,
                        "cannot opt out of the OOM killer (%s): vssd thaws should it be killed mid-hold; "
                        "vssd's unit grants CAP_SYS_RESOURCE",
                        strerror(-r));

        r = sd_event_new(&event);
        if (r >= 0)
                r = setup_signals(event);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot set up the event loop: %s", strerror(-r));
                return EXIT_FAILED;
        }
        k.event = event;

        r = setup_bus(&k, fd);
        bus = k.bus;
        if (r < 0) {
                log_msg(LOG_ERR, "cannot serve fd %d: %s", fd, strerror(-r));
                return EXIT_FAILED;
        }

        r = sd_event_loop(event);

        held = n_frozen + n_suspended;
        failed = thaw_all(&k);
        if (held > 0)
                log_msg(LOG_WARNING, "exiting while holding: thawed %zu filesystem(s)%s", held,
                        failed > 0 ? ", some had already been thawed by someone else" : "");
        return r < 0 ? EXIT_FAILED : EXIT_SUCCESS;
}

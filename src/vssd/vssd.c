/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vssd.c: the coordinator daemon's entry point: command line, signals, the Manager, READY=1,
 * and the event loop. Everything the daemon does lives in libvssd-core; this file only wires
 * it up, so the tests link the same code without a main().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "guardian-client.h"
#include "vssd/config-file.h"
#include "vssd/log.h"
#include "vssd/manager.h"
#include "vssd/snapshot-catalog.h"
#include "vssd/writer-registry.h"

#define VSSD_CONFIG_FILE VSS_SYSCONFDIR "/vss/vssd.conf"

static void help(void) {
        printf("vssd [OPTIONS...]\n\n"
               "The Volume Shadow Copy Service coordinator. Settings come from %s and\n"
               "its drop-ins (%s.d/NAME.conf) first, then from the command line (vssd.conf(5)).\n\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --config=PATH          Read this configuration file instead\n"
               "     --no-config            Read no configuration file\n"
               "     --socket=PATH          Listen on PATH (default: $VSS_SOCKET, else %s)\n"
               "     --state-dir=DIR        State directory (default: %s)\n"
               "     --event-timeout=MS     Per-event writer timeout (default: %u)\n"
               "     --allow-writer-uid=UID Let UID register writers (repeatable)\n"
               "     --test-provider        Enable the test-only providers\n"
               "     --max-connections=N    Connections of all uids but root together (default: %u)\n"
               "     --max-connections-per-uid=N\n"
               "                            Connections of one uid but root (default: %u)\n"
               "     --max-root-connections=N\n"
               "                            Root's connections, counted apart (default: %u)\n"
               "     --max-message-size=BYTES\n"
               "                            Largest message a peer may send (default: %u)\n"
               "     --max-pending-per-uid=BYTES\n"
               "                            Bytes of messages still arriving, per uid (default: %u)\n"
               "     --max-pending=BYTES    The same, all uids but root together (default: %u)\n"
               "     --max-queued=N         Messages to a peer waiting in vssd before it stops\n"
               "                            reading the peer (default: %u)\n"
               "     --read-timeout-ms=MS   A started message or handshake must arrive within MS\n"
               "                            (default: %u)\n"
               "     --max-snapshots-per-volume=N\n"
               "                            Snapshots kept per volume (default: %u)\n"
               "     --expose-dir=DIR       Where exposures go without a path (default: %s)\n"
               "     --guardian=PATH        The vss-guardian program (default: $VSS_GUARDIAN, else\n"
               "                            the installed one)\n"
               "     --hold-timeout-ms=MS   Longest a provider may hold writes frozen (flush-and-hold;\n"
               "                            1-%u, default: %u); past it the set fails\n"
               "     --lvm-cow-percent=N    A classic LVM snapshot's COW area, percent of its origin\n"
               "                            (1-100, default: 20)\n"
               "     --lvm-thin-pool-limit=N\n"
               "                            Refuse thin LVM snapshots in a pool this full, percent\n"
               "                            of data or metadata (1-100, default: 90)\n"
               "     --test-hold-delay-ms=MS\n"
               "                            Test only, needs --test-provider: keep each hold MS\n"
               "                            longer, so tests can act inside it (default: 0)\n"
               "     --log-level=LEVEL      debug, info, warning or error (default: info)\n",
               VSSD_CONFIG_FILE, VSSD_CONFIG_FILE, VSS_DEFAULT_SOCKET, VSSD_DEFAULT_STATE_DIR, VSSD_DEFAULT_EVENT_TIMEOUT_MS,
               VSSD_DEFAULT_MAX_CONNECTIONS, VSSD_DEFAULT_MAX_CONNECTIONS_PER_UID, VSSD_DEFAULT_MAX_ROOT_CONNECTIONS,
               VSSD_DEFAULT_MAX_MESSAGE_SIZE, VSSD_DEFAULT_MAX_PENDING_PER_UID, VSSD_DEFAULT_MAX_PENDING,
               VSSD_DEFAULT_MAX_QUEUED, VSSD_DEFAULT_READ_TIMEOUT_MS, VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME,
               VSSD_DEFAULT_EXPOSE_DIR,
               GUARDIAN_MAX_DEADLINE_MS, GUARDIAN_DEFAULT_DEADLINE_MS);
}

static int parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != 0 || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* The command line; a configuration file's settings arrive as the same options. */
enum {
        ARG_VERSION = 0x100,
        ARG_SOCKET,
        ARG_STATE_DIR,
        ARG_EVENT_TIMEOUT,
        ARG_ALLOW_WRITER_UID,
        ARG_TEST_PROVIDER,
        ARG_MAX_CONNECTIONS,
        ARG_MAX_CONNECTIONS_PER_UID,
        ARG_MAX_ROOT_CONNECTIONS,
        ARG_MAX_MESSAGE_SIZE,
        ARG_MAX_PENDING_PER_UID,
        ARG_MAX_PENDING,
        ARG_MAX_QUEUED,
        ARG_READ_TIMEOUT,
        ARG_MAX_SNAPSHOTS_PER_VOLUME,
        ARG_EXPOSE_DIR,
        ARG_GUARDIAN,
        ARG_HOLD_TIMEOUT,
        ARG_LVM_COW_PERCENT,
        ARG_LVM_THIN_POOL_LIMIT,
        ARG_TEST_HOLD_DELAY,
        ARG_LOG_LEVEL,
        ARG_CONFIG,
        ARG_NO_CONFIG,
};
static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        { "socket", required_argument, NULL, ARG_SOCKET },
        { "state-dir", required_argument, NULL, ARG_STATE_DIR },
        { "event-timeout", required_argument, NULL, ARG_EVENT_TIMEOUT },
        { "allow-writer-uid", required_argument, NULL, ARG_ALLOW_WRITER_UID },
        { "test-provider", no_argument, NULL, ARG_TEST_PROVIDER },
        { "max-connections", required_argument, NULL, ARG_MAX_CONNECTIONS },
        { "max-connections-per-uid", required_argument, NULL, ARG_MAX_CONNECTIONS_PER_UID },
        { "max-root-connections", required_argument, NULL, ARG_MAX_ROOT_CONNECTIONS },
        { "max-message-size", required_argument, NULL, ARG_MAX_MESSAGE_SIZE },
        { "max-pending-per-uid", required_argument, NULL, ARG_MAX_PENDING_PER_UID },
        { "max-pending", required_argument, NULL, ARG_MAX_PENDING },
        { "max-queued", required_argument, NULL, ARG_MAX_QUEUED },
        { "read-timeout-ms", required_argument, NULL, ARG_READ_TIMEOUT },
        { "max-snapshots-per-volume", required_argument, NULL, ARG_MAX_SNAPSHOTS_PER_VOLUME },
        { "expose-dir", required_argument, NULL, ARG_EXPOSE_DIR },
        { "guardian", required_argument, NULL, ARG_GUARDIAN },
        { "hold-timeout-ms", required_argument, NULL, ARG_HOLD_TIMEOUT },
        { "lvm-cow-percent", required_argument, NULL, ARG_LVM_COW_PERCENT },
        { "lvm-thin-pool-limit", required_argument, NULL, ARG_LVM_THIN_POOL_LIMIT },
        { "test-hold-delay-ms", required_argument, NULL, ARG_TEST_HOLD_DELAY },
        { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        { "config", required_argument, NULL, ARG_CONFIG },
        { "no-config", no_argument, NULL, ARG_NO_CONFIG },
        {}
};

/* What a configuration file may set: every option that takes a value, except the one that
 * names the file and the test-only ones. Derived from options[], so a new flag is a new
 * setting without a second list to keep. ret has room for every option and the NULL. */
static void file_settings(const char *ret[static ELEMENTSOF(options)]) {
        size_t n = 0;

        for (const struct option *o = options; o->name; o++)
                if (o->has_arg == required_argument && !streq(o->name, "config") &&
                    strncmp(o->name, "test-", 5) != 0)
                        ret[n++] = o->name;
        ret[n] = NULL;
}

/*
 * The guardian vssd runs when neither --guardian nor $VSS_GUARDIAN names one: the installed
 * one, or, for a vssd started from its build tree (the demo, a developer), the guardian
 * built beside it, so the build tree works without `meson install`.
 */
static int guardian_default(ManagerConfig *c) {
        char self[4096];
        ssize_t n;

        if (c->guardian_path || secure_getenv("VSS_GUARDIAN"))
                return 0;
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
                return 0;
        self[n] = '\0';
        if (!streq(self, VSSD_BUILD_PATH) || access(VSS_BUILD_GUARDIAN_PATH, X_OK) < 0)
                return 0;
        c->guardian_path = strdup(VSS_BUILD_GUARDIAN_PATH);
        return c->guardian_path ? 0 : log_oom();
}
/* Returns 1 to run, 0 to exit successfully (help, version), negative errno on bad usage. */
static int parse_argv(int argc, char *argv[], ManagerConfig *c) {
        uint64_t v;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vssd %s\n", VSS_VERSION);
                        return 0;
                case ARG_SOCKET:
                        free(c->socket_path);
                        c->socket_path = strdup(optarg);
                        if (!c->socket_path)
                                return log_oom();
                        break;
                case ARG_STATE_DIR:
                        free(c->state_dir);
                        c->state_dir = strdup(optarg);
                        if (!c->state_dir)
                                return log_oom();
                        break;
                case ARG_EVENT_TIMEOUT:
                        r = parse_uint(optarg, 24ULL * 3600 * 1000, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --event-timeout: %s", optarg);
                        c->event_timeout_usec = v * USEC_PER_MSEC;
                        break;
                case ARG_ALLOW_WRITER_UID:
                        r = parse_uint(optarg, UINT32_MAX - 1, &v);
                        if (r < 0)
                                return log_error_errno(-EINVAL, "Invalid --allow-writer-uid: %s", optarg);
                        if (c->n_allow_writer_uids >= VSSD_MAX_ALLOWED_UIDS)
                                return log_error_errno(-E2BIG, "At most %u --allow-writer-uid options.",
                                                       VSSD_MAX_ALLOWED_UIDS);
                        c->allow_writer_uids[c->n_allow_writer_uids++] = (uid_t) v;
                        break;
                case ARG_TEST_PROVIDER:
                        c->test_provider = true;
                        break;
                case ARG_MAX_CONNECTIONS:
                        r = parse_uint(optarg, 65536, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --max-connections: %s", optarg);
                        c->max_connections = (unsigned) v;
                        break;
                case ARG_MAX_CONNECTIONS_PER_UID:
                        r = parse_uint(optarg, 65536, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --max-connections-per-uid (1-65536): %s", optarg);
                        c->max_connections_per_uid = (unsigned) v;
                        break;
                case ARG_MAX_ROOT_CONNECTIONS:
                        r = parse_uint(optarg, 65536, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --max-root-connections (1-65536): %s", optarg);
                        c->max_root_connections = (unsigned) v;
                        break;
                case ARG_MAX_MESSAGE_SIZE:
                        r = parse_uint(optarg, VSSD_MAX_MESSAGE_SIZE_LIMIT, &v);
                        if (r < 0 || v < 4096)
                                return log_error_errno(-EINVAL, "Invalid --max-message-size (4096-%u): %s",
                                                       VSSD_MAX_MESSAGE_SIZE_LIMIT, optarg);
                        c->max_message_size = v;
                        break;
                case ARG_MAX_PENDING_PER_UID:
                case ARG_MAX_PENDING:
                        r = parse_uint(optarg, UINT64_MAX / 4, &v);
                        if (r < 0 || v < 4096)
                                return log_error_errno(-EINVAL, "Invalid --%s (at least 4096): %s",
                                                       opt == ARG_MAX_PENDING ? "max-pending" : "max-pending-per-uid", optarg);
                        if (opt == ARG_MAX_PENDING)
                                c->max_pending = v;
                        else
                                c->max_pending_per_uid = v;
                        break;
                case ARG_MAX_QUEUED:
                        r = parse_uint(optarg, 65536, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --max-queued (1-65536): %s", optarg);
                        c->max_queued = (unsigned) v;
                        break;
                case ARG_READ_TIMEOUT:
                        r = parse_uint(optarg, 3600ULL * 1000, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --read-timeout-ms (1-3600000): %s", optarg);
                        c->read_timeout_usec = v * USEC_PER_MSEC;
                        break;
                case ARG_MAX_SNAPSHOTS_PER_VOLUME:
                        r = parse_uint(optarg, VSSD_MAX_SNAPSHOTS, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --max-snapshots-per-volume (1-%u): %s",
                                                       VSSD_MAX_SNAPSHOTS, optarg);
                        c->max_snapshots_per_volume = (unsigned) v;
                        break;
                case ARG_EXPOSE_DIR:
                        if (optarg[0] != '/')
                                return log_error_errno(-EINVAL, "--expose-dir must be an absolute path: %s", optarg);
                        free(c->expose_dir);
                        c->expose_dir = strdup(optarg);
                        if (!c->expose_dir)
                                return log_oom();
                        break;
                case ARG_GUARDIAN:
                        if (optarg[0] != '/')
                                return log_error_errno(-EINVAL, "--guardian must be an absolute path: %s", optarg);
                        free(c->guardian_path);
                        c->guardian_path = strdup(optarg);
                        if (!c->guardian_path)
                                return log_oom();
                        break;
                case ARG_HOLD_TIMEOUT:
                        r = parse_uint(optarg, GUARDIAN_MAX_DEADLINE_MS, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --hold-timeout-ms (1-%u): %s",
                                                       GUARDIAN_MAX_DEADLINE_MS, optarg);
                        c->hold_timeout_ms = (uint32_t) v;
                        break;
                case ARG_LVM_COW_PERCENT:
                case ARG_LVM_THIN_POOL_LIMIT:
                        r = parse_uint(optarg, 100, &v);
                        if (r < 0 || v == 0)
                                return log_error_errno(-EINVAL, "Invalid --%s (a percentage, 1-100): %s",
                                                       opt == ARG_LVM_COW_PERCENT ? "lvm-cow-percent"
                                                                                  : "lvm-thin-pool-limit", optarg);
                        if (opt == ARG_LVM_COW_PERCENT)
                                c->lvm_cow_percent = (unsigned) v;
                        else
                                c->lvm_thin_pool_limit = (unsigned) v;
                        break;
                case ARG_TEST_HOLD_DELAY:
                        r = parse_uint(optarg, GUARDIAN_MAX_DEADLINE_MS, &v);
                        if (r < 0)
                                return log_error_errno(-EINVAL, "Invalid --test-hold-delay-ms (0-%u): %s",
                                                       GUARDIAN_MAX_DEADLINE_MS, optarg);
                        c->test_hold_delay_ms = (uint32_t) v;
                        break;
                case ARG_CONFIG:
                case ARG_NO_CONFIG:
                        break; /* read before parsing (config_argv_build) */
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(r, "Invalid --log-level: %s", optarg);
                        log_set_max_level(r);
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        }

        if (optind < argc)
                return log_error_errno(-EINVAL, "This program takes no positional arguments.");
        /* A production vssd must never stretch a freeze on purpose. */
        if (c->test_hold_delay_ms > 0 && !c->test_provider)
                return log_error_errno(-EINVAL, "--test-hold-delay-ms is for tests and needs --test-provider.");
        return 1;
}

/* Does this process hold CAP_SYS_ADMIN, which every real provider needs (snapshot ioctls,
 * FIFREEZE, mounts)? Read from the kernel, since root without it (a container, a unit with a
 * CapabilityBoundingSet) is as helpless as any user. */
static bool have_cap_sys_admin(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return geteuid() == 0;
        return d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_request_exit(userdata);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        ManagerConfig config;
        sigset_t mask;
        int r;

        const char *settings[ELEMENTSOF(options)];
        char **args = NULL;
        int n_args = 0;

        manager_config_defaults(&config);
        file_settings(settings);
        r = config_argv_build(argc, argv, VSSD_CONFIG_FILE, settings, &n_args, &args);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        r = parse_argv(n_args, args, &config);
        config_argv_free(args);
        if (r > 0 && guardian_default(&config) < 0)
                r = -ENOMEM;
        if (r <= 0) {
                manager_config_done(&config);
                return r < 0 ? -EINVAL : 0;
        }

        /* Unprivileged, every snapshot would fail later with E_ACCESSDENIED, blamed on the
         * caller. Say so now, once. Only the test provider works without privileges. */
        if (!config.test_provider && !have_cap_sys_admin()) {
                manager_config_done(&config);
                log_error("Refusing to start without root (CAP_SYS_ADMIN), which snapshots need: start vssd "
                          "with `systemctl start vssd.socket`, or as root.");
                return -EPERM;
        }

        /* A fixed mmap threshold: glibc would otherwise raise it to the size of the largest
         * buffer freed so far, and after one large message every later one would come from
         * the heap and stay there after it is freed (docs/security.md). */
        (void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);

        /* Writers or requesters vanishing must not kill us through SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                manager_config_done(&config);
                return log_error_errno(-errno, "Failed to block signals: %m");
        }

        r = manager_new(&config, &m);
        manager_config_done(&config);
        if (r < 0)
                return r;

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        r = manager_listen(m);
        if (r < 0)
                return r;

        (void) sd_notify(false, "READY=1\nSTATUS=Processing requests...");

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        log_info("Exiting.");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        /* docs/exit-codes.md: 1 a usage error, 2 anything that stopped vssd. */
        if (r == -EINVAL)
                return 1;
        return r < 0 ? 2 : EXIT_SUCCESS;
}

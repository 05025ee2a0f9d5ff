/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-script-writer: what one freeze/thaw cycle of an fsfreeze-hook.d style hook costs
 * through vss-writer-script, against the tool such hooks come from: qemu-guest-agent.
 *
 * One run sets up a loop-mounted btrfs (the volume), a hook directory outside it holding one
 * no-op hook in the shape of qemu's samples (case "$1" in freeze|thaw), and starts, side by
 * side:
 *   - qemu-ga (Debian's qemu-guest-agent) twice, each listening on a Unix socket: once with
 *     Debian's stock /etc/qemu/fsfreeze-hook copied next to the hook directory (the stock
 *     script runs every hook of the fsfreeze-hook.d beside it and logs each run: what a
 *     qemu-ga user runs), once with -F naming the hook itself (qemu-ga's floor: one process
 *     per freeze and per thaw);
 *   - vssd with the real btrfs provider, and vss-writer-script on the same hook directory.
 * Then, round robin, RUNS times each:
 *   qemu-ga   guest-fsfreeze-freeze-list [the volume] + guest-fsfreeze-thaw: hook "freeze",
 *             FIFREEZE, FITHAW, hook "thaw"; through the stock hook script, and direct (the
 *             baseline the ratios name: the faster of the two);
 *   vss-0     DoSnapshotSet on the volume with no writer involved (the btrfs snapshot and the
 *             coordination alone);
 *   vss-hook  DoSnapshotSet with the script writer involved: everything vss-0 does, plus the
 *             writer's events, the hook's freeze and thaw.
 * Each DoSnapshotSet is a fresh requester doing the whole good path; only DoSnapshotSet is
 * timed. Every measured call starts from a synced volume.
 * The table gives each row's median, p10–p90 and min–max with its ratio to qemu-ga direct,
 * and the writer's own cost (vss-hook − vss-0) against both qemu-ga cycles.
 *
 * Usage: bench_script_writer [--runs N]   (default 20; --runs 1 is the smoke run CI makes)
 * Needs root (exits 77 otherwise) and qemu-ga (exits 77 when it is not installed, unless
 * CI=true, where a missing peer is a failure).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-util.h"
#include "macro.h"
#include "root-harness.h"
#include "writers-harness.h"

#define QEMU_GA "/usr/sbin/qemu-ga"
#define STOCK_HOOK "/etc/qemu/fsfreeze-hook"
#define IMAGE_SIZE (UINT64_C(1) << 30)
#define RUNS_MAX 1000U
#define WARMUP_RUNS 2U
#define REPLY_MAX 4096U

typedef struct Bench {
        LoopBtrfs fs;
        char *dir;       /* /var/tmp/vss-bench-hooks-XXXXXX: hooks, sockets, logs */
        char *hooks;     /* <dir>/fsfreeze-hook.d */
        char *volume;    /* the btrfs mount */
        Vssd vssd;
        pid_t qga[2];    /* [0] stock hook script, [1] the hook itself */
        int qga_fd[2];
        pid_t writer;
} Bench;

typedef enum Case { CASE_QGA_STOCK, CASE_QGA, CASE_VSS_NONE, CASE_VSS_HOOK, _CASE_MAX } Case;

static const char *const case_names[_CASE_MAX] = {
        [CASE_QGA_STOCK] = "qemu-ga freeze-list + thaw, stock fsfreeze-hook running the hook",
        [CASE_QGA] = "qemu-ga freeze-list + thaw, -F the hook itself (baseline)",
        [CASE_VSS_NONE] = "DoSnapshotSet, no writer",
        [CASE_VSS_HOOK] = "DoSnapshotSet, vss-writer-script with the same hook",
};

static const char *const script_class[] = { SCRIPT_WRITER_CLASS };

static const char noop_hook[] =
        "#!/bin/sh\n"
        "case \"$1\" in\n"
        "    freeze) ;;\n"
        "    thaw) ;;\n"
        "esac\n"
        "exit 0\n";

/* One request line to qemu-ga, one reply line back; 0 when the reply is a "return". */
static int qga_call(int fd, const char *json) {
        char reply[REPLY_MAX];
        size_t len = strlen(json);
        int r;

        if (write(fd, json, len) != (ssize_t) len)
                return -EIO;
        r = read_line_timeout(fd, reply, sizeof(reply), WH_WAIT_MS);
        if (r < 0)
                return r;
        if (!strstr(reply, "\"return\"")) {
                fprintf(stderr, "qemu-ga: %s\n", reply);
                return -EPROTO;
        }
        return 0;
}

static int qga_connect(pid_t server, const char *socket_path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        r = unix_socket_wait(socket_path, server, WH_WAIT_MS);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* qemu-ga number i, running hook at freeze and thaw, with its files in <dir>/qga-<i>.*. */
static int qga_start(Bench *b, unsigned i, const char *hook) {
        _cleanup_free_ char *sock = NULL, *state = NULL, *pid = NULL, *log = NULL, *hook_arg = NULL;
        int r;

        if (asprintf(&sock, "%s/qga-%u.sock", b->dir, i) < 0 || asprintf(&state, "%s/qga-%u.state", b->dir, i) < 0 ||
            asprintf(&pid, "%s/qga-%u.pid", b->dir, i) < 0 || asprintf(&log, "%s/qga-%u.log", b->dir, i) < 0 ||
            asprintf(&hook_arg, "-F%s", hook) < 0)
                return -ENOMEM;
        if (mkdir(state, 0700) < 0)
                return -errno;

        char *const argv[] = { (char *) QEMU_GA, (char *) "-m", (char *) "unix-listen", (char *) "-p", sock,
                               hook_arg, (char *) "-t", state, (char *) "-f", pid, NULL };
        r = spawn_logged(argv, log, &b->qga[i]);
        if (r < 0)
                return r;
        return qga_connect(b->qga[i], sock, &b->qga_fd[i]);
}

/* Both qemu-ga instances: the stock hook script (copied beside our hook directory, since it
 * runs the fsfreeze-hook.d next to itself), and the hook itself. */
static int qga_start_both(Bench *b, const char *hook) {
        _cleanup_free_ char *stock = path_join(b->dir, "fsfreeze-hook"), *text = NULL;
        int r;

        r = read_file_full(STOCK_HOOK, &text, NULL);
        if (r >= 0)
                r = write_file(stock, text, 0755);
        if (r >= 0)
                r = qga_start(b, 0, stock);
        if (r >= 0)
                r = qga_start(b, 1, hook);
        return r;
}

static int writer_start(Bench *b) {
        _cleanup_free_ char *log = path_join(b->dir, "writer.log");
        char *const argv[] = { (char *) getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", b->hooks,
                               (char *) "--socket", b->vssd.socket, NULL };
        int r;

        r = spawn_logged(argv, log, &b->writer);
        if (r < 0)
                return r;
        return log_wait(log, "subscribed", 1, WH_WAIT_MS);
}

static int bench_setup(Bench *b) {
        char tmpl[] = "/var/tmp/vss-bench-hooks-XXXXXX";
        _cleanup_free_ char *hook = NULL;
        int r;

        b->qga_fd[0] = b->qga_fd[1] = -EBADF;
        r = loop_btrfs_setup("/var/tmp/vss-bench-script-XXXXXX", IMAGE_SIZE, &b->fs);
        if (r < 0)
                return r;
        b->volume = b->fs.mnt;
        if (!mkdtemp(tmpl))
                return -errno;
        b->dir = strdup(tmpl);
        if (!b->dir)
                return -ENOMEM;
        b->hooks = path_join(b->dir, "fsfreeze-hook.d");
        if (mkdir(b->hooks, 0755) < 0)
                return -errno;
        hook = path_join(b->hooks, "10-noop");
        r = write_file(hook, noop_hook, 0755);
        if (r < 0)
                return r;

        r = qga_start_both(b, hook);
        if (r < 0) {
                fprintf(stderr, "qemu-ga did not come up: %s\n", strerror(-r));
                return r;
        }
        r = vssd_start(b->dir, false, 10000, &b->vssd);
        if (r < 0)
                return r;
        return writer_start(b);
}

static void bench_teardown(Bench *b) {
        for (unsigned i = 0; i < ELEMENTSOF(b->qga); i++) {
                if (b->qga_fd[i] >= 0)
                        close(b->qga_fd[i]);
                if (b->qga[i] > 0)
                        (void) process_stop(b->qga[i], 10000);
        }
        if (b->writer > 0)
                (void) process_stop(b->writer, 10000);
        vssd_stop(&b->vssd);
        (void) loop_btrfs_teardown(&b->fs);
        if (b->dir)
                (void) rm_rf_physical(b->dir);
        free(b->hooks);
        free(b->dir);
}

/* One cycle of qemu-ga number i: freeze the volume (hook first), thaw it (hook after). */
static int qga_once(Bench *b, unsigned i, double *ret_ms) {
        _cleanup_free_ char *freeze = NULL;
        uint64_t t0, t1;
        int r;

        if (asprintf(&freeze, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"%s\"]}}\n",
                     b->volume) < 0)
                return -ENOMEM;
        (void) syncfs_path(b->volume);
        t0 = now_usec();
        r = qga_call(b->qga_fd[i], freeze);
        if (r >= 0)
                r = qga_call(b->qga_fd[i], "{\"execute\":\"guest-fsfreeze-thaw\"}\n");
        t1 = now_usec();
        if (r < 0)
                return r;
        *ret_ms = (double) (t1 - t0) / 1e3;
        return 0;
}

/* One whole backup; only DoSnapshotSet is timed. with_writer involves the script writer. */
static int vss_once(Bench *b, bool with_writer, double *ret_ms) {
        WhBackup wb = {};
        uint64_t t0, t1;
        vss_hr hr;

        hr = wh_backup_prepare(&wb, b->vssd.socket, b->volume, script_class, with_writer ? 1 : 0);
        if (hr == S_OK) {
                (void) syncfs_path(b->volume);
                t0 = now_usec();
                hr = wh_backup_snapshot(&wb);
                t1 = now_usec();
                if (hr == S_OK)
                        hr = wh_backup_complete(&wb);
        }
        wh_backup_release(&wb);
        if (hr != S_OK) {
                fprintf(stderr, "backup failed: %s\n", vss_hr_name(hr));
                return -EIO;
        }
        *ret_ms = (double) (t1 - t0) / 1e3;
        return 0;
}

static int case_once(Bench *b, Case c, double *ret_ms) {
        switch (c) {
        case CASE_QGA_STOCK:
                return qga_once(b, 0, ret_ms);
        case CASE_QGA:
                return qga_once(b, 1, ret_ms);
        case CASE_VSS_NONE:
                return vss_once(b, false, ret_ms);
        case CASE_VSS_HOOK:
                return vss_once(b, true, ret_ms);
        default:
                return -EINVAL;
        }
}

static void row_print(const char *name, double *v, unsigned n, double base) {
        double med;

        stats_sort(v, n);
        med = stats_median(v, n);
        printf("| %s | %u | %.2f | %.2f–%.2f | %.2f–%.2f | %.2f× |\n", name, n, med, stats_percentile(v, n, 10),
               stats_percentile(v, n, 90), v[0], v[n - 1], base > 0 ? med / base : 1.0);
}

static int parse_args(int argc, char **argv, unsigned *ret_runs) {
        static const struct option options[] = {
                { "runs", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        unsigned runs = 20;
        int c;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        runs = (unsigned) strtoul(optarg, NULL, 10);
                        if (runs == 0 || runs > RUNS_MAX) {
                                fprintf(stderr, "--runs must be 1..%u\n", RUNS_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        printf("bench_script_writer [--runs N]\n");
                        return 0;
                default:
                        return -EINVAL;
                }
        *ret_runs = runs;
        return 1;
}

int main(int argc, char **argv) {
        static double samples[_CASE_MAX][RUNS_MAX];
        double medians[_CASE_MAX], load[3] = {};
        Bench b = {};
        unsigned runs = 0;
        int r;

        r = parse_args(argc, argv, &runs);
        if (r <= 0)
                return r < 0 ? 1 : 0;
        if (geteuid() != 0) {
                fprintf(stderr, "bench_script_writer needs root; skipping\n");
                return 77;
        }
        if (access(QEMU_GA, X_OK) < 0 || access(STOCK_HOOK, R_OK) < 0) {
                fprintf(stderr, "bench_script_writer: qemu-guest-agent is not installed (apt-get install "
                        "qemu-guest-agent)\n");
                return getenv("CI") && streq(getenv("CI"), "true") ? 1 : 77;
        }
        if (!getenv("VSSD"))
                (void) setenv("VSSD", BENCH_VSSD_PATH, 0);
        if (!getenv("VSS_WRITER_SCRIPT"))
                (void) setenv("VSS_WRITER_SCRIPT", BENCH_WRITER_SCRIPT_PATH, 0);

        r = bench_setup(&b);
        if (r < 0) {
                fprintf(stderr, "setup failed: %s\n", strerror(-r));
                bench_teardown(&b);
                return 1;
        }

        for (unsigned i = 0; i < WARMUP_RUNS + runs && r >= 0; i++)
                for (Case c = 0; c < _CASE_MAX && r >= 0; c++) {
                        double ms;

                        r = case_once(&b, c, &ms);
                        if (r >= 0 && i >= WARMUP_RUNS)
                                samples[c][i - WARMUP_RUNS] = ms;
                }
        bench_teardown(&b);
        if (r < 0) {
                fprintf(stderr, "a measured call failed: %s\n", strerror(-r));
                return 1;
        }

        (void) getloadavg(load, 3);
        printf("Volume: loop-mounted btrfs; one no-op fsfreeze hook; %u runs per case after %u warm-up "
               "rounds, round robin; load average %.2f\n\n",
               runs, WARMUP_RUNS, load[0]);
        printf("| case | runs | median ms | p10–p90 ms | min–max ms | ratio to qemu-ga direct |\n|---|---|---|---|---|---|\n");
        for (Case c = 0; c < _CASE_MAX; c++) {
                stats_sort(samples[c], runs);
                medians[c] = stats_median(samples[c], runs);
        }
        for (Case c = 0; c < _CASE_MAX; c++)
                row_print(case_names[c], samples[c], runs, medians[CASE_QGA]);
        printf("\nThe writer's own cost (vss-hook − vss-0 medians): %.2f ms = %.2f× qemu-ga direct, %.2f× "
               "qemu-ga with the stock hook script.\n",
               medians[CASE_VSS_HOOK] - medians[CASE_VSS_NONE],
               (medians[CASE_VSS_HOOK] - medians[CASE_VSS_NONE]) / medians[CASE_QGA],
               (medians[CASE_VSS_HOOK] - medians[CASE_VSS_NONE]) / medians[CASE_QGA_STOCK]);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-writers: how long an application stays blocked by a VSS backup of its SQLite
 * database, and how much throughput it loses, with and without writers. Not a test (timing
 * belongs here, not in tests/): run by hand as root, prints a Markdown table.
 *
 * The application is sqlite-load (WAL mode, synchronous=FULL, 3-row transactions back to
 * back) on a loop-mounted btrfs subvolume. For each scenario, RUNS backups run one after
 * another, and each is measured from the load's own commit acknowledgements: "blocked" is
 * the longest gap between two consecutive acknowledgements around DoSnapshotSet, and
 * throughput is the number of commits acknowledged during DoSnapshotSet divided by its
 * duration. The scenarios:
 *
 *   none       the same measurements with no backup at all (windows of the same length)
 *   no-writer  a backup with no writer involved: the btrfs snapshot alone
 *   sqlite     vss-writer-sqlite holds the database (also reports the writer's own hold)
 *   script     vss-writer-script runs one qemu-guest-agent style fsfreeze hook that holds
 *              the same lock with a sqlite3 client fed through a FIFO, as qemu's
 *              mysql-flush.sh sample does for MySQL. ".bail on" matters: without it the
 *              client prints LOCKED even when BEGIN IMMEDIATE failed with "database is
 *              locked", and the hook believes it holds a lock it does not.
 *
 * Usage: bench-writers [RUNS]   (default 10). Environment as for test-writer-sqlite.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "alloc-util.h"
#include "macro.h"
#include "root-harness.h"
#include "writers-harness.h"

#define IMAGE_SIZE (UINT64_C(1) << 30)
#define RUNS_MAX 100

typedef struct Bench {
        LoopBtrfs fs;
        char *subvol;
        char *db;
        char *acks;
        Vssd vssd;
        pid_t load;
} Bench;

typedef struct Sample {
        bool failed;            /* the backup failed: not counted */
        double blocked_ms;      /* longest gap between acknowledgements around the backup */
        double tps;             /* commits per second during DoSnapshotSet */
        double dss_ms;          /* DoSnapshotSet duration */
        double hold_ms;         /* the writer's own hold, when it reports one; < 0 otherwise */
} Sample;

typedef struct Acks {
        uint64_t *t;
        size_t n;
} Acks;

static int acks_load(const char *path, Acks *ret) {
        _cleanup_free_ char *text = NULL;
        size_t allocated = 0;
        Acks a = {};
        char *p, *nl;
        int r;

        r = read_file_full(path, &text, NULL);
        if (r < 0)
                return r;
        for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
                uint64_t k, begin, ack;

                *nl = '\0';
                if (sscanf(p, "%" SCNu64 " %" SCNu64 " %" SCNu64, &k, &begin, &ack) != 3)
                        continue;
                if (GREEDY_REALLOC(a.t, allocated, a.n + 1) < 0) {
                        free(a.t);
                        return -ENOMEM;
                }
                a.t[a.n++] = ack;
        }
        *ret = a;
        return 0;
}

/* The blocked time and throughput the load saw in [t0, t1]. */
static int measure(const Bench *b, uint64_t t0, uint64_t t1, Sample *s) {
        Acks a;
        uint64_t gap = 0;
        size_t inside = 0;
        int r;

        r = acks_load(b->acks, &a);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < a.n; i++) {
                /* Gaps that overlap the window: the commit just before it to the first after. */
                if (a.t[i + 1] >= t0 && a.t[i] <= t1)
                        gap = MAX(gap, a.t[i + 1] - a.t[i]);
                inside += a.t[i + 1] >= t0 && a.t[i + 1] <= t1;
        }
        free(a.t);
        s->blocked_ms = (double) gap / 1e3;
        s->tps = t1 > t0 ? (double) inside * 1e6 / (double) (t1 - t0) : 0;
        s->dss_ms = (double) (t1 - t0) / 1e3;
        return 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(double), cmp_double);
        return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double maximum(const double *v, size_t n) {
        double m = 0;

        for (size_t i = 0; i < n; i++)
                m = MAX(m, v[i]);
        return m;
}

static void report(const char *name, const Sample *s, size_t n, double baseline_tps) {
        double blocked[RUNS_MAX], tps[RUNS_MAX], dss[RUNS_MAX], hold[RUNS_MAX];
        size_t n_hold = 0, k = 0;
        double t;

        for (size_t i = 0; i < n; i++) {
                if (s[i].failed)
                        continue;
                blocked[k] = s[i].blocked_ms;
                tps[k] = s[i].tps;
                dss[k] = s[i].dss_ms;
                k++;
                if (s[i].hold_ms >= 0)
                        hold[n_hold++] = s[i].hold_ms;
        }
        if (k == 0) {
                printf("| %-9s | all %zu backups failed | | | | | |\n", name, n);
                return;
        }
        t = median(tps, k);
        printf("| %-9s | %2zu/%-2zu | %7.1f | %7.1f | ", name, k, n, median(blocked, k), maximum(blocked, k));
        if (n_hold > 0)
                printf("%6.2f / %6.2f | ", median(hold, n_hold), maximum(hold, n_hold));
        else
                printf("%15s | ", "-");
        printf("%7.1f | %6.0f | %+6.1f %% |\n", median(dss, k), t,
               baseline_tps > 0 ? (t - baseline_tps) * 100 / baseline_tps : 0.0);
}

static int backup_once(Bench *b, const char *const *classes, size_t n_classes, Sample *s) {
        WhBackup bk = {};
        uint64_t t0, t1;
        vss_hr hr;

        hr = wh_backup_prepare(&bk, b->vssd.socket, b->subvol, classes, n_classes);
        t0 = now_usec();
        if (hr == S_OK)
                hr = wh_backup_snapshot(&bk);
        t1 = now_usec();
        if (hr == S_OK)
                hr = wh_backup_complete(&bk);
        wh_backup_release(&bk);
        *s = (Sample) { .hold_ms = -1 };
        if (hr != S_OK) {
                fprintf(stderr, "backup failed: %s\n", vss_hr_name(hr));
                s->failed = true;
                return 0;
        }
        /* Let a few commits land after Thaw, so the gap that spans it is closed. */
        (void) usleep(50 * 1000);
        return measure(b, t0, t1, s);
}

/* The writer's own hold in its log line for the index-th backup ("lock released after X ms"). */
static double writer_hold(const char *log, unsigned index) {
        _cleanup_free_ char *line = log_line(log, "lock released after ", index);
        const char *p = line ? strstr(line, "after ") : NULL;

        return p ? strtod(p + strlen("after "), NULL) : -1;
}

static int start_writer(char *const argv[], const char *log, pid_t *ret) {
        int r = spawn_logged(argv, log, ret);

        return r < 0 ? r : log_wait(log, "subscribed", 1, WH_WAIT_MS);
}

/* A literal, so the compiler checks the format. */
#define QEMU_STYLE_HOOK \
        "#!/bin/sh\n" \
        "# fsfreeze-hook.d style: hold SQLite's write lock from freeze to thaw with a background\n" \
        "# sqlite3 client fed through a FIFO (the pattern of qemu's mysql-flush.sh sample).\n" \
        "DB='%s'; D='%s'\n" \
        "FIFO=\"$D/hold.fifo\"; OUT=\"$D/hold.out\"\n" \
        "# A zombie is not alive (nobody may reap orphans quickly in a container).\n" \
        "alive() { s=$(cut -d' ' -f3 \"/proc/$1/stat\" 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != Z ]; }\n" \
        "case \"$1\" in\n" \
        "freeze)\n" \
        "    rm -f \"$FIFO\" \"$OUT\"; mkfifo \"$FIFO\" || exit 1\n" \
        "    sqlite3 -batch \"$DB\" < \"$FIFO\" > \"$OUT\" 2>&1 &\n" \
        "    echo $! > \"$D/hold.client\"\n" \
        "    exec 3> \"$FIFO\"\n" \
        "    sleep 100000 >/dev/null 2>&1 &\n" \
        "    echo $! > \"$D/hold.keeper\"\n" \
        "    printf '.bail on\\n.timeout 5000\\nBEGIN IMMEDIATE;\\nSELECT '\"'\"'LOCKED'\"'\"';\\n' >&3\n" \
        "    i=0\n" \
        "    until grep -q LOCKED \"$OUT\" 2>/dev/null; do\n" \
        "        alive \"$(cat \"$D/hold.client\")\" || { cat \"$OUT\"; exit 1; }\n" \
        "        sleep 0.01\n" \
        "    done\n" \
        "    ;;\n" \
        "thaw)\n" \
        "    [ -p \"$FIFO\" ] || exit 0\n" \
        "    kill \"$(cat \"$D/hold.keeper\")\" 2>/dev/null\n" \
        "    client=$(cat \"$D/hold.client\")\n" \
        "    while alive \"$client\"; do sleep 0.001; done\n" \
        "    rm -f \"$FIFO\"\n" \
        "    ;;\n" \
        "esac\n"

/* Runs the four scenarios against a load pausing think_us between transactions. */
static int run_profile(Bench *b, const char *hooks, unsigned think_us, size_t runs) {
        static const char *const sqlite_class[] = { SQLITE_WRITER_CLASS };
        static const char *const script_class[] = { SCRIPT_WRITER_CLASS };
        Sample none[RUNS_MAX], plain[RUNS_MAX], sqlite[RUNS_MAX], script[RUNS_MAX];
        _cleanup_free_ char *sqlite_log = NULL, *script_log = NULL;
        double tps[RUNS_MAX], baseline;
        char think[32], name[64], line[64];
        pid_t writer = 0;
        int out = -EBADF, r;

        (void) snprintf(name, sizeof(name), "sqlite-writer-%u.log", think_us);
        sqlite_log = path_join(b->fs.dir, name);
        (void) snprintf(name, sizeof(name), "script-writer-%u.log", think_us);
        script_log = path_join(b->fs.dir, name);
        (void) unlink(b->acks);
        (void) snprintf(think, sizeof(think), "%u", think_us);

        r = process_spawn((char *const[]) { getenv("SQLITE_LOAD"), (char *) "--db", b->db, (char *) "--acks", b->acks,
                                            (char *) "--think-us", think, NULL },
                          &b->load, &out);
        if (r < 0)
                return r;
        r = read_line_timeout(out, line, sizeof(line), WH_WAIT_MS);
        (void) close(out);
        if (r < 0)
                goto finish;
        (void) usleep(500 * 1000);

        /* none: windows as long as a short backup, with nothing going on. */
        for (size_t i = 0; i < runs; i++) {
                uint64_t t0 = now_usec();

                (void) usleep(150 * 1000);
                r = measure(b, t0, t0 + 100 * 1000, &none[i]);
                if (r < 0)
                        goto finish;
                none[i].hold_ms = -1;
        }
        for (size_t i = 0; i < runs; i++)
                (void) backup_once(b, NULL, 0, &plain[i]);

        r = start_writer((char *const[]) { getenv("VSS_WRITER_SQLITE"), (char *) "--db", b->db, (char *) "--socket",
                                           b->vssd.socket, NULL },
                         sqlite_log, &writer);
        if (r < 0)
                goto finish;
        for (size_t i = 0, held = 0; i < runs; i++) {
                (void) backup_once(b, sqlite_class, 1, &sqlite[i]);
                if (!sqlite[i].failed)
                        sqlite[i].hold_ms = writer_hold(sqlite_log, (unsigned) held++);
        }
        (void) process_stop(writer, 5000);
        writer = 0;

        r = start_writer((char *const[]) { getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", (char *) hooks,
                                           (char *) "--socket", b->vssd.socket, (char *) "--timeout",
                                           (char *) "20000", NULL },
                         script_log, &writer);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < runs; i++)
                (void) backup_once(b, script_class, 1, &script[i]);
        (void) process_stop(writer, 5000);
        writer = 0;

        for (size_t i = 0; i < runs; i++)
                tps[i] = none[i].tps;
        baseline = median(tps, runs);

        printf("\nLoad: 3-row transactions, WAL, synchronous=FULL, %s; %zu runs per scenario.\n\n",
               think_us ? think : "back to back", runs);
        if (think_us)
                printf("(%u us pause between transactions)\n\n", think_us);
        printf("| scenario  | ok | app blocked ms (median) | app blocked ms (max) | writer hold ms (median / max) "
               "| DoSnapshotSet ms | commits/s during it | vs none |\n");
        printf("|---|---|---|---|---|---|---|---|\n");
        report("none", none, runs, baseline);
        report("no-writer", plain, runs, baseline);
        report("sqlite", sqlite, runs, baseline);
        report("script", script, runs, baseline);
        fflush(stdout);
        r = 0;

finish:
        if (writer > 0)
                (void) process_stop(writer, 5000);
        (void) process_stop(b->load, 5000);
        b->load = 0;
        return r;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *hooks = NULL, *hook = NULL, *text = NULL;
        size_t runs = argc > 1 ? (size_t) atoi(argv[1]) : 10;
        Bench b = { .fs.loop_fd = -EBADF };
        bool ok = false;
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "bench-writers needs root\n");
                return 77;
        }
        if (runs < 1 || runs > RUNS_MAX)
                return 2;
        (void) signal(SIGPIPE, SIG_IGN);

        r = loop_btrfs_setup("/var/tmp/vss-bench-writers-XXXXXX", IMAGE_SIZE, &b.fs);
        if (r < 0) {
                fprintf(stderr, "btrfs: %s\n", strerror(-r));
                return 1;
        }
        b.subvol = path_join(b.fs.mnt, "vol");
        b.db = path_join(b.subvol, "app.db");
        b.acks = path_join(b.fs.dir, "acks.txt");
        hooks = path_join(b.fs.dir, "hooks");
        hook = path_join(hooks, "50-sqlite-hold");
        if (btrfs_util_create_subvolume(b.subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || mkdir(hooks, 0755) < 0 ||
            asprintf(&text, QEMU_STYLE_HOOK, b.db, b.fs.dir) < 0 || write_file(hook, text, 0755) < 0 ||
            vssd_start(b.fs.dir, false, 20000, &b.vssd) < 0)
                goto finish;

        printf("SQLite on a loop-mounted btrfs; app blocked = longest gap between two commit\n"
               "acknowledgements around DoSnapshotSet; medians over the successful backups.\n");
        if (run_profile(&b, hooks, 0, runs) < 0 || run_profile(&b, hooks, 1000, runs) < 0)
                goto finish;
        ok = true;

finish:
        vssd_stop(&b.vssd);
        if (getenv("VSS_TEST_KEEP"))
                fprintf(stderr, "kept %s\n", b.fs.dir);
        else
                (void) loop_btrfs_teardown(&b.fs);
        free(b.subvol);
        free(b.db);
        free(b.acks);
        return ok ? 0 : 1;
}

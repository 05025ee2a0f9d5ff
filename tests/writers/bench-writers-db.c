/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-writers-db: how long PostgreSQL and MariaDB applications stay blocked by a VSS
 * backup of their data directory, and how much commit throughput they lose, with and
 * without writers. The PostgreSQL and MariaDB rows of the writer benchmark next to
 * bench-writers (SQLite). Not a test (timing belongs here, not in tests/): run by hand as
 * root, it prints Markdown tables.
 *
 * Each server runs from a loop-mounted btrfs subvolume snapshotted by the real btrfs
 * provider through a private vssd. The application is the tests' witness client (pg-load,
 * maria-load): durable single-row transactions back to back, each commit acknowledgement
 * written down with its monotonic time outside the volume. For each scenario, RUNS backups
 * run one after another, each measured from those acknowledgements:
 *
 *   blocked     the longest gap between two consecutive acknowledgements that overlaps
 *               DoSnapshotSet (where Freeze and Thaw happen)
 *   hold        the writer's own Freeze→Thaw from its log line; for the MariaDB hook, the
 *               hook's own lock→release marks (date +%s%N); nothing for the PostgreSQL hook,
 *               which holds nothing
 *   commits/s   acknowledgements inside DoSnapshotSet per second, and the same over the whole
 *               backup (InitializeForBackup to BackupComplete); each as a ratio to the rate in
 *               the quiet 200 ms just before that backup (the shared machine's load drifts)
 *
 * The scenarios:
 *
 *   none       the same measurements with no backup at all (two 200 ms windows back to
 *              back: its ratio shows the noise)
 *   no-writer  a backup with no writer involved: the btrfs snapshot alone
 *   writer     vss-writer-postgresql (non-exclusive pg_backup_start/stop) or
 *              vss-writer-mariadb (BACKUP STAGE … BLOCK_COMMIT)
 *   script     vss-writer-script running one qemu-guest-agent fsfreeze-hook.d style hook.
 *              MariaDB: the approach of qemu's mysql-flush.sh sample, FLUSH TABLES WITH READ
 *              LOCK held by a background client fed through a FIFO until thaw. PostgreSQL:
 *              qemu ships no lock-based hook for it; common fsfreeze hooks run
 *              `psql -c CHECKPOINT` on freeze (and rely on crash recovery), which this one
 *              does.
 *
 * Usage: bench-writers-db [RUNS [pg|maria|all]]   (default 10 all). The programs' paths
 * come from meson (compiled in); the environment variables of the writer tests override
 * them.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "alloc-util.h"
#include "macro.h"
#include "maria-server.h"
#include "pg-cluster.h"
#include "root-harness.h"
#include "writers-harness.h"

#define PG_WRITER_CLASS "8e3f51c2-9b0d-4a7e-b6c4-1f2a7d9e0c35"
#define MARIA_WRITER_CLASS "b41d6e8a-3c27-4f90-8e15-6a9c0d2f7b43"
/* Room for the WAL and the pages snapshots pin until btrfs's cleaner frees them. */
#define IMAGE_SIZE (UINT64_C(8) << 30)
#define PG_PORT 55442U
#define RUNS_MAX 100
#define NONE_WINDOW_USEC (200 * 1000)

typedef struct Sample {
        bool failed;            /* the backup failed: not counted */
        double blocked_ms;      /* longest gap between acknowledgements around DoSnapshotSet */
        double tps_dss;         /* commits per second during DoSnapshotSet */
        double tps_backup;      /* commits per second over the whole backup */
        double tps_before;      /* commits per second in the quiet 200 ms just before it */
        double dss_ms;          /* DoSnapshotSet duration */
        double hold_ms;         /* the writer's (or hook's) own hold; < 0 when none */
        uint64_t gap_from;      /* where the longest gap starts (monotonic µs) */
        int gap_where;          /* against the writer's Freeze→Thaw: GAP_* */
} Sample;

enum {
        GAP_UNKNOWN,            /* no writer markers */
        GAP_BEFORE_FREEZE,      /* ended before Freeze: PrepareForSnapshot and earlier */
        GAP_IN_HOLD,            /* overlaps Freeze→Thaw */
        GAP_AFTER_THAW,         /* started after Thaw: PostSnapshot and later */
};

/* What differs between the two databases. */
typedef struct Db {
        const char *name;              /* "PostgreSQL" */
        const char *title;             /* the table's heading */
        char **load_argv;              /* the witness client, without --acks */
        char **background_argv;        /* more load beside the witness (pgbench), or NULL */
        char **writer_argv;            /* the writer, without --socket */
        const char *writer_name;       /* "vss-writer-postgresql" */
        const char *writer_class;
        const char *hold_needle;       /* the writer's Thaw log line … */
        const char *hold_key;          /* … and what precedes its milliseconds */
        const char *freeze_needle;     /* the writer's Freeze log line */
        const char *hooks;             /* the script writer's hook directory */
        const char *marks;             /* the hook's lock/release marks, or NULL */
} Db;

typedef struct Bench {
        LoopBtrfs fs;
        char *subvol;
        Vssd vssd;
        size_t runs;
} Bench;

/* ------------------------------------------------------------------------------------------ */
/* Measuring                                                                                   */
/* ------------------------------------------------------------------------------------------ */

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

/* Acknowledgements per second whose time lies in [t0, t1]. */
static double rate(const Acks *a, uint64_t t0, uint64_t t1) {
        size_t inside = 0;

        for (size_t i = 0; i < a->n; i++)
                inside += a->t[i] >= t0 && a->t[i] <= t1;
        return t1 > t0 ? (double) inside * 1e6 / (double) (t1 - t0) : 0;
}

/*
 * The blocked time and throughput the load saw: DoSnapshotSet [t0, t1] in backup [b0, b1],
 * and its throughput in the quiet window [q0, b0] just before, the reference of the ratios
 * (each backup against its own reference: the shared machine's load drifts).
 */
static int measure(const char *acks, uint64_t q0, uint64_t b0, uint64_t t0, uint64_t t1, uint64_t b1, Sample *s) {
        uint64_t gap = 0;
        Acks a;
        int r;

        r = acks_load(acks, &a);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < a.n; i++)
                /* Gaps that overlap the window: the commit just before it to the first after. */
                if (a.t[i + 1] >= t0 && a.t[i] <= t1 && a.t[i + 1] - a.t[i] > gap) {
                        gap = a.t[i + 1] - a.t[i];
                        s->gap_from = a.t[i];
                }
        s->blocked_ms = (double) gap / 1e3;
        s->tps_dss = rate(&a, t0, t1);
        s->tps_backup = rate(&a, b0, b1);
        s->tps_before = rate(&a, q0, b0);
        s->dss_ms = (double) (t1 - t0) / 1e3;
        free(a.t);
        return 0;
}

/* Where the writer scenario's longest gaps lay against the writer's own Freeze→Thaw. */
static void report_where(const char *writer, const Sample *s, size_t n) {
        size_t count[4] = {};

        for (size_t i = 0; i < n; i++)
                if (!s[i].failed)
                        count[s[i].gap_where]++;
        printf("\n%s: the longest gap lay before Freeze in %zu backups, overlapped Freeze→Thaw in %zu, "
               "came after Thaw in %zu (unplaced: %zu).\n",
               writer, count[GAP_BEFORE_FREEZE], count[GAP_IN_HOLD], count[GAP_AFTER_THAW], count[GAP_UNKNOWN]);
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

/* The writer's hold in the index-th line of log containing needle: the number after key. */
static double log_hold(const char *log, const char *needle, const char *key, unsigned index) {
        _cleanup_free_ char *line = log_line(log, needle, index);
        const char *p = line ? strstr(line, key) : NULL;

        return p ? strtod(p + strlen(key), NULL) : -1;
}

/* The hook's index-th hold from its "locked <ns>" and "released <ns>" marks. */
static double marks_hold(const char *marks, unsigned index) {
        _cleanup_free_ char *locked = log_line(marks, "locked ", index);
        _cleanup_free_ char *released = log_line(marks, "released ", index);
        uint64_t a, b;

        if (!locked || !released || line_u64_after(locked, "locked ", &a) < 0 ||
            line_u64_after(released, "released ", &b) < 0 || b < a)
                return -1;
        return (double) (b - a) / 1e6;
}

/* ------------------------------------------------------------------------------------------ */
/* Backups                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void backup_once(Bench *b, const Db *db, const char *acks, const char *const *classes, const char *log,
                        Sample *s) {
        unsigned before = 0;
        WhBackup bk = {};
        uint64_t q0, b0, t0, t1, b1;
        vss_hr hr;

        *s = (Sample) { .hold_ms = -1 };
        if (classes && log)
                before = log_count(log, db->hold_needle);
        else if (classes && db->marks)
                before = log_count(db->marks, "released ");

        q0 = now_usec();
        (void) usleep(NONE_WINDOW_USEC);
        b0 = now_usec();
        hr = wh_backup_prepare(&bk, b->vssd.socket, b->subvol, classes, classes ? 1 : 0);
        t0 = now_usec();
        if (hr == S_OK)
                hr = wh_backup_snapshot(&bk);
        t1 = now_usec();
        if (hr == S_OK)
                hr = wh_backup_complete(&bk);
        wh_backup_release(&bk);
        b1 = now_usec();
        if (hr != S_OK) {
                fprintf(stderr, "%s: backup failed: %s\n", db->name, vss_hr_name(hr));
                s->failed = true;
                return;
        }
        /* Let a few commits land after Thaw, so the gap that spans it is closed. */
        (void) usleep(50 * 1000);
        if (measure(acks, q0, b0, t0, t1, b1, s) < 0) {
                s->failed = true;
                return;
        }
        if (classes && log && log_count(log, db->hold_needle) > before) {
                _cleanup_free_ char *freeze = log_line(log, db->freeze_needle, before);
                _cleanup_free_ char *thaw = log_line(log, db->hold_needle, before);
                uint64_t tf = 0, tt = 0;

                s->hold_ms = log_hold(log, db->hold_needle, db->hold_key, before);
                /* Where the longest gap lies against Freeze and Thaw: on stderr, for the reader. */
                if (freeze && thaw && line_u64_after(freeze, "(monotonic ", &tf) >= 0 &&
                    line_u64_after(thaw, "(monotonic ", &tt) >= 0) {
                        uint64_t gap_to = s->gap_from + (uint64_t) (s->blocked_ms * 1e3);

                        s->gap_where = gap_to < tf        ? GAP_BEFORE_FREEZE :
                                       s->gap_from > tt ? GAP_AFTER_THAW :
                                                          GAP_IN_HOLD;
                        fprintf(stderr,
                                "%s: DoSnapshotSet %.1f ms; longest gap %.1f ms from +%.1f ms; Freeze at +%.1f, "
                                "Thaw at +%.1f ms\n",
                                db->name, s->dss_ms, s->blocked_ms, ((double) s->gap_from - (double) t0) / 1e3,
                                ((double) tf - (double) t0) / 1e3, ((double) tt - (double) t0) / 1e3);
                }
        } else if (classes && db->marks && log_count(db->marks, "released ") > before)
                s->hold_ms = marks_hold(db->marks, before);
}

static void report(const char *name, const Sample *s, size_t n) {
        double blocked[RUNS_MAX], dss[RUNS_MAX], tps[RUNS_MAX], tpb[RUNS_MAX], hold[RUNS_MAX];
        double ratio[RUNS_MAX], ratio_b[RUNS_MAX], before[RUNS_MAX];
        size_t n_hold = 0, k = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i].failed)
                        continue;
                blocked[k] = s[i].blocked_ms;
                dss[k] = s[i].dss_ms;
                tps[k] = s[i].tps_dss;
                tpb[k] = s[i].tps_backup;
                before[k] = s[i].tps_before;
                ratio[k] = s[i].tps_before > 0 ? s[i].tps_dss / s[i].tps_before : 0;
                ratio_b[k] = s[i].tps_before > 0 ? s[i].tps_backup / s[i].tps_before : 0;
                k++;
                if (s[i].hold_ms >= 0)
                        hold[n_hold++] = s[i].hold_ms;
        }
        if (k == 0) {
                printf("| %s | 0/%zu | | | | | | |\n", name, n);
                return;
        }
        printf("| %s | %zu/%zu | %.1f / %.1f | ", name, k, n, median(blocked, k), maximum(blocked, k));
        if (n_hold > 0)
                printf("%.1f / %.1f | ", median(hold, n_hold), maximum(hold, n_hold));
        else
                printf("– | ");
        printf("%.0f | %.0f | %.0f (%.2f) | %.0f (%.2f) |\n", median(dss, k), median(before, k), median(tps, k),
               median(ratio, k), median(tpb, k), median(ratio_b, k));
}

static int start_logged(char *const argv[], const char *log, pid_t *ret) {
        int r = spawn_logged(argv, log, ret);

        return r < 0 ? r : log_wait(log, "subscribed", 1, WH_WAIT_MS);
}

/* argv + "--socket" vssd + NULL, into out (at most n entries). */
static void argv_with_socket(char **argv, const char *socket, char **out, size_t n) {
        size_t i = 0;

        for (; argv[i] && i + 3 < n; i++)
                out[i] = argv[i];
        out[i++] = (char *) "--socket";
        out[i++] = (char *) socket;
        out[i] = NULL;
}

/* Runs the four scenarios for db and prints its table. */
static int run_db(Bench *b, const Db *db) {
        static const char *const script_class[] = { SCRIPT_WRITER_CLASS };
        const char *const writer_class[] = { db->writer_class };
        _cleanup_free_ char *acks = NULL, *writer_log = NULL, *script_log = NULL;
        _cleanup_free_ Sample *none = NULL, *plain = NULL, *writer = NULL, *script = NULL;
        _cleanup_free_ char *background_log = NULL;
        static unsigned serial;
        char *argv[32], line[64], name[64];
        pid_t load = 0, w = 0, background = 0;
        size_t i;
        int out = -EBADF, r;

        none = calloc(b->runs, sizeof(Sample));
        plain = calloc(b->runs, sizeof(Sample));
        writer = calloc(b->runs, sizeof(Sample));
        script = calloc(b->runs, sizeof(Sample));
        if (!none || !plain || !writer || !script)
                return -ENOMEM;
        /* Fresh logs for each table: the waits count lines from the start. */
        serial++;
        (void) snprintf(name, sizeof(name), "%s-acks-%u.txt", db->name, serial);
        acks = path_join(b->fs.dir, name);
        (void) snprintf(name, sizeof(name), "%s-writer-%u.log", db->name, serial);
        writer_log = path_join(b->fs.dir, name);
        (void) snprintf(name, sizeof(name), "%s-script-%u.log", db->name, serial);
        script_log = path_join(b->fs.dir, name);
        (void) snprintf(name, sizeof(name), "%s-background-%u.log", db->name, serial);
        background_log = path_join(b->fs.dir, name);

        if (db->background_argv) {
                r = spawn_logged(db->background_argv, background_log, &background);
                if (r < 0)
                        return r;
        }

        for (i = 0; db->load_argv[i] && i + 3 < ELEMENTSOF(argv); i++)
                argv[i] = db->load_argv[i];
        argv[i++] = (char *) "--acks";
        argv[i++] = acks;
        argv[i] = NULL;
        r = process_spawn(argv, &load, &out);
        if (r < 0)
                goto finish;
        r = read_line_timeout(out, line, sizeof(line), WH_WAIT_MS);
        (void) close(out);
        if (r < 0)
                goto finish;
        (void) usleep(1000 * 1000);

        for (i = 0; i < b->runs; i++) {
                uint64_t q0 = now_usec(), t0 = q0 + NONE_WINDOW_USEC, t1 = t0 + NONE_WINDOW_USEC;

                (void) usleep(2 * NONE_WINDOW_USEC + 50 * 1000);
                r = measure(acks, q0, t0, t0, t1, t1, &none[i]);
                if (r < 0)
                        goto finish;
                none[i].hold_ms = -1;
        }
        for (i = 0; i < b->runs; i++)
                backup_once(b, db, acks, NULL, NULL, &plain[i]);

        argv_with_socket(db->writer_argv, b->vssd.socket, argv, ELEMENTSOF(argv));
        r = start_logged(argv, writer_log, &w);
        if (r < 0)
                goto finish;
        for (i = 0; i < b->runs; i++)
                backup_once(b, db, acks, writer_class, writer_log, &writer[i]);
        (void) process_stop(w, 5000);
        w = 0;

        r = start_logged((char *const[]) { getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", (char *) db->hooks,
                                           (char *) "--socket", b->vssd.socket, (char *) "--timeout",
                                           (char *) "20000", (char *) "--freeze-timeout", (char *) "60000", NULL },
                         script_log, &w);
        if (r < 0)
                goto finish;
        for (i = 0; i < b->runs; i++)
                backup_once(b, db, acks, script_class, NULL, &script[i]);
        (void) process_stop(w, 5000);
        w = 0;

        printf("\n### %s: %zu backups per scenario\n\n", db->title, b->runs);
        printf("| scenario | backups ok | app blocked ms (median / max) | writer hold ms (median / max) "
               "| DoSnapshotSet ms (median) | commits/s in the 200 ms before | commits/s during DoSnapshotSet (ratio) "
               "| commits/s over the whole backup (ratio) |\n");
        printf("|---|---|---|---|---|---|---|---|\n");
        report("no backup", none, b->runs);
        report("backup, no writer", plain, b->runs);
        report(db->writer_name, writer, b->runs);
        report("qemu-style script", script, b->runs);
        report_where(db->writer_name, writer, b->runs);
        fflush(stdout);
        r = 0;

finish:
        if (w > 0)
                (void) process_stop(w, 5000);
        if (load > 0)
                (void) process_stop(load, 5000);
        if (background > 0)
                (void) process_stop(background, 5000);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* The servers                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* A literal, so the compiler checks the format. */
#define PG_HOOK \
        "#!/bin/sh\n" \
        "# fsfreeze-hook.d style, as common PostgreSQL freeze hooks do: a CHECKPOINT on freeze so\n" \
        "# crash recovery from the snapshot is short; nothing is held, nothing to undo on thaw.\n" \
        "case \"$1\" in\n" \
        "freeze) exec '%s' -X -q '%s' -c CHECKPOINT >/dev/null ;;\n" \
        "esac\n"

#define MARIA_HOOK \
        "#!/bin/sh\n" \
        "# fsfreeze-hook.d style, the approach of qemu's mysql-flush.sh: FLUSH TABLES WITH READ\n" \
        "# LOCK from a background client fed through a FIFO, held until thaw closes the FIFO.\n" \
        "SOCK='%s'; D='%s'\n" \
        "FIFO=\"$D/hold.fifo\"; OUT=\"$D/hold.out\"; MARKS=\"$D/hold.marks\"\n" \
        "# A zombie is not alive (nobody may reap orphans quickly in a container).\n" \
        "alive() { s=$(cut -d' ' -f3 \"/proc/$1/stat\" 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != Z ]; }\n" \
        "case \"$1\" in\n" \
        "freeze)\n" \
        "    rm -f \"$FIFO\" \"$OUT\"; mkfifo \"$FIFO\" || exit 1\n" \
        "    mariadb --no-defaults -S \"$SOCK\" -u root -N --unbuffered < \"$FIFO\" > \"$OUT\" 2>&1 &\n" \
        "    echo $! > \"$D/hold.client\"\n" \
        "    exec 3> \"$FIFO\"\n" \
        "    sleep 100000 >/dev/null 2>&1 &\n" \
        "    echo $! > \"$D/hold.keeper\"\n" \
        "    printf 'FLUSH TABLES WITH READ LOCK;\\nSELECT \"LOCKED\";\\n' >&3\n" \
        "    until grep -q LOCKED \"$OUT\" 2>/dev/null; do\n" \
        "        alive \"$(cat \"$D/hold.client\")\" || { cat \"$OUT\"; exit 1; }\n" \
        "        sleep 0.01\n" \
        "    done\n" \
        "    echo \"locked $(date +%%s%%N)\" >> \"$MARKS\"; : > \"$D/hold.locked\"\n" \
        "    ;;\n" \
        "thaw)\n" \
        "    [ -p \"$FIFO\" ] || exit 0\n" \
        "    kill \"$(cat \"$D/hold.keeper\")\" 2>/dev/null\n" \
        "    client=$(cat \"$D/hold.client\")\n" \
        "    while alive \"$client\"; do sleep 0.001; done\n" \
        "    if [ -e \"$D/hold.locked\" ]; then\n" \
        "        echo \"released $(date +%%s%%N)\" >> \"$MARKS\"; rm -f \"$D/hold.locked\"\n" \
        "    fi\n" \
        "    rm -f \"$FIFO\"\n" \
        "    ;;\n" \
        "esac\n"

static int bench_pg(Bench *b) {
        _cleanup_free_ char *data = NULL, *sock = NULL, *pglog = NULL, *labels = NULL, *hooks = NULL, *hook = NULL;
        _cleanup_free_ char *text = NULL, *psql = NULL, *pgbench = NULL, *init_log = NULL;
        PgCluster pg = {};
        int r = -EIO;

        data = path_join(b->subvol, "pgdata");
        sock = path_join(b->fs.dir, "pgsock");
        pglog = path_join(b->fs.dir, "postgres.log");
        labels = path_join(b->fs.dir, "labels");
        hooks = path_join(b->fs.dir, "pg-hooks");
        hook = path_join(hooks, "50-pg-checkpoint");
        psql = pg_program("psql");
        pgbench = pg_program("pgbench");
        init_log = path_join(b->fs.dir, "pgbench-init.log");
        if (!psql || mkdir(sock, 0755) < 0 || pg_chown_postgres(sock, 0755) < 0 || mkdir(hooks, 0755) < 0) {
                fprintf(stderr, "PostgreSQL: cannot prepare (psql in $PG_BINDIR?): %m\n");
                return -EIO;
        }
        if (pg_cluster_describe(data, sock, PG_PORT, pglog, &pg) < 0 || pg_cluster_init(&pg) < 0 ||
            pg_cluster_start(&pg) < 0) {
                fprintf(stderr, "cannot start PostgreSQL (log %s)\n", pglog);
                goto finish;
        }
        if (asprintf(&text, PG_HOOK, psql, pg.conninfo) < 0 || write_file(hook, text, 0755) < 0)
                goto finish;

        if (!pgbench ||
            process_run_logged((char *const[]) { pgbench, (char *) "-i", (char *) "-s", (char *) "2", (char *) "-q",
                                                 pg.conninfo, NULL },
                               init_log) < 0) {
                fprintf(stderr, "cannot initialise pgbench (log %s)\n", init_log);
                goto finish;
        }

        char *witness[] = { getenv("PG_LOAD"), (char *) "--conninfo", pg.conninfo, (char *) "--seconds",
                            (char *) "3600", NULL };
        char *writer[] = { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--conninfo", pg.conninfo, (char *) "--label-dir",
                           labels, (char *) "--lock-timeout", (char *) "5000", (char *) "--freeze-timeout",
                           (char *) "20000", NULL };
        char *bench[] = { pgbench, (char *) "-c", (char *) "4", (char *) "-j", (char *) "2", (char *) "-T",
                          (char *) "3600", (char *) "-n", pg.conninfo, NULL };
        Db db = {
                .name = "PostgreSQL",
                .title = "PostgreSQL, witness alone",
                .load_argv = witness,
                .writer_argv = writer,
                .writer_name = "vss-writer-postgresql",
                .writer_class = PG_WRITER_CLASS,
                .hold_needle = "thaw: freeze window ",
                .hold_key = "window ",
                .freeze_needle = "freeze: backup active",
                .hooks = hooks,
        };

        r = run_db(b, &db);
        if (r < 0)
                goto finish;
        /* The same with pgbench's four clients competing for the server, as in the writer test. */
        db.title = "PostgreSQL, witness + pgbench -c 4 -j 2 alongside";
        db.background_argv = bench;
        r = run_db(b, &db);

finish:
        pg_cluster_done(&pg);
        return r;
}

static int bench_maria(Bench *b) {
        _cleanup_free_ char *datadir = NULL, *run = NULL, *password = NULL, *hooks = NULL, *hook = NULL;
        _cleanup_free_ char *text = NULL, *marks = NULL;
        MariaServer db = {};
        int r = -EIO;

        datadir = path_join(b->subvol, "mysql");
        run = path_join(b->fs.dir, "run");
        password = path_join(b->fs.dir, "password");
        hooks = path_join(b->fs.dir, "maria-hooks");
        hook = path_join(hooks, "50-mysql-flush");
        marks = path_join(b->fs.dir, "hold.marks");
        if (mkdir(run, 0755) < 0 || maria_chown_mysql(run, 0755) < 0 || mkdir(hooks, 0755) < 0 ||
            write_file(password, "wb-secret\n", 0600) < 0) {
                fprintf(stderr, "MariaDB: cannot prepare: %m\n");
                return -EIO;
        }
        if (maria_server_describe(datadir, run, "bench", &db) < 0 || maria_server_init(&db) < 0 ||
            maria_server_start(&db) < 0) {
                fprintf(stderr, "cannot start MariaDB\n");
                goto finish;
        }
        /* The writer's own user: BACKUP STAGE needs RELOAD. */
        if (maria_sql(db.socket, "CREATE USER 'vss'@'localhost' IDENTIFIED BY 'wb-secret'", NULL) != 0 ||
            maria_sql(db.socket, "GRANT RELOAD, SELECT ON *.* TO 'vss'@'localhost'", NULL) != 0) {
                fprintf(stderr, "cannot prepare MariaDB\n");
                goto finish;
        }
        if (asprintf(&text, MARIA_HOOK, db.socket, b->fs.dir) < 0 || write_file(hook, text, 0755) < 0)
                goto finish;

        r = run_db(b, &(const Db) {
                .name = "MariaDB",
                .title = "MariaDB, witness alone",
                .load_argv = (char *[]) { getenv("MARIA_LOAD"), (char *) "--socket", db.socket, (char *) "--seconds",
                                          (char *) "3600", NULL },
                .writer_argv = (char *[]) { getenv("VSS_WRITER_MARIADB"), (char *) "--socket-path", db.socket,
                                            (char *) "--user", (char *) "vss", (char *) "--password-file", password,
                                            (char *) "--lock-timeout", (char *) "5000", (char *) "--freeze-timeout",
                                            (char *) "20000", NULL },
                .writer_name = "vss-writer-mariadb",
                .writer_class = MARIA_WRITER_CLASS,
                .hold_needle = "thaw: commits released after ",
                .freeze_needle = "freeze: commits blocked",
                .hold_key = "after ",
                .hooks = hooks,
                .marks = marks,
        });

finish:
        maria_server_done(&db);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Main                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void print_machine(const char *when) {
        _cleanup_free_ char *cpuinfo = NULL, *load = NULL;
        const char *model = NULL;
        struct utsname u;

        if (read_file_full("/proc/loadavg", &load, NULL) >= 0)
                load[strcspn(load, "\n")] = '\0';
        if (read_file_full("/proc/cpuinfo", &cpuinfo, NULL) >= 0 && (model = strstr(cpuinfo, "model name"))) {
                model = strchr(model, ':');
                model = model ? model + 2 : NULL;
                if (model)
                        cpuinfo[strcspn(cpuinfo, "\n") + (size_t) (model - cpuinfo)] = '\0';
        }
        if (uname(&u) < 0)
                u = (struct utsname) {};
        printf("%s: %s %s, %ld CPUs (%s), load average %s\n", when, u.sysname, u.release,
               sysconf(_SC_NPROCESSORS_ONLN), model ? model : "?", load ? load : "?");
}

/* The compiled-in program paths, unless the environment names others. */
static void default_env(void) {
        static const struct {
                const char *name, *value;
        } defaults[] = {
                { "VSSD", WB_VSSD },
                { "VSS_WRITER_POSTGRESQL", WB_WRITER_POSTGRESQL },
                { "VSS_WRITER_MARIADB", WB_WRITER_MARIADB },
                { "VSS_WRITER_SCRIPT", WB_WRITER_SCRIPT },
                { "PG_LOAD", WB_PG_LOAD },
                { "MARIA_LOAD", WB_MARIA_LOAD },
                { "PG_BINDIR", WB_PG_BINDIR },
                { "MARIADBD", WB_MARIADBD },
                { "MARIADB_INSTALL_DB", WB_MARIADB_INSTALL_DB },
        };

        for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
                (void) setenv(defaults[i].name, defaults[i].value, 0);
}

int main(int argc, char **argv) {
        size_t runs = argc > 1 ? (size_t) atoi(argv[1]) : 10;
        const char *which = argc > 2 ? argv[2] : "all";
        Bench b = { .fs.loop_fd = -EBADF, .runs = runs };
        bool ok = false;
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "bench-writers-db needs root\n");
                return 77;
        }
        if (runs < 1 || runs > RUNS_MAX || !(streq(which, "pg") || streq(which, "maria") || streq(which, "all"))) {
                fprintf(stderr, "usage: bench-writers-db [RUNS (1..%d) [pg|maria|all]]\n", RUNS_MAX);
                return 2;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        default_env();

        r = loop_btrfs_setup("/var/tmp/vss-bench-writers-db-XXXXXX", IMAGE_SIZE, &b.fs);
        if (r < 0) {
                fprintf(stderr, "btrfs: %s\n", strerror(-r));
                return 1;
        }
        /* The servers run as postgres and mysql: they must reach their directories. */
        b.subvol = path_join(b.fs.mnt, "vol");
        if (chmod(b.fs.dir, 0755) < 0 || chmod(b.fs.mnt, 0755) < 0 ||
            btrfs_util_create_subvolume(b.subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || chmod(b.subvol, 0755) < 0 ||
            vssd_start(b.fs.dir, false, 20000, &b.vssd) < 0) {
                fprintf(stderr, "cannot prepare the volume and vssd: %m\n");
                goto finish;
        }

        printf("Loop-mounted btrfs, real btrfs provider; one witness client committing single-row\n"
               "durable transactions back to back. App blocked = longest gap between two commit\n"
               "acknowledgements around DoSnapshotSet; medians over the successful backups.\n");
        print_machine("start");
        if (!streq(which, "maria") && bench_pg(&b) < 0)
                goto finish;
        if (!streq(which, "pg") && bench_maria(&b) < 0)
                goto finish;
        printf("\n");
        print_machine("end");
        ok = true;

finish:
        vssd_stop(&b.vssd);
        if (getenv("VSS_TEST_KEEP"))
                fprintf(stderr, "kept %s\n", b.fs.dir);
        else
                (void) loop_btrfs_teardown(&b.fs);
        free(b.subvol);
        return ok ? 0 : 1;
}

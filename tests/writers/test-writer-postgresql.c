/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-postgresql: vss-writer-postgresql against a real PostgreSQL cluster whose data
 * directory lives on a loop-mounted btrfs subvolume, snapshotted by the real btrfs provider
 * through a private vssd.
 *
 * What it proves:
 *   - Under pgbench load plus a witness client (pg-load) that writes down each of its
 *     commit acknowledgements outside the volume, the backup succeeds; the snapshot's data
 *     directory, copied elsewhere and prepared with the writer's label set
 *     (--restore-label), starts without manual steps, recovers, passes pg_amcheck and the
 *     pgbench balance invariant, and holds every witness transaction acknowledged before
 *     the writer's freeze marker, as a gapless prefix that ends before the backup's end
 *     (pg_backup_stop, PostSnapshot). Afterwards the writer holds no session on the server.
 *   - The same with the WAL on a second volume of the set (initdb --waldir): the two
 *     subvolumes are snapshotted one after the other, not atomically, and the restore still
 *     recovers, thanks to the WAL the label set carries.
 *   - The backup session killed before Freeze: Freeze vetoes VSS_E_WRITERERROR_RETRYABLE.
 *   - The backup session's backend not answering (SIGSTOP): Freeze vetoes
 *     VSS_E_WRITERERROR_TIMEOUT after the lock budget, while the server goes on committing;
 *     the session is gone once the backend runs again.
 *   - The writer's freeze timeout passing while another writer still freezes: the abort
 *     closes the session, so the server ends the backup while the set is still frozen.
 *   - The writer SIGKILLed mid-freeze: its backend and WAL reservation disappear with it
 *     (nothing stays in backup mode), commits go on, and the next backup succeeds.
 *   - The label through the backup components document: a restore requester (InitializeForRestore
 *     from the saved document, SetSelectedForRestore, AddNewTarget to a fresh copy of the
 *     snapshot's data directory, PreRestore, SetFileRestoreStatus(ALL), PostRestore) gets a
 *     directory the server recovers from with no manual step; the same restore without a new
 *     target, onto the running cluster, fails FAILED_AT_POST_RESTORE and touches nothing.
 *   - A server that accepts connections and never answers (the postmaster stopped): Identify
 *     still answers within the connect timeout, from the layout last seen, and the backup
 *     fails at PrepareForBackup with VSS_E_WRITERERROR_RETRYABLE.
 *
 * A second writer, vss-writer-script at the system level, has a hook that sleeps in
 * prepare-snapshot or freeze while a flag file exists: it holds the backup at the step the
 * test needs to act in.
 *
 * Needs root (loop devices, mount, running the server as postgres): exits 77 otherwise, or
 * when PostgreSQL's programs are not installed. VSSD, VSS_WRITER_POSTGRESQL,
 * VSS_WRITER_SCRIPT, PG_LOAD and PG_BINDIR are set by meson.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "alloc-util.h"
#include "macro.h"
#include "pg-cluster.h"
#include "root-harness.h"
#include "writers-harness.h"

#define PG_WRITER_CLASS "8e3f51c2-9b0d-4a7e-b6c4-1f2a7d9e0c35"
#define IMAGE_SIZE (UINT64_C(2) << 30)
#define PG_PORT 55432U
#define RESTORED_PORT 55433U
#define STALL_SECONDS "4"
#define WRITER_APP "application_name = 'vss-writer-postgresql'"

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;        /* <mnt>/vol: the volume */
        char *labels;        /* <dir>/labels: the writer's label sets (off the volume) */
        char *sock;          /* <dir>/sock: the servers' sockets */
        char *hooks;
        char *stall_prepare; /* while it exists, the hook sleeps in prepare-snapshot */
        char *stall_freeze;  /* while it exists, the hook sleeps in freeze */
        PgCluster pg;
        Vssd vssd;
        pid_t script_writer;
        /* The current test's */
        pid_t writer;
        char *writer_log;
        pid_t pgbench;
        pid_t load;
        pid_t stopped;       /* a process the test SIGSTOPped: continued in teardown */
        WhBackup backup;
        PgCluster restored;
        PgCluster second;    /* the two-volume test's cluster */
        unsigned serial;
} Fixture;

static const char *const pg_only[] = { PG_WRITER_CLASS };
static const char *const pg_and_stall[] = { PG_WRITER_CLASS, SCRIPT_WRITER_CLASS };

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r < 0) {                                                                      \
                        print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, strerror(-_r)); \
                        fail();                                                                    \
                }                                                                                  \
        } while (0)

#define assert_hr(expr, expected)                                                                   \
        do {                                                                                        \
                vss_hr _a = (expr), _e = (expected);                                                \
                if (_a != _e) {                                                                     \
                        print_error("%s:%d: %s = %s, expected %s\n", __FILE__, __LINE__, #expr,     \
                                    vss_hr_name(_a), vss_hr_name(_e));                              \
                        fail();                                                                     \
                }                                                                                   \
        } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Runs argv (as root) to its end with its output in log; 0 when it exited 0. */
static int run_logged(char *const argv[], const char *log) {
        pid_t pid;
        int status, r;

        r = spawn_logged(argv, log, &pid);
        if (r < 0)
                return r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

static int start_script_writer(Fixture *f) {
        _cleanup_free_ char *hook = path_join(f->hooks, "10-stall"), *text = NULL, *log = NULL;

        if (asprintf(&text,
                     "#!/bin/sh\n"
                     "# vss-events: prepare-snapshot\n"
                     "case \"$1\" in\n"
                     "prepare-snapshot) if [ -e '%s' ]; then echo stalling; sleep " STALL_SECONDS "; fi ;;\n"
                     "freeze) if [ -e '%s' ]; then echo stalling; sleep " STALL_SECONDS "; fi ;;\n"
                     "esac\n",
                     f->stall_prepare, f->stall_freeze) < 0 ||
            write_file(hook, text, 0755) < 0)
                return -EIO;

        log = path_join(f->fs.dir, "script-writer.log");
        if (!getenv("VSS_WRITER_SCRIPT") ||
            spawn_logged((char *const[]) { getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", f->hooks,
                                           (char *) "--socket", f->vssd.socket, (char *) "--level",
                                           (char *) "system", (char *) "--timeout", (char *) "15000",
                                           (char *) "--freeze-timeout", (char *) "30000", NULL },
                         log, &f->script_writer) < 0)
                return -EINVAL;
        return log_wait(log, "subscribed", 1, WH_WAIT_MS);
}

/* Starts vss-writer-postgresql with extra options (NULL-terminated), waits until subscribed. */
static void start_pg_writer(Fixture *f, ...) {
        char *argv[32], name[64];
        const char *extra;
        size_t n = 0;
        va_list ap;

        (void) snprintf(name, sizeof(name), "pg-writer-%u.log", ++f->serial);
        free(f->writer_log);
        f->writer_log = path_join(f->fs.dir, name);
        argv[n++] = getenv("VSS_WRITER_POSTGRESQL");
        argv[n++] = (char *) "--conninfo";
        argv[n++] = f->pg.conninfo;
        argv[n++] = (char *) "--label-dir";
        argv[n++] = f->labels;
        argv[n++] = (char *) "--socket";
        argv[n++] = f->vssd.socket;
        va_start(ap, f);
        while ((extra = va_arg(ap, const char *)) && n < ELEMENTSOF(argv) - 1)
                argv[n++] = (char *) extra;
        va_end(ap);
        argv[n] = NULL;

        assert_non_null(argv[0]);
        assert_ok(spawn_logged(argv, f->writer_log, &f->writer));
        assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
}

/* The number after key in the first writer log line containing needle. */
static uint64_t writer_log_number(Fixture *f, const char *needle, const char *key) {
        _cleanup_free_ char *line = log_line(f->writer_log, needle, 0);
        uint64_t v = 0;

        if (!line) {
                print_error("no \"%s\" line in %s\n", needle, f->writer_log);
                fail();
        }
        assert_int_equal(line_u64_after(line, key, &v), 0);
        return v;
}

static long long sql_i64(const char *conninfo, const char *sql) {
        long long v = -1;

        assert_ok(pg_sql_i64(conninfo, sql, &v));
        return v;
}

/* Waits until sql (a count) returns 0 on the main cluster; returns the milliseconds waited. */
static double wait_count_zero(Fixture *f, const char *sql) {
        uint64_t start = now_usec(), deadline = start + WH_WAIT_MS * USEC_PER_MSEC;

        while (sql_i64(f->pg.conninfo, sql) != 0) {
                if (now_usec() >= deadline) {
                        print_error("still non-zero: %s\n", sql);
                        fail();
                }
                (void) usleep(2000);
        }
        return (double) (now_usec() - start) / 1e3;
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        if (f->script_writer > 0)
                (void) process_stop(f->script_writer, 10000);
        vssd_stop(&f->vssd);
        pg_cluster_done(&f->pg);
        if (getenv("VSS_TEST_KEEP")) {
                fprintf(stderr, "keeping %s (mounted)\n", f->fs.dir);
                (void) umount2(f->fs.mnt, MNT_DETACH);
        } else
                (void) loop_btrfs_teardown(&f->fs);
        free(f->subvol);
        free(f->labels);
        free(f->sock);
        free(f->hooks);
        free(f->stall_prepare);
        free(f->stall_freeze);
        free(f->writer_log);
        free(f);
        *state = NULL;
        return 0;
}

static int group_setup(void **state) {
        _cleanup_free_ char *data = NULL, *pglog = NULL, *pgbench = NULL, *init_log = NULL;
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;

        r = loop_btrfs_setup("/var/tmp/vss-writer-pg-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->subvol = path_join(f->fs.mnt, "vol");
        f->labels = path_join(f->fs.dir, "labels");
        f->sock = path_join(f->fs.dir, "sock");
        f->hooks = path_join(f->fs.dir, "hooks");
        f->stall_prepare = path_join(f->fs.dir, "stall-prepare");
        f->stall_freeze = path_join(f->fs.dir, "stall-freeze");
        data = path_join(f->subvol, "pgdata");
        pglog = path_join(f->fs.dir, "postgres.log");
        init_log = path_join(f->fs.dir, "pgbench-init.log");

        /* The server runs as postgres: it must reach its data and socket directories. */
        if (chmod(f->fs.dir, 0755) < 0 || chmod(f->fs.mnt, 0755) < 0 ||
            btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || chmod(f->subvol, 0755) < 0 ||
            mkdir(f->sock, 0755) < 0 || pg_chown_postgres(f->sock, 0755) < 0 || mkdir(f->hooks, 0755) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
                goto fail;
        }
        if (pg_cluster_describe(data, f->sock, PG_PORT, pglog, &f->pg) < 0 || pg_cluster_init(&f->pg) < 0 ||
            pg_cluster_start(&f->pg) < 0) {
                fprintf(stderr, "cannot start PostgreSQL (log %s)\n", pglog);
                goto fail;
        }
        pgbench = pg_program("pgbench");
        if (!pgbench ||
            run_logged((char *const[]) { pgbench, (char *) "-i", (char *) "-s", (char *) "2", (char *) "-q",
                                         f->pg.conninfo, NULL },
                       init_log) < 0 ||
            pg_sql(f->pg.conninfo, "CREATE TABLE probe (x integer)", NULL) < 0) {
                fprintf(stderr, "cannot initialise pgbench (log %s)\n", init_log);
                goto fail;
        }
        if (vssd_start(f->fs.dir, false, 20000, &f->vssd) < 0 || start_script_writer(f) < 0) {
                fprintf(stderr, "cannot start vssd and the script writer\n");
                goto fail;
        }
        return 0;

fail:
        (void) group_teardown(state);
        return -1;
}

static int test_teardown(void **state) {
        Fixture *f = *state;

        if (f->stopped > 0)
                (void) kill(f->stopped, SIGCONT);
        f->stopped = 0;
        (void) unlink(f->stall_prepare);
        (void) unlink(f->stall_freeze);
        wh_backup_release(&f->backup);
        (void) process_stop(f->load, 5000);
        (void) process_stop(f->pgbench, 5000);
        (void) process_stop(f->writer, 5000);
        f->load = f->pgbench = f->writer = 0;
        pg_cluster_done(&f->restored);
        pg_cluster_done(&f->second);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore and checks                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef struct Ack {
        int64_t k;
        uint64_t begin, ack;
} Ack;

static size_t acks_read(const char *path, Ack **ret) {
        _cleanup_free_ char *text = NULL;
        Ack *acks = NULL;
        size_t n = 0, allocated = 0;
        char *p, *nl;

        assert_ok(read_file_full(path, &text, NULL));
        for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
                Ack a;

                *nl = '\0';
                if (sscanf(p, "%" SCNd64 " %" SCNu64 " %" SCNu64, &a.k, &a.begin, &a.ack) != 3)
                        continue;
                assert_int_equal(GREEDY_REALLOC(acks, allocated, n + 1), 0);
                acks[n++] = a;
        }
        *ret = acks;
        return n;
}

/*
 * Copies the snapshot's data directory to a fresh place, puts the label set in, starts a
 * server on it and waits until it accepts connections (which it does only once recovery
 * reached a consistent state).
 */
static void restore_and_start(Fixture *f, const char *label_set) {
        _cleanup_free_ char *dir = NULL, *from = NULL, *to = NULL, *log = NULL, *restore_log = NULL;
        char name[64];

        (void) snprintf(name, sizeof(name), "restore-%u", ++f->serial);
        dir = path_join(f->fs.dir, name);
        assert_int_equal(mkdir(dir, 0755), 0);
        from = path_join(f->backup.snapshot_path, "pgdata");
        to = path_join(dir, "pgdata");
        restore_log = path_join(f->fs.dir, "restore.log");
        assert_ok(run_logged((char *const[]) { (char *) "/bin/cp", (char *) "-a", from, to, NULL }, restore_log));

        assert_ok(run_logged((char *const[]) { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--restore-label",
                                               (char *) label_set, (char *) "--datadir", to, NULL },
                             restore_log));
        assert_int_equal(log_count(restore_log, "backup_label written"), 1);

        (void) snprintf(name, sizeof(name), "restored-%u.log", f->serial);
        log = path_join(f->fs.dir, name);
        assert_ok(pg_cluster_describe(to, f->sock, RESTORED_PORT, log, &f->restored));
        assert_ok(pg_cluster_start(&f->restored));
}

static void check_restored(Fixture *f, const char *acks_path, uint64_t t_freeze, uint64_t t_stop, size_t min_before) {
        _cleanup_free_ char *amcheck = pg_program("pg_amcheck"), *amcheck_log = path_join(f->fs.dir, "amcheck.log");
        _cleanup_free_ char *port = NULL, *balanced = NULL;
        _cleanup_free_ Ack *acks = NULL;
        const char *c = f->restored.conninfo;
        long long present, max_k, history;
        size_t n, before_freeze = 0, after_stop = 0;

        /* PostgreSQL's own consistency check of every table and index. */
        assert_non_null(amcheck);
        assert_int_not_equal(asprintf(&port, "%u", RESTORED_PORT), -1);
        assert_ok(run_logged((char *const[]) { amcheck, (char *) "-h", f->sock, (char *) "-p", port, (char *) "-U",
                                               (char *) "postgres", (char *) "--install-missing",
                                               (char *) "--heapallindexed", (char *) "postgres", NULL },
                             amcheck_log));

        /* pgbench's transactions move money: every table's sum moves by the same deltas. */
        assert_ok(pg_sql(c,
                         "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches) "
                         "AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers) "
                         "AND (SELECT sum(tbalance) FROM pgbench_tellers) = "
                         "(SELECT coalesce(sum(delta), 0) FROM pgbench_history)",
                         &balanced));
        assert_string_equal(balanced, "t");
        history = sql_i64(c, "SELECT count(*) FROM pgbench_history");
        assert_true(history > 0);

        /* The witness: a gapless prefix 1..max_k of its transactions. */
        present = sql_i64(c, "SELECT count(*) FROM acks_t");
        max_k = sql_i64(c, "SELECT coalesce(max(k), 0) FROM acks_t");
        assert_int_equal(present, max_k);
        assert_int_equal(sql_i64(c, "SELECT count(*) FROM acks_t WHERE payload <> k * 7"), 0);

        n = acks_read(acks_path, &acks);
        for (size_t i = 0; i < n; i++) {
                const Ack *a = &acks[i];

                /* Acknowledged before Freeze: durable before the snapshot, so restored. */
                if (a->ack < t_freeze && a->k > max_k) {
                        print_error("txn %" PRId64 " acknowledged before the freeze marker (%" PRIu64 " < %" PRIu64
                                    ") is missing from the restore (max %lld)\n",
                                    a->k, a->ack, t_freeze, max_k);
                        fail();
                }
                /* Sent after the backup's end: recovery stops at the end of the WAL we kept. */
                if (a->begin > t_stop && a->k <= max_k) {
                        print_error("txn %" PRId64 " sent after the backup ended (%" PRIu64 " > %" PRIu64
                                    ") is in the restore (max %lld)\n",
                                    a->k, a->begin, t_stop, max_k);
                        fail();
                }
                before_freeze += a->ack < t_freeze;
                after_stop += a->begin > t_stop;
        }
        assert_true(before_freeze >= min_before);
        assert_true((long long) before_freeze <= max_k);
        print_message("restore holds witness txns 1..%lld (%zu acknowledged before Freeze, %zu sent after the "
                      "backup's end), %lld pgbench txns\n",
                      max_k, before_freeze, after_stop, history);
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void test_backup_under_load_restores(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *acks_path = path_join(f->fs.dir, "acks.txt"), *pgbench = pg_program("pgbench");
        _cleanup_free_ char *bench_log = path_join(f->fs.dir, "pgbench.log"), *label_set = NULL, *label = NULL;
        _cleanup_free_ char *label_file = NULL, *want = NULL;
        char set[VSS_ID_STRING_MAX], line[64];
        uint64_t t_freeze, t_thaw, t_stop;
        vss_writer_state ws;
        vss_hr failure;
        int out = -EBADF;

        assert_non_null(pgbench);
        assert_ok(spawn_logged((char *const[]) { pgbench, (char *) "-c", (char *) "4", (char *) "-j", (char *) "2",
                                                 (char *) "-T", (char *) "120", (char *) "-n", f->pg.conninfo, NULL },
                               bench_log, &f->pgbench));
        assert_non_null(getenv("PG_LOAD"));
        assert_ok(process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", f->pg.conninfo,
                                                  (char *) "--acks", acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");

        start_pg_writer(f, "--lock-timeout", "5000", "--freeze-timeout", "20000", NULL);
        /* Enough history before the backup that a wrong commit point cannot hide. */
        assert_ok(log_wait(acks_path, " ", 200, WH_WAIT_MS));

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 2);
        assert_string_equal(f->backup.components[0].name, "data");
        assert_string_equal(f->backup.components[1].name, "wal");
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);

        t_freeze = writer_log_number(f, "freeze: backup active", "(monotonic ");
        t_thaw = writer_log_number(f, "thaw: freeze window", "(monotonic ");
        t_stop = writer_log_number(f, "post-snapshot: backup stopped", "(monotonic ");
        assert_true(t_freeze <= t_thaw && t_thaw <= t_stop);

        /* The label set of this snapshot set, with this backup's label. */
        (void) vss_id_format(&f->backup.set_id, set);
        label_set = path_join(f->labels, set);
        label_file = path_join(label_set, "backup_label");
        assert_ok(read_file_full(label_file, &label, NULL));
        assert_int_not_equal(asprintf(&want, "LABEL: vss-linux snapshot set %s\n", set), -1);
        assert_non_null(strstr(label, want));
        assert_non_null(strstr(label, "BACKUP METHOD: streamed"));

        restore_and_start(f, label_set);
        check_restored(f, acks_path, t_freeze, t_stop, 100);
        assert_true(log_count(f->restored.log, "starting backup recovery") >= 1);

        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_STABLE);
        assert_hr(failure, S_OK);

        /* Nothing left on the server: no session, no WAL reservation. */
        (void) wait_count_zero(f, "SELECT count(*) FROM pg_stat_activity WHERE " WRITER_APP);
        (void) wait_count_zero(f, "SELECT count(*) FROM pg_replication_slots");
        print_message("freeze window (Freeze to Thaw) %.3f ms; commits never blocked\n",
                      (double) (t_thaw - t_freeze) / 1e3);
}

/* Waits for an asynchronous requester call; its result. */
static vss_hr async_result(vss_hr hr, vss_async *a) {
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait_result(a);
        vss_async_release(a);
        return hr;
}

/* A whole-writer (not component-mode) backup of two volumes; *ret_second: the second's
 * snapshot id. */
static void prepare_two_volumes(Fixture *f, const char *first, const char *second, vss_id *ret_second) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        WhBackup *b = &f->backup;
        vss_async *a = NULL;
        vss_hr hr;

        opts.socket_path = f->vssd.socket;
        assert_hr(vss_requester_new(&b->r, &opts), S_OK);
        assert_hr(vss_requester_initialize_for_backup(b->r, NULL), S_OK);
        assert_hr(vss_requester_set_context(b->r, VSS_CTX_BACKUP), S_OK);
        assert_hr(vss_requester_set_backup_state(b->r, false, false, VSS_BT_FULL, false), S_OK);
        hr = vss_requester_gather_writer_metadata(b->r, &a);
        assert_hr(async_result(hr, a), S_OK);
        assert_hr(vss_requester_start_snapshot_set(b->r, &b->set_id), S_OK);
        assert_hr(vss_requester_add_to_snapshot_set(b->r, first, NULL, &b->snapshot_id), S_OK);
        assert_hr(vss_requester_add_to_snapshot_set(b->r, second, NULL, ret_second), S_OK);
        a = NULL;
        hr = vss_requester_prepare_for_backup(b->r, &a);
        assert_hr(async_result(hr, a), S_OK);
}

static void copy_tree(Fixture *f, const char *from, const char *to) {
        _cleanup_free_ char *log = path_join(f->fs.dir, "restore.log");

        assert_ok(run_logged((char *const[]) { (char *) "/bin/cp", (char *) "-a", (char *) from, (char *) to, NULL },
                             log));
}

static void test_data_and_wal_on_two_volumes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *walvol = path_join(f->fs.mnt, "walvol"), *data = path_join(f->subvol, "pgdata2");
        _cleanup_free_ char *waldir = path_join(walvol, "pgwal2"), *log = path_join(f->fs.dir, "postgres2.log");
        _cleanup_free_ char *waldir_opt = NULL, *acks_path = path_join(f->fs.dir, "acks2.txt");
        _cleanup_free_ char *restore = path_join(f->fs.dir, "restore-two"), *r_data = NULL, *r_wal = NULL;
        _cleanup_free_ char *r_link = NULL, *from = NULL, *label_set = NULL, *identify = NULL, *restore_log = NULL;
        _cleanup_free_ char *pgbench = pg_program("pgbench"), *initdb = pg_program("initdb"), *conf = NULL;
        PgCluster *two = &f->second;
        vss_snapshot_prop prop = {};
        char set[VSS_ID_STRING_MAX], line[64];
        uint64_t t_freeze, t_stop;
        vss_id second;
        int out = -EBADF;
        FILE *cf;

        /* A second cluster whose WAL lives on a second volume (initdb --waldir). */
        assert_int_equal(btrfs_util_create_subvolume(walvol, 0, NULL, NULL), BTRFS_UTIL_OK);
        assert_int_equal(chmod(walvol, 0755), 0);
        assert_int_equal(mkdir(data, 0700), 0);
        assert_int_equal(mkdir(waldir, 0700), 0);
        assert_ok(pg_chown_postgres(data, 0700));
        assert_ok(pg_chown_postgres(waldir, 0700));
        assert_int_not_equal(asprintf(&waldir_opt, "--waldir=%s", waldir), -1);
        assert_non_null(initdb);
        assert_ok(pg_run_as_postgres((char *const[]) { initdb, (char *) "-D", data, waldir_opt, (char *) "-U",
                                                       (char *) "postgres", (char *) "--auth=trust",
                                                       (char *) "--locale=C", (char *) "--no-sync", NULL },
                                     log));
        assert_int_not_equal(asprintf(&conf, "%s/postgresql.conf", data), -1);
        cf = fopen(conf, "ae");
        assert_non_null(cf);
        (void) fputs("listen_addresses = ''\nshared_buffers = 32MB\nmax_wal_size = 256MB\n", cf);
        assert_int_equal(fclose(cf), 0);
        assert_ok(pg_cluster_describe(data, f->sock, PG_PORT + 2, log, two));
        assert_ok(pg_cluster_start(two));
        assert_ok(run_logged((char *const[]) { pgbench, (char *) "-i", (char *) "-s", (char *) "1", (char *) "-q",
                                               two->conninfo, NULL },
                             log));

        /* Under load, with the witness. */
        assert_ok(spawn_logged((char *const[]) { pgbench, (char *) "-c", (char *) "2", (char *) "-T", (char *) "120",
                                                 (char *) "-n", two->conninfo, NULL },
                               log, &f->pgbench));
        assert_ok(process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", two->conninfo,
                                                  (char *) "--acks", acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");

        {
                char *argv[] = { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--conninfo", two->conninfo,
                                 (char *) "--label-dir", f->labels, (char *) "--socket", f->vssd.socket, NULL };
                char name[64];

                (void) snprintf(name, sizeof(name), "pg-writer-%u.log", ++f->serial);
                free(f->writer_log);
                f->writer_log = path_join(f->fs.dir, name);
                assert_ok(spawn_logged(argv, f->writer_log, &f->writer));
                assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
        }
        /* The WAL component is the symbolic link's target, on the second volume. */
        identify = log_line(f->writer_log, "cluster: data", 0);
        assert_non_null(identify);
        assert_non_null(strstr(identify, waldir));
        assert_ok(log_wait(acks_path, " ", 100, WH_WAIT_MS));

        prepare_two_volumes(f, f->subvol, walvol, &second);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        assert_hr(vss_requester_get_snapshot_properties(f->backup.r, &second, &prop), S_OK);
        t_freeze = writer_log_number(f, "freeze: backup active", "(monotonic ");
        t_stop = writer_log_number(f, "post-snapshot: backup stopped", "(monotonic ");

        /* Restore both volumes' copies side by side and point pg_wal at the restored WAL. */
        assert_int_equal(mkdir(restore, 0755), 0);
        r_data = path_join(restore, "pgdata");
        r_wal = path_join(restore, "pgwal");
        r_link = path_join(r_data, "pg_wal");
        from = path_join(f->backup.snapshot_path, "pgdata2");
        copy_tree(f, from, r_data);
        free(from);
        from = path_join(prop.snapshot_device_object, "pgwal2");
        copy_tree(f, from, r_wal);
        vss_snapshot_prop_free(&prop);
        assert_int_equal(unlink(r_link), 0);
        assert_int_equal(symlink(r_wal, r_link), 0);

        (void) vss_id_format(&f->backup.set_id, set);
        label_set = path_join(f->labels, set);
        restore_log = path_join(f->fs.dir, "restore.log");
        assert_ok(run_logged((char *const[]) { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--restore-label", label_set,
                                               (char *) "--datadir", r_data, NULL },
                             restore_log));
        assert_ok(pg_cluster_describe(r_data, f->sock, RESTORED_PORT, log, &f->restored));
        assert_ok(pg_cluster_start(&f->restored));
        check_restored(f, acks_path, t_freeze, t_stop, 50);
        assert_hr(wh_backup_complete(&f->backup), S_OK);

        (void) process_stop(f->load, 5000);
        (void) process_stop(f->pgbench, 5000);
        f->load = f->pgbench = 0;
}

static void test_dead_session_vetoes_retryable(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sql = NULL;
        vss_writer_state ws;
        vss_hr failure;
        uint64_t backend;

        start_pg_writer(f, NULL);
        assert_ok(write_file(f->stall_prepare, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "backup started on backend", 1, WH_WAIT_MS));
        backend = writer_log_number(f, "session open on backend", "backend ");

        /* The backup's session dies (an administrator, a restart) before Freeze. */
        assert_int_not_equal(asprintf(&sql, "SELECT pg_terminate_backend(%" PRIu64 ")::int", backend), -1);
        assert_int_equal(sql_i64(f->pg.conninfo, sql), 1);

        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_RETRYABLE);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_int_equal(log_count(f->writer_log, "is gone; vetoing"), 1);
}

static void test_unresponsive_backend_vetoes_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sql = NULL;
        vss_writer_state ws;
        vss_hr failure;
        uint64_t backend;

        start_pg_writer(f, "--lock-timeout", "1000", NULL);
        assert_ok(write_file(f->stall_prepare, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "backup started on backend", 1, WH_WAIT_MS));
        backend = writer_log_number(f, "session open on backend", "backend ");

        /* The backup's backend stops answering; the rest of the server does not. */
        assert_int_equal(kill((pid_t) backend, SIGSTOP), 0);
        f->stopped = (pid_t) backend;
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (1)", NULL));

        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_TIMEOUT);
        assert_int_equal(log_count(f->writer_log, "did not answer within 1000 ms; vetoing"), 1);
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (2)", NULL));

        /* The writer closed the session: once the backend runs again, it is gone, and with
         * it the backup. */
        assert_int_equal(kill((pid_t) backend, SIGCONT), 0);
        f->stopped = 0;
        assert_int_not_equal(asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %" PRIu64, backend), -1);
        (void) wait_count_zero(f, sql);
        (void) wait_count_zero(f, "SELECT count(*) FROM pg_replication_slots");
}

static void test_freeze_timeout_ends_backup(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sql = NULL;
        uint64_t backend;

        start_pg_writer(f, "--lock-timeout", "1000", "--freeze-timeout", "1500", NULL);
        assert_ok(write_file(f->stall_freeze, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "freeze: backup active", 1, WH_WAIT_MS));
        backend = writer_log_number(f, "session open on backend", "backend ");

        /* The other writer keeps freezing past our freeze timeout: the abort ends the
         * backup (its session) while the backup is still running. */
        assert_ok(log_wait(f->writer_log, "abort: nothing held", 1, WH_WAIT_MS));
        assert_int_equal(log_count(f->writer_log, "abort: backup on backend"), 1);
        assert_int_not_equal(asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %" PRIu64, backend), -1);
        (void) wait_count_zero(f, sql);
        (void) wait_count_zero(f, "SELECT count(*) FROM pg_replication_slots");
        assert_int_equal(log_count(f->writer_log, "thaw: "), 0);
        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
}

static void test_writer_killed_mid_freeze(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sql = NULL, *label_file = NULL;
        char set[VSS_ID_STRING_MAX];
        uint64_t backend;
        double gone_ms;
        int status;
        vss_hr hr;

        start_pg_writer(f, NULL);
        assert_ok(write_file(f->stall_freeze, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "freeze: backup active", 1, WH_WAIT_MS));
        backend = writer_log_number(f, "session open on backend", "backend ");

        assert_int_not_equal(asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %" PRIu64, backend), -1);
        assert_int_equal(sql_i64(f->pg.conninfo, sql), 1);
        assert_int_equal(sql_i64(f->pg.conninfo, "SELECT count(*) FROM pg_replication_slots WHERE temporary"), 1);

        status = process_kill_wait(f->writer, SIGKILL);
        f->writer = 0;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* The session died with the process: the server ended the backup and dropped the
         * reservation on its own. */
        gone_ms = wait_count_zero(f, sql);
        (void) wait_count_zero(f, "SELECT count(*) FROM pg_replication_slots");
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (3)", NULL));
        print_message("backend of the killed writer gone %.1f ms after its death\n", gone_ms);

        (void) unlink(f->stall_freeze);
        hr = wh_backup_snapshot_finish(&f->backup);
        print_message("backup with the writer killed mid-freeze: %s\n", vss_hr_name(hr));
        wh_backup_release(&f->backup);

        /* A new writer: the next backup succeeds and leaves its label set. */
        start_pg_writer(f, NULL);
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_only, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
        (void) vss_id_format(&f->backup.set_id, set);
        assert_int_not_equal(asprintf(&label_file, "%s/%s/backup_label", f->labels, set), -1);
        assert_int_equal(access(label_file, R_OK), 0);
}

static void test_hung_server_retryable(void **state) {
        Fixture *f = *state;
        vss_writer_state ws;
        vss_hr failure;

        start_pg_writer(f, "--connect-timeout", "1000", NULL);
        assert_ok(log_wait(f->writer_log, "cluster: data", 1, WH_WAIT_MS));

        /* The postmaster stops: connections are accepted by the kernel and never answered. */
        assert_int_equal(kill(f->pg.pid, SIGSTOP), 0);
        f->stopped = f->pg.pid;

        /* Identify answers (from the layout seen at start), PrepareForBackup fails retryably. */
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 2);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_PREPARE_BACKUP);
        assert_hr(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_true(log_count(f->writer_log, "identify: server not reachable") >= 1);
        assert_int_equal(log_count(f->writer_log, "prepare-backup: the server is not available"), 1);

        assert_int_equal(kill(f->pg.pid, SIGCONT), 0);
        f->stopped = 0;
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (4)", NULL));
}

/* A restore requester from the saved document xml into f->backup.r, metadata gathered. */
static void restore_begin(Fixture *f, const char *xml) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_async *a = NULL;
        vss_hr hr;

        opts.socket_path = f->vssd.socket;
        assert_hr(vss_requester_new(&f->backup.r, &opts), S_OK);
        assert_hr(vss_requester_initialize_for_restore(f->backup.r, xml), S_OK);
        assert_hr(vss_requester_set_restore_state(f->backup.r, VSS_RTYPE_BY_COPY), S_OK);
        hr = vss_requester_gather_writer_metadata(f->backup.r, &a);
        assert_hr(async_result(hr, a), S_OK);
}

/* PreRestore, SetFileRestoreStatus(ALL) for the data component, PostRestore. */
static void restore_finish(Fixture *f, const vss_id *class_id) {
        vss_async *a = NULL;
        vss_hr hr;

        hr = vss_requester_pre_restore(f->backup.r, &a);
        assert_hr(async_result(hr, a), S_OK);
        assert_hr(vss_requester_set_file_restore_status(f->backup.r, NULL, class_id, VSS_CT_FILEGROUP, "", "data",
                                                        VSS_RS_ALL),
                  S_OK);
        a = NULL;
        hr = vss_requester_post_restore(f->backup.r, &a);
        assert_hr(async_result(hr, a), S_OK);
}

/*
 * The whole round trip through the API, no manual step: the label travels in the backup
 * components document; a restore requester selects the data component, retargets it to a
 * fresh directory holding the snapshot's copy, and the writer's PostRestore prepares it, so
 * the server started on it recovers. A restore onto the running cluster's own directory is
 * refused, leaving that cluster untouched.
 */
static void test_post_restore_recovers_from_document(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *acks_path = path_join(f->fs.dir, "acks3.txt"), *pgbench = pg_program("pgbench");
        _cleanup_free_ char *bench_log = path_join(f->fs.dir, "pgbench3.log"), *xml = NULL, *data_dir = NULL;
        _cleanup_free_ char *dir = path_join(f->fs.dir, "restore-bcd"), *to = NULL, *from = NULL, *log = NULL;
        _cleanup_free_ char *want = NULL, *done = NULL;
        char set[VSS_ID_STRING_MAX], line[64];
        uint64_t t_freeze, t_stop;
        vss_writer_state ws;
        vss_hr failure;
        vss_id class_id;
        int out = -EBADF;

        assert_hr(vss_id_parse(PG_WRITER_CLASS, &class_id), S_OK);
        assert_non_null(pgbench);
        assert_ok(spawn_logged((char *const[]) { pgbench, (char *) "-c", (char *) "2", (char *) "-T", (char *) "120",
                                                 (char *) "-n", f->pg.conninfo, NULL },
                               bench_log, &f->pgbench));
        assert_ok(process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", f->pg.conninfo,
                                                  (char *) "--acks", acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");
        start_pg_writer(f, NULL);
        assert_ok(log_wait(acks_path, " ", 200, WH_WAIT_MS));
        assert_ok(pg_sql(f->pg.conninfo, "SHOW data_directory", &data_dir));

        /* Back up, copy the snapshot's data directory to a fresh place, save the document. */
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, pg_only, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        t_freeze = writer_log_number(f, "freeze: backup active", "(monotonic ");
        t_stop = writer_log_number(f, "post-snapshot: backup stopped", "(monotonic ");
        assert_int_equal(log_count(f->writer_log, "label stored in the backup components document"), 1);
        assert_int_equal(mkdir(dir, 0755), 0);
        from = path_join(f->backup.snapshot_path, "pgdata");
        to = path_join(dir, "pgdata");
        copy_tree(f, from, to);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_hr(vss_requester_save_as_xml(f->backup.r, &xml), S_OK);
        (void) vss_id_format(&f->backup.set_id, set);
        assert_int_not_equal(asprintf(&want, "LABEL: vss-linux snapshot set %s", set), -1);
        assert_non_null(strstr(xml, "vss-writer-postgresql backup metadata 1"));
        assert_non_null(strstr(xml, want));
        wh_backup_release(&f->backup);

        /* Onto the running cluster's own directory (no new target): refused, nothing touched. */
        restore_begin(f, xml);
        assert_hr(vss_requester_set_selected_for_restore(f->backup.r, NULL, &class_id, VSS_CT_FILEGROUP, "", "data",
                                                         true),
                  S_OK);
        restore_finish(f, &class_id);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_POST_RESTORE);
        assert_hr(failure, VSS_E_WRITERERROR_NONRETRYABLE);
        assert_int_equal(log_count(f->writer_log, "a PostgreSQL server is running on the restored data directory"), 1);
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (5)", NULL));
        wh_backup_release(&f->backup);

        /* Into the fresh copy, through AddNewTarget. */
        restore_begin(f, xml);
        assert_hr(vss_requester_set_selected_for_restore(f->backup.r, NULL, &class_id, VSS_CT_FILEGROUP, "", "data",
                                                         true),
                  S_OK);
        assert_hr(vss_requester_add_new_target(f->backup.r, NULL, &class_id, VSS_CT_FILEGROUP, "", "data", data_dir,
                                               "*", true, to),
                  S_OK);
        restore_finish(f, &class_id);
        assert_hr(wh_backup_writer_status(&f->backup, PG_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_STABLE);
        assert_hr(failure, S_OK);
        assert_int_not_equal(asprintf(&done, "post-restore: %s will recover", to), -1);
        assert_int_equal(log_count(f->writer_log, done), 1);
        wh_backup_release(&f->backup);

        /* No manual step: the server recovers from what PostRestore wrote. */
        log = path_join(f->fs.dir, "restored-bcd.log");
        assert_ok(pg_cluster_describe(to, f->sock, RESTORED_PORT, log, &f->restored));
        assert_ok(pg_cluster_start(&f->restored));
        check_restored(f, acks_path, t_freeze, t_stop, 100);
        assert_true(log_count(f->restored.log, "starting backup recovery") >= 1);

        (void) process_stop(f->load, 5000);
        (void) process_stop(f->pgbench, 5000);
        f->load = f->pgbench = 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_backup_under_load_restores, test_teardown),
                cmocka_unit_test_teardown(test_data_and_wal_on_two_volumes, test_teardown),
                cmocka_unit_test_teardown(test_dead_session_vetoes_retryable, test_teardown),
                cmocka_unit_test_teardown(test_unresponsive_backend_vetoes_timeout, test_teardown),
                cmocka_unit_test_teardown(test_freeze_timeout_ends_backup, test_teardown),
                cmocka_unit_test_teardown(test_writer_killed_mid_freeze, test_teardown),
                cmocka_unit_test_teardown(test_hung_server_retryable, test_teardown),
                cmocka_unit_test_teardown(test_post_restore_recovers_from_document, test_teardown),
        };
        _cleanup_free_ char *initdb = NULL;

        if (geteuid() != 0) {
                fprintf(stderr, "test-writer-postgresql needs root (loop devices, mount); skipping\n");
                return 77;
        }
        initdb = pg_program("initdb");
        if (!initdb) {
                fprintf(stderr, "PostgreSQL's server programs are not installed (PG_BINDIR); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

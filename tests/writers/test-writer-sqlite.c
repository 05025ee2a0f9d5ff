/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-sqlite: vss-writer-sqlite against real SQLite databases on a loop-mounted
 * btrfs subvolume, snapshotted by the real btrfs provider through a private vssd.
 *
 * What it proves:
 *   - Under continuous write load (sqlite-load, a separate process), in WAL and in
 *     rollback-journal mode, the snapshot's copy of the database passes
 *     PRAGMA integrity_check, holds whole transactions 1..N, and N is exactly the commit
 *     point the writer's lock defined. The writer logs when it took the lock (t_locked) and
 *     when it let go (t_released), on CLOCK_MONOTONIC; the load logs for each transaction k
 *     when it began and when COMMIT returned (begin_k, ack_k). Since nobody commits while
 *     the writer holds the lock, every k acknowledged before t_released (a fortiori before
 *     Freeze) is in the snapshot, and every k that began after t_locked is not. The load
 *     goes on committing after Thaw.
 *   - A long transaction holding the write lock: Freeze gives up after --lock-timeout, the
 *     backup fails with the writer's VSS_E_WRITERERROR_TIMEOUT, and the writer holds nothing
 *     afterwards (the application commits at once, with no busy wait).
 *   - The writer's freeze timeout passing while another writer still freezes: the lock is
 *     released by the abort, while the backup is still running.
 *   - The writer SIGKILLed while holding the lock: another connection commits at once (no
 *     busy wait); a new writer's next backup succeeds and holds that commit.
 *   - A database that does not open: Identify still describes it, PrepareForBackup fails
 *     with VSS_E_WRITERERROR_RETRYABLE.
 *
 * A second writer, vss-writer-script at the system level with a hook that sleeps on freeze
 * while a flag file exists, keeps the snapshot set frozen long enough to act in between.
 *
 * Needs root (loop devices, mount): exits 77 otherwise. VSSD, VSS_WRITER_SQLITE,
 * VSS_WRITER_SCRIPT and SQLITE_LOAD name the programs (meson sets them).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
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
#include "root-harness.h"
#include "writers-harness.h"

#define IMAGE_SIZE (UINT64_C(1) << 30)
#define ROWS_PER_TXN 3
#define STALL_SECONDS "4"

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;       /* <mnt>/vol: the volume */
        char *data;         /* <mnt>/vol/data: the databases */
        char *hooks;        /* <dir>/hooks: the stalling script writer's hooks (not on the volume) */
        char *stall_flag;   /* <dir>/stall: while it exists, the hook sleeps on freeze */
        Vssd vssd;
        pid_t script_writer;
        /* The current test's */
        pid_t writer;
        char *writer_log;
        pid_t load;
        WhBackup backup;
        sqlite3 *conn;
        unsigned serial;
} Fixture;

static const char *const sqlite_only[] = { SQLITE_WRITER_CLASS };
static const char *const sqlite_and_stall[] = { SQLITE_WRITER_CLASS, SCRIPT_WRITER_CLASS };

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

#define assert_sql(db, sql)                                                                         \
        do {                                                                                        \
                char *_err = NULL;                                                                  \
                if (sqlite3_exec((db), (sql), NULL, NULL, &_err) != SQLITE_OK) {                   \
                        print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, (sql), _err);            \
                        sqlite3_free(_err);                                                         \
                        fail();                                                                     \
                }                                                                                   \
        } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int start_script_writer(Fixture *f) {
        _cleanup_free_ char *hook = path_join(f->hooks, "10-stall"), *text = NULL, *log = NULL;
        char *argv[16];
        size_t n = 0;

        if (asprintf(&text,
                     "#!/bin/sh\n"
                     "case \"$1\" in\n"
                     "freeze) if [ -e '%s' ]; then echo stalling; sleep " STALL_SECONDS "; fi ;;\n"
                     "esac\n",
                     f->stall_flag) < 0 ||
            write_file(hook, text, 0755) < 0)
                return -EIO;

        log = path_join(f->fs.dir, "script-writer.log");
        argv[n++] = getenv("VSS_WRITER_SCRIPT");
        argv[n++] = (char *) "--dir";
        argv[n++] = f->hooks;
        argv[n++] = (char *) "--socket";
        argv[n++] = f->vssd.socket;
        argv[n++] = (char *) "--level";
        argv[n++] = (char *) "system";
        argv[n++] = (char *) "--timeout";
        argv[n++] = (char *) "15000";
        argv[n++] = (char *) "--freeze-timeout";
        argv[n++] = (char *) "30000";
        argv[n] = NULL;
        if (!argv[0] || spawn_logged(argv, log, &f->script_writer) < 0)
                return -EINVAL;
        return log_wait(log, "subscribed", 1, WH_WAIT_MS);
}

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        if (f->script_writer > 0)
                (void) process_stop(f->script_writer, 10000);
        vssd_stop(&f->vssd);
        if (getenv("VSS_TEST_KEEP")) {
                fprintf(stderr, "keeping %s (mounted)\n", f->fs.dir);
                (void) umount2(f->fs.mnt, MNT_DETACH);
        } else
                (void) loop_btrfs_teardown(&f->fs);
        free(f->subvol);
        free(f->data);
        free(f->hooks);
        free(f->stall_flag);
        free(f);
        *state = NULL;
        return 0;
}

static int group_setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;

        r = loop_btrfs_setup("/var/tmp/vss-writer-sqlite-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->subvol = path_join(f->fs.mnt, "vol");
        f->data = path_join(f->subvol, "data");
        f->hooks = path_join(f->fs.dir, "hooks");
        f->stall_flag = path_join(f->fs.dir, "stall");
        if (btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || mkdir(f->data, 0755) < 0 ||
            mkdir(f->hooks, 0755) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
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

        (void) unlink(f->stall_flag);
        wh_backup_release(&f->backup);
        if (f->conn)
                (void) sqlite3_close_v2(f->conn);
        f->conn = NULL;
        if (f->load > 0)
                (void) process_stop(f->load, 5000);
        f->load = 0;
        if (f->writer > 0)
                (void) process_stop(f->writer, 5000);
        f->writer = 0;
        free(f->writer_log);
        f->writer_log = NULL;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Starts vss-writer-sqlite on db with extra options (NULL-terminated), waits until subscribed. */
static void start_sqlite_writer(Fixture *f, const char *db, ...) {
        char *argv[24], name[64];
        const char *extra;
        size_t n = 0;
        va_list ap;

        (void) snprintf(name, sizeof(name), "sqlite-writer-%u.log", ++f->serial);
        f->writer_log = path_join(f->fs.dir, name);
        argv[n++] = getenv("VSS_WRITER_SQLITE");
        argv[n++] = (char *) "--db";
        argv[n++] = (char *) db;
        argv[n++] = (char *) "--socket";
        argv[n++] = f->vssd.socket;
        va_start(ap, db);
        while ((extra = va_arg(ap, const char *)) && n < ELEMENTSOF(argv) - 1)
                argv[n++] = (char *) extra;
        va_end(ap);
        argv[n] = NULL;

        assert_non_null(argv[0]);
        assert_ok(spawn_logged(argv, f->writer_log, &f->writer));
        assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
}

static void start_load(Fixture *f, const char *db, const char *acks, const char *journal) {
        char line[64];
        int out = -EBADF;

        assert_non_null(getenv("SQLITE_LOAD"));
        assert_ok(process_spawn((char *const[]) { getenv("SQLITE_LOAD"), (char *) "--db", (char *) db,
                                                  (char *) "--acks", (char *) acks, (char *) "--journal",
                                                  (char *) journal, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");
}

/* ------------------------------------------------------------------------------------------ */
/* Databases                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static sqlite3 *db_open(const char *path, int busy_ms) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        (void) sqlite3_busy_timeout(db, busy_ms);
        return db;
}

/* A small WAL database with the load's table and one transaction (txn 1) in it. */
static void db_create(const char *path) {
        sqlite3 *db = db_open(path, 5000);

        assert_sql(db, "PRAGMA journal_mode=WAL");
        assert_sql(db, "CREATE TABLE t (txn INTEGER NOT NULL, part INTEGER NOT NULL, payload INTEGER NOT NULL, "
                       "PRIMARY KEY (txn, part))");
        assert_sql(db, "INSERT INTO t VALUES (1, 0, 1000), (1, 1, 1001), (1, 2, 1002)");
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* One transaction k with a connection that must not wait: 0, or the SQLite error. */
static int db_commit_now(sqlite3 *db, int64_t k) {
        char sql[160];
        int rc;

        (void) sqlite3_busy_timeout(db, 0);
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return rc;
        (void) snprintf(sql, sizeof(sql),
                        "INSERT INTO t VALUES (%" PRId64 ", 0, 0), (%" PRId64 ", 1, 0), (%" PRId64 ", 2, 0)", k, k, k);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
}

static void copy_file(const char *from, const char *to) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        FILE *f;

        assert_int_equal(read_file_full(from, &data, &size), 0);
        f = fopen(to, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

/*
 * Restores name (and its -wal/-journal, as the writer's metadata declares) from the snapshot
 * into a fresh directory off the volume, opens it, and checks it: integrity_check is "ok",
 * and the table holds whole transactions 1..N, ROWS_PER_TXN rows each. Returns N.
 */
static int64_t check_snapshot_copy(Fixture *f, const char *name) {
        static const char *const suffixes[] = { "", "-wal", "-journal" };
        _cleanup_free_ char *dir = NULL, *db_path = NULL;
        sqlite3_stmt *st = NULL;
        sqlite3 *db;
        int64_t expect = 1;
        char tmpl[64];

        (void) snprintf(tmpl, sizeof(tmpl), "restore-%u-XXXXXX", ++f->serial);
        dir = path_join(f->fs.dir, tmpl);
        assert_non_null(mkdtemp(dir));

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *file = NULL, *from = NULL, *to = NULL;
                struct stat sb;

                assert_int_not_equal(asprintf(&file, "data/%s%s", name, suffixes[i]), -1);
                from = path_join(f->backup.snapshot_path, file);
                to = path_join(dir, file + strlen("data/"));
                if (i > 0 && stat(from, &sb) < 0)
                        continue;
                copy_file(from, to);
        }

        db_path = path_join(dir, name);
        db = db_open(db_path, 0);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT txn, count(*) FROM t GROUP BY txn ORDER BY txn", -1, &st,
                                            NULL),
                         SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                /* Every transaction whole, and no gap: a committed prefix of the history. */
                assert_int_equal(sqlite3_column_int64(st, 0), expect);
                assert_int_equal(sqlite3_column_int(st, 1), ROWS_PER_TXN);
                expect++;
        }
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return expect - 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Acknowledgements and the writer's markers                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct Ack {
        int64_t k;
        uint64_t begin;
        uint64_t ack;
} Ack;

static size_t acks_read(const char *path, Ack **ret) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0, allocated = 0;
        Ack *acks = NULL;
        char *p, *nl;

        assert_int_equal(read_file_full(path, &text, NULL), 0);
        for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
                Ack a;

                *nl = '\0';
                assert_int_equal(sscanf(p, "%" SCNd64 " %" SCNu64 " %" SCNu64, &a.k, &a.begin, &a.ack), 3);
                assert_int_equal(GREEDY_REALLOC(acks, allocated, n + 1), 0);
                acks[n++] = a;
        }
        *ret = acks;
        return n;
}

/* The monotonic time in the index-th writer log line containing needle. */
static uint64_t marker_time(const Fixture *f, const char *needle, unsigned index) {
        _cleanup_free_ char *line = log_line(f->writer_log, needle, index);
        uint64_t t = 0;

        assert_non_null(line);
        assert_int_equal(line_u64_after(line, "(monotonic ", &t), 0);
        return t;
}

/* Waits until the load acknowledged a commit after t (it runs on after Thaw). */
static bool load_committed_after(const char *acks_path, uint64_t t) {
        uint64_t deadline = now_usec() + WH_WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                _cleanup_free_ Ack *acks = NULL;
                size_t n = acks_read(acks_path, &acks);

                if (n > 0 && acks[n - 1].ack > t)
                        return true;
                (void) usleep(10000);
        }
        return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void consistency_under_load(Fixture *f, const char *journal) {
        _cleanup_free_ char *name = NULL, *db = NULL, *acks_path = NULL, *acks_name = NULL;
        _cleanup_free_ Ack *acks = NULL;
        uint64_t t_locked, t_released;
        size_t n, before_freeze = 0, after_thaw = 0;
        vss_writer_state ws;
        vss_hr failure;
        int64_t snap_n;

        assert_int_not_equal(asprintf(&name, "load-%s.db", journal), -1);
        assert_int_not_equal(asprintf(&acks_name, "acks-%s.txt", journal), -1);
        db = path_join(f->data, name);
        acks_path = path_join(f->fs.dir, acks_name);

        start_load(f, db, acks_path, journal);
        start_sqlite_writer(f, db, "--lock-timeout", "5000", "--freeze-timeout", "20000", NULL);
        /* Enough history before the backup that a wrong commit point cannot hide. */
        assert_ok(log_wait(acks_path, " ", 100, WH_WAIT_MS));

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 1);
        assert_string_equal(f->backup.components[0].name, db);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);

        t_locked = marker_time(f, "lock held", 0);
        t_released = marker_time(f, "lock released", 0);
        assert_true(t_locked <= t_released);
        assert_int_equal(log_count(f->writer_log, "thaw: "), 1);

        snap_n = check_snapshot_copy(f, name);
        assert_true(snap_n >= 1);

        assert_true(load_committed_after(acks_path, t_released));
        n = acks_read(acks_path, &acks);
        for (size_t i = 0; i < n; i++) {
                const Ack *a = &acks[i];

                /* Committed before the lock was released means committed before it was
                 * taken (nobody commits in between): in the snapshot. */
                if (a->ack < t_released && a->k > snap_n) {
                        print_error("txn %" PRId64 " acknowledged before the lock was released (ack %" PRIu64
                                    " < %" PRIu64 ") but missing from the snapshot (N=%" PRId64 ")\n",
                                    a->k, a->ack, t_released, snap_n);
                        fail();
                }
                /* Begun after the lock was taken: committed after Thaw, not in the snapshot. */
                if (a->begin > t_locked && a->k <= snap_n) {
                        print_error("txn %" PRId64 " began after the freeze point (%" PRIu64 " > %" PRIu64
                                    ") but is in the snapshot (N=%" PRId64 ")\n",
                                    a->k, a->begin, t_locked, snap_n);
                        fail();
                }
                before_freeze += a->ack < t_locked;
                after_thaw += a->ack > t_released;
        }
        /* Each acknowledged-before-Freeze transaction is there; the load went on after Thaw. */
        assert_true(before_freeze >= 100);
        assert_true((int64_t) before_freeze <= snap_n);
        assert_true(after_thaw >= 1);

        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_hr(wh_backup_writer_status(&f->backup, SQLITE_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_STABLE);
        assert_hr(failure, S_OK);
        print_message("%s: snapshot holds txns 1..%" PRId64 ", lock held %.3f ms\n", journal, snap_n,
                      (double) (t_released - t_locked) / 1e3);
}

static void test_wal_under_load(void **state) {
        consistency_under_load(*state, "wal");
}

static void test_rollback_journal_under_load(void **state) {
        consistency_under_load(*state, "delete");
}

static void test_long_transaction_vetoes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *db = path_join(f->data, "long.db");
        _cleanup_free_ char *veto_line = NULL;
        vss_writer_state ws;
        vss_hr failure;
        sqlite3 *other;

        db_create(db);
        start_sqlite_writer(f, db, "--lock-timeout", "1000", "--freeze-timeout", "20000", NULL);

        /* The application is in the middle of a long write transaction. */
        f->conn = db_open(db, 0);
        assert_sql(f->conn, "BEGIN IMMEDIATE");
        assert_sql(f->conn, "INSERT INTO t VALUES (2, 0, 0), (2, 1, 0), (2, 2, 0)");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_only, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
        assert_hr(wh_backup_writer_status(&f->backup, SQLITE_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_TIMEOUT);
        veto_line = log_line(f->writer_log, "could not take the lock within 1000 ms", 0);
        assert_non_null(veto_line);
        assert_int_equal(log_count(f->writer_log, "lock held"), 0);

        /* The writer holds nothing: the long transaction commits without waiting, and so
         * does the next one from another connection. */
        assert_sql(f->conn, "COMMIT");
        other = db_open(db, 0);
        assert_int_equal(db_commit_now(other, 3), SQLITE_OK);
        assert_int_equal(sqlite3_close(other), SQLITE_OK);
}

static void test_freeze_timeout_releases(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *db = path_join(f->data, "timeout.db"), *released = NULL;

        db_create(db);
        start_sqlite_writer(f, db, "--lock-timeout", "1000", "--freeze-timeout", "1500", NULL);
        assert_ok(write_file(f->stall_flag, "", 0644));

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_and_stall, 2), S_OK);
        assert_int_equal(f->backup.n_components, 2);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "lock held", 1, WH_WAIT_MS));

        /* The other writer keeps freezing well past our freeze timeout: the abort (vssd's
         * window, or libvss's own guard, whichever comes first) releases the lock. */
        assert_ok(log_wait(f->writer_log, "abort: nothing held", 1, WH_WAIT_MS));
        released = log_line(f->writer_log, "lock released", 0);
        assert_non_null(released);
        assert_non_null(strstr(released, "abort: "));
        assert_int_equal(log_count(f->writer_log, "thaw: "), 0);
        f->conn = db_open(db, 0);
        assert_int_equal(db_commit_now(f->conn, 2), SQLITE_OK);

        /* vssd closed the window at the smallest freeze timeout, ours. */
        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
}

static void test_writer_killed_while_frozen(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *db = path_join(f->data, "killed.db");
        int status;
        vss_hr hr;

        db_create(db);
        start_sqlite_writer(f, db, "--lock-timeout", "5000", "--freeze-timeout", "20000", NULL);
        assert_ok(write_file(f->stall_flag, "", 0644));

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "lock held", 1, WH_WAIT_MS));

        /* Frozen for real: the application cannot commit now. */
        f->conn = db_open(db, 0);
        assert_int_equal(db_commit_now(f->conn, 2) & 0xff, SQLITE_BUSY);

        status = process_kill_wait(f->writer, SIGKILL);
        f->writer = 0;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* The kernel dropped the dead writer's locks: the commit goes through without waiting. */
        assert_int_equal(db_commit_now(f->conn, 2), SQLITE_OK);

        (void) unlink(f->stall_flag);
        hr = wh_backup_snapshot_finish(&f->backup);
        print_message("backup with the writer killed mid-freeze: %s\n", vss_hr_name(hr));
        wh_backup_release(&f->backup);
        free(f->writer_log);
        f->writer_log = NULL;

        /* A new writer; the next backup succeeds and holds what was committed. */
        start_sqlite_writer(f, db, "--lock-timeout", "5000", "--freeze-timeout", "20000", NULL);
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_only, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        assert_int_equal(check_snapshot_copy(f, "killed.db"), 2);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
}

static void test_missing_database_retryable(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *db = path_join(f->data, "missing.db");
        vss_writer_state ws;
        vss_hr failure;

        start_sqlite_writer(f, db, NULL);
        /* Identify still describes it; the backup that selects it fails, retryably (vssd
         * reports writer failures at PrepareForBackup through the writer status). */
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, sqlite_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 1);
        assert_string_equal(f->backup.components[0].name, db);
        assert_hr(wh_backup_writer_status(&f->backup, SQLITE_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_PREPARE_BACKUP);
        assert_hr(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_true(log_count(f->writer_log, "identify: ") >= 1);
        assert_int_equal(log_count(f->writer_log, "prepare-backup: "), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_wal_under_load, test_teardown),
                cmocka_unit_test_teardown(test_rollback_journal_under_load, test_teardown),
                cmocka_unit_test_teardown(test_long_transaction_vetoes, test_teardown),
                cmocka_unit_test_teardown(test_freeze_timeout_releases, test_teardown),
                cmocka_unit_test_teardown(test_writer_killed_while_frozen, test_teardown),
                cmocka_unit_test_teardown(test_missing_database_retryable, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-writer-sqlite needs root (loop devices, mount); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup-sqlite: the issue-5 proof for SQLite through the real backup program:
 * vssbackup backs up a loop-mounted btrfs subvolume holding a database under continuous
 * write load while vss-writer-sqlite takes part, vssbackup restores it into a fresh
 * directory, and SQLite opens the restored database with no other step.
 *
 * What it proves:
 *   - Under load (sqlite-load, a separate process that writes down each commit
 *     acknowledgement outside the volume), in WAL and in rollback-journal mode,
 *     `vssbackup backup --type full` exits 0; `vssbackup restore` exits 0; the restored
 *     database passes PRAGMA integrity_check and holds whole transactions 1..N with no gap;
 *     every transaction acknowledged before the writer took its lock (its freeze marker,
 *     "lock held") is there, and none that began after the marker is (its commit waited for
 *     Thaw). Since nobody commits while the writer holds the lock, a transaction
 *     acknowledged before the writer let go is in the restore as well. The load goes on
 *     after Thaw.
 *   - A long write transaction of the application holding SQLite's write lock: the writer
 *     cannot take the lock within its budget (--lock-timeout) and vetoes; `vssbackup backup`
 *     exits non-zero and prints the writer's error (VSS_E_WRITERERROR_TIMEOUT), no backup is
 *     stored, and the application was never locked by the writer: the long transaction
 *     commits, and another connection commits at once without any busy wait.
 *
 * Needs root (loop devices, mount): exits 77 otherwise. VSSD, VSSBACKUP, VSS_WRITER_SQLITE
 * and SQLITE_LOAD name the programs (meson sets them). VSS_TEST_VOLUME, when set, names an
 * existing volume to use instead of the loop-mounted btrfs (the VM lab runs the same proof on
 * a ZFS dataset and on an LVM LV this way; logs and backups then go to a temporary directory
 * in /tmp).
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
#include <unistd.h>

#include <btrfsutil.h>

#include "macro.h"
#include "root-harness.h"
#include "vb-harness.h"
#include "writers-harness.h"

#define IMAGE_SIZE (UINT64_C(1) << 30)
#define ROWS_PER_TXN 3

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;       /* <mnt>/vol: the volume */
        char *data;         /* <mnt>/vol/data: the databases */
        Vssd vssd;
        /* The current test's */
        pid_t writer;
        char *writer_log;
        pid_t load;
        sqlite3 *conn;
        unsigned serial;
} Fixture;

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r < 0) {                                                                      \
                        print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, strerror(-_r)); \
                        fail();                                                                    \
                }                                                                                  \
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

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        vssd_stop(&f->vssd);
        if (getenv("VSS_TEST_KEEP")) {
                fprintf(stderr, "keeping %s (mounted)\n", f->fs.dir);
                (void) umount2(f->fs.mnt, MNT_DETACH);
        } else
                (void) loop_btrfs_teardown(&f->fs);
        free(f->subvol);
        free(f->data);
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

        if (getenv("VSS_TEST_VOLUME")) {
                char tmpl[] = "/tmp/vss-vb-sqlite-XXXXXX";

                if (!mkdtemp(tmpl))
                        goto fail;
                f->fs.dir = strdup(tmpl);
                f->subvol = strdup(getenv("VSS_TEST_VOLUME"));
                if (!f->fs.dir || !f->subvol)
                        goto fail;
        } else {
                r = loop_btrfs_setup("/var/tmp/vss-vb-sqlite-XXXXXX", IMAGE_SIZE, &f->fs);
                if (r < 0) {
                        fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                        goto fail;
                }
                f->subvol = path_join(f->fs.mnt, "vol");
                if (btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                        goto fail;
        }
        f->data = path_join(f->subvol, "data");
        if (mkdir(f->data, 0755) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
                goto fail;
        }
        if (vssd_start(f->fs.dir, false, 20000, &f->vssd) < 0) {
                fprintf(stderr, "cannot start vssd\n");
                goto fail;
        }
        return 0;

fail:
        (void) group_teardown(state);
        return -1;
}

static int test_teardown(void **state) {
        Fixture *f = *state;

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

static void start_sqlite_writer(Fixture *f, const char *db, const char *lock_timeout) {
        char name[64];

        (void) snprintf(name, sizeof(name), "sqlite-writer-%u.log", ++f->serial);
        f->writer_log = path_join(f->fs.dir, name);
        assert_non_null(getenv("VSS_WRITER_SQLITE"));
        assert_ok(spawn_logged((char *const[]) { getenv("VSS_WRITER_SQLITE"), (char *) "--db", (char *) db,
                                                 (char *) "--socket", f->vssd.socket, (char *) "--lock-timeout",
                                                 (char *) lock_timeout, (char *) "--freeze-timeout",
                                                 (char *) "20000", NULL },
                               f->writer_log, &f->writer));
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

/* Runs vssbackup with args; prints its output when the exit status is not the expected one. */
static void vssbackup(Fixture *f, VbRun *ret, const char *const *args) {
        assert_ok(vb_run(f->vssd.socket, f->fs.dir, ++f->serial, args, ret));
        print_message("vssbackup %s: exit %d\n", args[0], ret->exit_status);
}

static void print_run(const VbRun *r) {
        print_error("--- stdout\n%s--- stderr\n%s---\n", r->out, r->err);
}

/* The restore restored every listed file. Files the writer excludes are neither stored nor
 * listed, so a restore does not expect them. */
static void assert_restore_ok(const VbRun *r) {
        if (r->exit_status != 0)
                print_run(r);
        assert_int_equal(r->exit_status, 0);
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

/*
 * Opens the restored database as the application would (nothing done to it before), checks
 * PRAGMA integrity_check and that the table holds whole transactions 1..N. Returns N.
 */
static int64_t check_restored(const char *path) {
        sqlite3_stmt *st = NULL;
        int64_t expect = 1;
        sqlite3 *db;

        db = db_open(path, 0);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT txn, count(*) FROM t GROUP BY txn ORDER BY txn", -1, &st,
                                            NULL),
                         SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                assert_int_equal(sqlite3_column_int64(st, 0), expect);
                assert_int_equal(sqlite3_column_int(st, 1), ROWS_PER_TXN);
                expect++;
        }
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return expect - 1;
}

/* The monotonic time in the first writer log line containing needle. */
static uint64_t marker_time(const Fixture *f, const char *needle) {
        _cleanup_free_ char *line = log_line(f->writer_log, needle, 0);
        uint64_t t = 0;

        if (!line) {
                print_error("no \"%s\" line in %s\n", needle, f->writer_log);
                fail();
        }
        assert_int_equal(line_u64_after(line, "(monotonic ", &t), 0);
        return t;
}

/* Waits until the load acknowledged a commit after t (it runs on after Thaw). */
static bool load_committed_after(const char *acks_path, uint64_t t) {
        uint64_t deadline = now_usec() + WH_WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                _cleanup_free_ VbAck *acks = NULL;
                size_t n = 0;

                if (vb_acks_read(acks_path, &acks, &n) == 0 && n > 0 && acks[n - 1].ack > t)
                        return true;
                (void) usleep(10000);
        }
        return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void backup_restore_under_load(Fixture *f, const char *journal) {
        _cleanup_free_ char *name = NULL, *db = NULL, *acks_path = NULL, *backups = NULL, *target = NULL;
        _cleanup_free_ char *backup = NULL, *restored = NULL, *tmp = NULL;
        _cleanup_free_ VbAck *acks = NULL;
        _cleanup_(vb_run_done) VbRun run = {}, rest = {};
        size_t n = 0, before_freeze = 0, after_thaw = 0;
        uint64_t t_locked, t_released;
        int64_t restored_n;

        assert_int_not_equal(asprintf(&name, "load-%s.db", journal), -1);
        assert_int_not_equal(asprintf(&tmp, "acks-%s.txt", journal), -1);
        db = path_join(f->data, name);
        acks_path = path_join(f->fs.dir, tmp);
        free(tmp);
        assert_int_not_equal(asprintf(&tmp, "backups-%s", journal), -1);
        backups = path_join(f->fs.dir, tmp);
        free(tmp);
        assert_int_not_equal(asprintf(&tmp, "restore-%s", journal), -1);
        target = path_join(f->fs.dir, tmp);

        start_load(f, db, acks_path, journal);
        start_sqlite_writer(f, db, "5000");
        /* Enough history before the backup that a wrong commit point cannot hide. */
        assert_ok(log_wait(acks_path, " ", 100, WH_WAIT_MS));

        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL });
        if (run.exit_status != 0)
                print_run(&run);
        assert_int_equal(run.exit_status, 0);
        assert_ok(vb_run_backup_path(&run, &backup));

        /* The writer froze and thawed once, inside that run. */
        t_locked = marker_time(f, "lock held");
        t_released = marker_time(f, "lock released");
        assert_true(t_locked <= t_released);
        assert_int_equal(log_count(f->writer_log, "thaw: "), 1);

        vssbackup(f, &rest, (const char *const[]) { "restore", backup, "--to", target, NULL });
        if (rest.exit_status != 0)
                print_run(&rest);
        assert_restore_ok(&rest);

        /* The application opens the restored file as it is. */
        restored = path_join(target, "data");
        free(tmp);
        tmp = path_join(restored, name);
        restored_n = check_restored(tmp);
        assert_true(restored_n >= 1);

        assert_true(load_committed_after(acks_path, t_released));
        assert_ok(vb_acks_read(acks_path, &acks, &n));
        for (size_t i = 0; i < n; i++) {
                const VbAck *a = &acks[i];

                if (a->ack < t_released && a->k > restored_n) {
                        print_error("txn %" PRId64 " acknowledged before the lock was released (ack %" PRIu64
                                    " < %" PRIu64 ") is missing from the restore (N=%" PRId64 ")\n",
                                    a->k, a->ack, t_released, restored_n);
                        fail();
                }
                if (a->begin > t_locked && a->k <= restored_n) {
                        print_error("txn %" PRId64 " began after the freeze marker (%" PRIu64 " > %" PRIu64
                                    ") is in the restore (N=%" PRId64 ")\n",
                                    a->k, a->begin, t_locked, restored_n);
                        fail();
                }
                before_freeze += a->ack < t_locked;
                after_thaw += a->ack > t_released;
        }
        assert_true(before_freeze >= 100);
        assert_true((int64_t) before_freeze <= restored_n);
        assert_true(after_thaw >= 1);
        print_message("%s: restore holds txns 1..%" PRId64 " (%zu acknowledged before the freeze marker), lock "
                      "held %.3f ms\n",
                      journal, restored_n, before_freeze, (double) (t_released - t_locked) / 1e3);
}

static void test_wal_under_load(void **state) {
        backup_restore_under_load(*state, "wal");
}

static void test_rollback_journal_under_load(void **state) {
        backup_restore_under_load(*state, "delete");
}

static void test_long_transaction_vetoes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *db = path_join(f->data, "long.db"), *backups = path_join(f->fs.dir, "backups-veto");
        _cleanup_free_ char *veto_line = NULL, *backup = NULL;
        _cleanup_(vb_run_done) VbRun run = {};
        sqlite3 *other;

        other = db_open(db, 5000);
        assert_sql(other, "PRAGMA journal_mode=WAL");
        assert_sql(other, "CREATE TABLE t (txn INTEGER NOT NULL, part INTEGER NOT NULL, payload INTEGER NOT NULL, "
                          "PRIMARY KEY (txn, part))");
        assert_sql(other, "INSERT INTO t VALUES (1, 0, 1000), (1, 1, 1001), (1, 2, 1002)");
        assert_int_equal(sqlite3_close(other), SQLITE_OK);
        start_sqlite_writer(f, db, "1000");

        /* The application is in the middle of a long write transaction. */
        f->conn = db_open(db, 0);
        assert_sql(f->conn, "BEGIN IMMEDIATE");
        assert_sql(f->conn, "INSERT INTO t VALUES (2, 0, 0), (2, 1, 0), (2, 2, 0)");

        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL });
        print_run(&run);
        /* It fails, with the writer's own error, and stores no backup. */
        assert_int_not_equal(run.exit_status, 0);
        assert_non_null(strstr(run.err, "VSS_E_WRITERERROR_TIMEOUT"));
        assert_int_equal(vb_run_backup_path(&run, &backup), -ENOENT);
        veto_line = log_line(f->writer_log, "could not take the lock within 1000 ms", 0);
        assert_non_null(veto_line);
        /* The writer never held the application's lock. */
        assert_int_equal(log_count(f->writer_log, "lock held"), 0);

        /* Nothing is held: the long transaction commits, and another connection commits at
         * once (busy timeout 0: any lock left would fail it with SQLITE_BUSY). */
        assert_sql(f->conn, "COMMIT");
        other = db_open(db, 0);
        assert_int_equal(db_commit_now(other, 3), SQLITE_OK);
        assert_int_equal(sqlite3_close(other), SQLITE_OK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_wal_under_load, test_teardown),
                cmocka_unit_test_teardown(test_rollback_journal_under_load, test_teardown),
                cmocka_unit_test_teardown(test_long_transaction_vetoes, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssbackup-sqlite needs root (loop devices, mount); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

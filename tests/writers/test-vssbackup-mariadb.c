/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup-mariadb: the issue-5 proof for MariaDB through the real backup program:
 * vssbackup backs up a loop-mounted btrfs subvolume holding a running server's data
 * directory under continuous write load while vss-writer-mariadb takes part, vssbackup
 * restores it into a fresh directory, and mariadbd starts on the restored data with no other
 * step (InnoDB's own crash recovery does the rest).
 *
 * What it proves:
 *   - Under load (maria-load, which writes down each commit acknowledgement outside the
 *     volume), `vssbackup backup --type full` exits 0 and `vssbackup restore` exits 0; the
 *     server started on the restore accepts connections, CHECK TABLE ... EXTENDED says OK,
 *     and the witness table holds a gapless prefix 1..N: every transaction acknowledged
 *     before the writer's freeze marker (BLOCK_COMMIT granted) is there, none that was sent
 *     after the marker is (its commit waited for Thaw). The load goes on after Thaw.
 *   - A commit that lingers (binary-log group commit told to wait for more transactions)
 *     holds the commit lock BLOCK_COMMIT needs: the writer vetoes after its lock budget
 *     (--lock-timeout); `vssbackup backup` exits non-zero with the writer's error
 *     (VSS_E_WRITERERROR_TIMEOUT) in its output and stores no backup; nothing stays blocked
 *     past the budget: the writer never blocked commits, and DDL and commits with a 1-second
 *     lock wait go through.
 *
 * Needs root (loop devices, mount): exits 77 otherwise, or when MariaDB is not installed.
 * VSSD, VSSBACKUP, VSS_WRITER_MARIADB, MARIA_LOAD, MARIADBD and MARIADB_INSTALL_DB are set
 * by meson.
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

#include "macro.h"
#include "maria-server.h"
#include "root-harness.h"
#include "vb-harness.h"
#include "writers-harness.h"

#define IMAGE_SIZE (UINT64_C(2) << 30)
/* How long the lingering commit waits in group commit: well past the lock budget. */
#define LINGER_USEC "6000000"

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;        /* <mnt>/vol: the volume */
        char *run;           /* <dir>/run: sockets, pid files, error logs (owned by mysql) */
        char *password_file;
        MariaServer db;
        Vssd vssd;
        /* The current test's */
        pid_t writer;
        char *writer_log;
        pid_t load;
        pid_t lingering;     /* a client whose commit lingers */
        MariaServer restored;
        unsigned serial;
} Fixture;

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r != 0) {                                                                     \
                        print_error("%s:%d: %s: %d (%s)\n", __FILE__, __LINE__, #expr, _r,         \
                                    _r < 0 ? strerror(-_r) : "server error");                      \
                        fail();                                                                    \
                }                                                                                  \
        } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        vssd_stop(&f->vssd);
        maria_server_done(&f->db);
        if (getenv("VSS_TEST_KEEP")) {
                fprintf(stderr, "keeping %s (mounted)\n", f->fs.dir);
                (void) umount2(f->fs.mnt, MNT_DETACH);
        } else
                (void) loop_btrfs_teardown(&f->fs);
        free(f->subvol);
        free(f->run);
        free(f->password_file);
        free(f);
        *state = NULL;
        return 0;
}

static int group_setup(void **state) {
        _cleanup_free_ char *datadir = NULL;
        Fixture *f;
        int r;

        if (isempty(getenv("MARIADBD")) || isempty(getenv("MARIADB_INSTALL_DB"))) {
                fprintf(stderr, "MariaDB is not installed\n");
                return -1;
        }
        f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;

        r = loop_btrfs_setup("/var/tmp/vss-vb-maria-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->subvol = path_join(f->fs.mnt, "vol");
        f->run = path_join(f->fs.dir, "run");
        f->password_file = path_join(f->fs.dir, "password");
        datadir = path_join(f->subvol, "mysql");
        if (chmod(f->fs.dir, 0755) < 0 || chmod(f->fs.mnt, 0755) < 0 ||
            btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || chmod(f->subvol, 0755) < 0 ||
            mkdir(f->run, 0755) < 0 || maria_chown_mysql(f->run, 0755) < 0 ||
            write_file(f->password_file, "x5-secret\n", 0600) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
                goto fail;
        }
        if (maria_server_describe(datadir, f->run, "main", &f->db) < 0 || maria_server_init(&f->db) < 0 ||
            maria_server_start(&f->db) < 0) {
                fprintf(stderr, "cannot start MariaDB\n");
                goto fail;
        }
        /* The writer's own user: BACKUP STAGE needs RELOAD. */
        if (maria_sql(f->db.socket, "CREATE USER 'vss'@'localhost' IDENTIFIED BY 'x5-secret'", NULL) != 0 ||
            maria_sql(f->db.socket, "GRANT RELOAD, SELECT ON *.* TO 'vss'@'localhost'", NULL) != 0 ||
            maria_sql(f->db.socket, "CREATE DATABASE w", NULL) != 0 ||
            maria_sql(f->db.socket, "CREATE TABLE w.probe (x INT) ENGINE=InnoDB", NULL) != 0) {
                fprintf(stderr, "cannot prepare the server\n");
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

        (void) maria_sql(f->db.socket, "SET GLOBAL binlog_commit_wait_count = 0, binlog_commit_wait_usec = 100000",
                         NULL);
        (void) process_stop(f->lingering, 15000);
        (void) process_stop(f->load, 5000);
        (void) process_stop(f->writer, 5000);
        f->lingering = f->load = f->writer = 0;
        maria_server_done(&f->restored);
        free(f->writer_log);
        f->writer_log = NULL;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void start_maria_writer(Fixture *f, const char *lock_timeout) {
        char name[64];

        (void) snprintf(name, sizeof(name), "maria-writer-%u.log", ++f->serial);
        f->writer_log = path_join(f->fs.dir, name);
        assert_non_null(getenv("VSS_WRITER_MARIADB"));
        assert_ok(spawn_logged((char *const[]) { getenv("VSS_WRITER_MARIADB"), (char *) "--socket-path", f->db.socket,
                                                 (char *) "--user", (char *) "vss", (char *) "--password-file",
                                                 f->password_file, (char *) "--socket", f->vssd.socket,
                                                 (char *) "--lock-timeout", (char *) lock_timeout,
                                                 (char *) "--freeze-timeout", (char *) "20000", NULL },
                               f->writer_log, &f->writer));
        assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
}

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

static long long sql_i64(const char *socket, const char *sql) {
        long long v = -1;

        assert_ok(maria_sql_i64(socket, sql, &v));
        return v;
}

static void vssbackup(Fixture *f, VbRun *ret, const char *const *args) {
        assert_ok(vb_run(f->vssd.socket, f->fs.dir, ++f->serial, args, ret));
        print_message("vssbackup %s: exit %d\n", args[0], ret->exit_status);
}

static void print_run(const VbRun *r) {
        print_error("--- stdout\n%s--- stderr\n%s---\n", r->out, r->err);
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void test_backup_under_load_restores(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *acks_path = path_join(f->fs.dir, "acks.txt"), *backups = path_join(f->fs.dir, "backups");
        _cleanup_free_ char *target = path_join(f->fs.dir, "restore"), *backup = NULL, *datadir = NULL;
        _cleanup_(vb_run_done) VbRun run = {}, rest = {};
        _cleanup_free_ VbAck *acks = NULL;
        size_t n = 0, before_freeze = 0, after_thaw = 0;
        uint64_t t_locked, t_released;
        long long present, max_k;
        char line[64];
        int out = -EBADF;

        assert_non_null(getenv("MARIA_LOAD"));
        assert_ok(process_spawn((char *const[]) { getenv("MARIA_LOAD"), (char *) "--socket", f->db.socket,
                                                  (char *) "--acks", acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");
        start_maria_writer(f, "5000");
        assert_ok(log_wait(acks_path, " ", 200, WH_WAIT_MS));

        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL });
        if (run.exit_status != 0)
                print_run(&run);
        assert_int_equal(run.exit_status, 0);
        assert_ok(vb_run_backup_path(&run, &backup));
        t_locked = writer_log_number(f, "freeze: commits blocked", "(monotonic ");
        t_released = writer_log_number(f, "thaw: commits released", "(monotonic ");
        assert_true(t_locked <= t_released);

        vssbackup(f, &rest, (const char *const[]) { "restore", backup, "--to", target, NULL });
        if (rest.exit_status != 0)
                print_run(&rest);
        assert_int_equal(rest.exit_status, 0);

        /* mariadbd on the restored data directory, as it is. */
        datadir = path_join(target, "mysql");
        assert_ok(maria_server_describe(datadir, f->run, "restored", &f->restored));
        assert_ok(maria_server_start(&f->restored));

        /* MariaDB's own check, and the witness: a gapless prefix 1..max_k. */
        assert_ok(maria_check_table(f->restored.socket, "w.acks_t"));
        assert_ok(maria_check_table(f->restored.socket, "w.probe"));
        present = sql_i64(f->restored.socket, "SELECT count(*) FROM w.acks_t");
        max_k = sql_i64(f->restored.socket, "SELECT coalesce(max(k), 0) FROM w.acks_t");
        assert_int_equal(present, max_k);
        assert_int_equal(sql_i64(f->restored.socket, "SELECT count(*) FROM w.acks_t WHERE payload <> k * 7"), 0);

        /* The load went on after Thaw. */
        assert_ok(log_wait(acks_path, " ", (unsigned) max_k + 20, WH_WAIT_MS));
        assert_ok(vb_acks_read(acks_path, &acks, &n));
        for (size_t i = 0; i < n; i++) {
                const VbAck *a = &acks[i];

                /* Committed before the block was lifted means committed before it was granted
                 * (nobody commits in between): restored. */
                if (a->ack < t_released && a->k > max_k) {
                        print_error("txn %" PRId64 " acknowledged before commits were released (%" PRIu64 " < %" PRIu64
                                    ") is missing from the restore (max %lld)\n",
                                    a->k, a->ack, t_released, max_k);
                        fail();
                }
                /* Sent after commits were blocked: its commit waited for Thaw. */
                if (a->begin > t_locked && a->k <= max_k) {
                        print_error("txn %" PRId64 " sent after the freeze marker (%" PRIu64 " > %" PRIu64
                                    ") is in the restore (max %lld)\n",
                                    a->k, a->begin, t_locked, max_k);
                        fail();
                }
                before_freeze += a->ack < t_locked;
                after_thaw += a->ack > t_released;
        }
        assert_true(before_freeze >= 100);
        assert_true((long long) before_freeze <= max_k);
        assert_true(after_thaw >= 1);
        print_message("restore holds txns 1..%lld (%zu acknowledged before the freeze marker); commits blocked "
                      "%.3f ms\n",
                      max_k, before_freeze, (double) (t_released - t_locked) / 1e3);
}

/* Forks a client whose commit lingers in binary-log group commit (see the caller). */
static pid_t start_lingering_commit(Fixture *f) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(maria_sql(f->db.socket, "INSERT INTO w.probe VALUES (100)", NULL) == 0 ? 0 : 1);
        return pid;
}

static void test_lingering_commit_vetoes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *backups = path_join(f->fs.dir, "backups-veto"), *backup = NULL, *veto = NULL;
        _cleanup_(vb_run_done) VbRun run = {};
        uint64_t deadline;
        int status;

        start_maria_writer(f, "1000");

        /* Group commit now waits for 1000 transactions or LINGER_USEC: the next commit stays
         * in progress, holding the commit lock that BLOCK_COMMIT must wait for. */
        assert_ok(maria_sql(f->db.socket,
                            "SET GLOBAL binlog_commit_wait_count = 1000, binlog_commit_wait_usec = " LINGER_USEC, NULL));
        f->lingering = start_lingering_commit(f);
        deadline = now_usec() + WH_WAIT_MS * USEC_PER_MSEC;
        while (sql_i64(f->db.socket, "SELECT count(*) FROM information_schema.processlist "
                                     "WHERE info LIKE 'INSERT INTO w.probe VALUES (100)%'") == 0) {
                assert_true(now_usec() < deadline);
                (void) usleep(5000);
        }

        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL });
        print_run(&run);
        assert_int_not_equal(run.exit_status, 0);
        assert_non_null(strstr(run.err, "VSS_E_WRITERERROR_TIMEOUT"));
        assert_int_equal(vb_run_backup_path(&run, &backup), -ENOENT);
        veto = log_line(f->writer_log, "could not block commits within 1000 ms; vetoing", 0);
        assert_non_null(veto);
        /* The writer never blocked commits. */
        assert_int_equal(log_count(f->writer_log, "freeze: commits blocked"), 0);

        /* Nothing is left blocked: DDL and commits go through within a 1-second lock wait. */
        assert_ok(maria_sql(f->db.socket, "SET GLOBAL binlog_commit_wait_count = 0", NULL));
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR CREATE TABLE w.after_veto (x INT)",
                            NULL));
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR INSERT INTO w.probe VALUES (101)",
                            NULL));
        assert_int_equal(waitpid(f->lingering, &status, 0), f->lingering);
        f->lingering = 0;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(sql_i64(f->db.socket, "SELECT count(*) FROM w.probe WHERE x IN (100, 101)"), 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_backup_under_load_restores, test_teardown),
                cmocka_unit_test_teardown(test_lingering_commit_vetoes, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssbackup-mariadb needs root (loop devices, mount); skipping\n");
                return 77;
        }
        if (isempty(getenv("MARIADBD")) || isempty(getenv("MARIADB_INSTALL_DB"))) {
                fprintf(stderr, "MariaDB is not installed; skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

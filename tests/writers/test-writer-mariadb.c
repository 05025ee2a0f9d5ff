/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-mariadb: vss-writer-mariadb against a real MariaDB server whose data directory
 * lives on a loop-mounted btrfs subvolume, snapshotted by the real btrfs provider through a
 * private vssd.
 *
 * What it proves:
 *   - Under a write load (maria-load, which writes down each commit acknowledgement outside
 *     the volume), the backup succeeds; a server started on a copy of the snapshot's data
 *     directory recovers without manual steps, CHECK TABLE says OK, and the witness table
 *     holds exactly a gapless prefix: every transaction acknowledged before the writer's
 *     freeze marker (BLOCK_COMMIT granted), none that was sent after it (its commit waited
 *     for Thaw). The load goes on after Thaw.
 *   - A commit that lingers (binary-log group commit told to wait for more transactions)
 *     keeps BLOCK_COMMIT from being granted: Freeze vetoes VSS_E_WRITERERROR_TIMEOUT after
 *     the lock budget, the backup fails with it, and nothing stays blocked: the writer's
 *     session is gone, DDL and commits go through.
 *   - The writer's freeze timeout passing while another writer still freezes: the abort
 *     releases the block while the backup is still running, and commits go on.
 *   - The writer SIGKILLed mid-freeze (commits blocked, as the test checks): its session
 *     dies with it, a commit goes through at once, and the next backup succeeds.
 *   - A server that accepts connections and never answers (mariadbd stopped): Identify still
 *     answers within the connect timeout, and the backup fails at PrepareForBackup with
 *     VSS_E_WRITERERROR_RETRYABLE.
 * The writer connects as a user of its own (RELOAD privilege) with --password-file.
 *
 * A second writer, vss-writer-script at the system level, has a hook that sleeps in
 * prepare-snapshot or freeze while a flag file exists, to hold the backup where the test
 * needs to act.
 *
 * Needs root (loop devices, mount): exits 77 otherwise, or when MariaDB is not installed.
 * VSSD, VSS_WRITER_MARIADB, VSS_WRITER_SCRIPT, MARIA_LOAD, MARIADBD and MARIADB_INSTALL_DB
 * are set by meson.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <mysqld_error.h>
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
#include "maria-server.h"
#include "root-harness.h"
#include "writers-harness.h"

#define MARIA_WRITER_CLASS "b41d6e8a-3c27-4f90-8e15-6a9c0d2f7b43"
#define IMAGE_SIZE (UINT64_C(2) << 30)
#define STALL_SECONDS "4"
/* How long the lingering commit waits in group commit: past the stall plus the budget. */
#define LINGER_USEC "8000000"

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;        /* <mnt>/vol: the volume */
        char *run;           /* <dir>/run: sockets, pid files, error logs (owned by mysql) */
        char *password_file;
        char *hooks;
        char *stall_prepare;
        char *stall_freeze;
        MariaServer db;
        Vssd vssd;
        pid_t script_writer;
        /* The current test's */
        pid_t writer;
        char *writer_log;
        pid_t load;
        pid_t lingering;     /* a client whose commit lingers */
        bool stopped;        /* the server is SIGSTOPped */
        WhBackup backup;
        MariaServer restored;
        unsigned serial;
} Fixture;

static const char *const maria_only[] = { MARIA_WRITER_CLASS };
static const char *const maria_and_stall[] = { MARIA_WRITER_CLASS, SCRIPT_WRITER_CLASS };

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r != 0) {                                                                     \
                        print_error("%s:%d: %s: %d (%s)\n", __FILE__, __LINE__, #expr, _r,         \
                                    _r < 0 ? strerror(-_r) : "server error");                      \
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

/* Starts vss-writer-mariadb with extra options (NULL-terminated), waits until subscribed. */
static void start_maria_writer(Fixture *f, ...) {
        char *argv[32], name[64];
        const char *extra;
        size_t n = 0;
        va_list ap;

        (void) snprintf(name, sizeof(name), "maria-writer-%u.log", ++f->serial);
        free(f->writer_log);
        f->writer_log = path_join(f->fs.dir, name);
        argv[n++] = getenv("VSS_WRITER_MARIADB");
        argv[n++] = (char *) "--socket-path";
        argv[n++] = f->db.socket;
        argv[n++] = (char *) "--user";
        argv[n++] = (char *) "vss";
        argv[n++] = (char *) "--password-file";
        argv[n++] = f->password_file;
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

/* Waits until the writer's session (connection id) is gone from the server. */
static void wait_session_gone(Fixture *f, uint64_t id) {
        uint64_t deadline = now_usec() + WH_WAIT_MS * USEC_PER_MSEC;
        _cleanup_free_ char *sql = NULL;

        assert_int_not_equal(
                asprintf(&sql, "SELECT count(*) FROM information_schema.processlist WHERE id = %" PRIu64, id), -1);
        while (sql_i64(f->db.socket, sql) != 0) {
                if (now_usec() >= deadline) {
                        print_error("connection %" PRIu64 " is still there\n", id);
                        fail();
                }
                (void) usleep(2000);
        }
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
        maria_server_done(&f->db);
        if (getenv("VSS_TEST_KEEP")) {
                fprintf(stderr, "keeping %s (mounted)\n", f->fs.dir);
                (void) umount2(f->fs.mnt, MNT_DETACH);
        } else
                (void) loop_btrfs_teardown(&f->fs);
        free(f->subvol);
        free(f->run);
        free(f->password_file);
        free(f->hooks);
        free(f->stall_prepare);
        free(f->stall_freeze);
        free(f->writer_log);
        free(f);
        *state = NULL;
        return 0;
}

static int group_setup(void **state) {
        _cleanup_free_ char *datadir = NULL;
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;

        r = loop_btrfs_setup("/var/tmp/vss-writer-maria-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->subvol = path_join(f->fs.mnt, "vol");
        f->run = path_join(f->fs.dir, "run");
        f->password_file = path_join(f->fs.dir, "password");
        f->hooks = path_join(f->fs.dir, "hooks");
        f->stall_prepare = path_join(f->fs.dir, "stall-prepare");
        f->stall_freeze = path_join(f->fs.dir, "stall-freeze");
        datadir = path_join(f->subvol, "mysql");

        if (chmod(f->fs.dir, 0755) < 0 || chmod(f->fs.mnt, 0755) < 0 ||
            btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || chmod(f->subvol, 0755) < 0 ||
            mkdir(f->run, 0755) < 0 || maria_chown_mysql(f->run, 0755) < 0 || mkdir(f->hooks, 0755) < 0 ||
            write_file(f->password_file, "w2-secret\n", 0600) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
                goto fail;
        }
        if (maria_server_describe(datadir, f->run, "main", &f->db) < 0 || maria_server_init(&f->db) < 0 ||
            maria_server_start(&f->db) < 0) {
                fprintf(stderr, "cannot start MariaDB\n");
                goto fail;
        }
        /* The writer's own user: BACKUP STAGE needs RELOAD. */
        if (maria_sql(f->db.socket, "CREATE USER 'vss'@'localhost' IDENTIFIED BY 'w2-secret'", NULL) != 0 ||
            maria_sql(f->db.socket, "GRANT RELOAD, SELECT ON *.* TO 'vss'@'localhost'", NULL) != 0 ||
            maria_sql(f->db.socket, "CREATE DATABASE w", NULL) != 0 ||
            maria_sql(f->db.socket, "CREATE TABLE w.probe (x INT) ENGINE=InnoDB", NULL) != 0) {
                fprintf(stderr, "cannot prepare the server\n");
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

        if (f->stopped)
                (void) kill(f->db.pid, SIGCONT);
        f->stopped = false;
        (void) unlink(f->stall_prepare);
        (void) unlink(f->stall_freeze);
        wh_backup_release(&f->backup);
        (void) maria_sql(f->db.socket, "SET GLOBAL binlog_commit_wait_count = 0, binlog_commit_wait_usec = 100000",
                         NULL);
        (void) process_stop(f->lingering, 15000);
        (void) process_stop(f->load, 5000);
        (void) process_stop(f->writer, 5000);
        f->lingering = f->load = f->writer = 0;
        maria_server_done(&f->restored);
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

/* Copies the snapshot's data directory to a fresh place and starts a server on it. */
static void restore_and_start(Fixture *f) {
        _cleanup_free_ char *dir = NULL, *from = NULL, *to = NULL, *log = NULL;
        char name[64];
        pid_t pid;
        int status;

        (void) snprintf(name, sizeof(name), "restore-%u", ++f->serial);
        dir = path_join(f->fs.dir, name);
        assert_int_equal(mkdir(dir, 0755), 0);
        from = path_join(f->backup.snapshot_path, "mysql");
        to = path_join(dir, "mysql");
        log = path_join(f->fs.dir, "restore.log");
        assert_ok(spawn_logged((char *const[]) { (char *) "/bin/cp", (char *) "-a", from, to, NULL }, log, &pid));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        (void) snprintf(name, sizeof(name), "restored-%u", f->serial);
        assert_ok(maria_server_describe(to, f->run, name, &f->restored));
        assert_ok(maria_server_start(&f->restored));
}

static void test_backup_under_load_restores(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *acks_path = path_join(f->fs.dir, "acks.txt");
        _cleanup_free_ Ack *acks = NULL;
        uint64_t t_locked, t_released;
        size_t n, before_freeze = 0, after_thaw = 0;
        long long present, max_k;
        vss_writer_state ws;
        vss_hr failure;
        char line[64];
        int out = -EBADF;

        assert_non_null(getenv("MARIA_LOAD"));
        assert_ok(process_spawn((char *const[]) { getenv("MARIA_LOAD"), (char *) "--socket", f->db.socket,
                                                  (char *) "--acks", acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");

        start_maria_writer(f, "--lock-timeout", "5000", "--freeze-timeout", "20000", NULL);
        assert_ok(log_wait(acks_path, " ", 200, WH_WAIT_MS));

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 1);
        assert_string_equal(f->backup.components[0].name, "datadir");
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);

        t_locked = writer_log_number(f, "freeze: commits blocked", "(monotonic ");
        t_released = writer_log_number(f, "thaw: commits released", "(monotonic ");
        assert_true(t_locked <= t_released);

        restore_and_start(f);

        /* MariaDB's own check, and the witness: a gapless prefix 1..max_k. */
        assert_ok(maria_check_table(f->restored.socket, "w.acks_t"));
        assert_ok(maria_check_table(f->restored.socket, "w.probe"));
        present = sql_i64(f->restored.socket, "SELECT count(*) FROM w.acks_t");
        max_k = sql_i64(f->restored.socket, "SELECT coalesce(max(k), 0) FROM w.acks_t");
        assert_int_equal(present, max_k);
        assert_int_equal(sql_i64(f->restored.socket, "SELECT count(*) FROM w.acks_t WHERE payload <> k * 7"), 0);

        /* The load went on after Thaw. */
        assert_ok(log_wait(acks_path, " ", (unsigned) max_k + 20, WH_WAIT_MS));
        n = acks_read(acks_path, &acks);
        for (size_t i = 0; i < n; i++) {
                const Ack *a = &acks[i];

                /* Committed before the block was lifted means committed before it was
                 * granted (nobody commits in between): in the snapshot. */
                if (a->ack < t_released && a->k > max_k) {
                        print_error("txn %" PRId64 " acknowledged before commits were released (%" PRIu64 " < %" PRIu64
                                    ") is missing from the restore (max %lld)\n",
                                    a->k, a->ack, t_released, max_k);
                        fail();
                }
                /* Sent after commits were blocked: its commit waited for Thaw. */
                if (a->begin > t_locked && a->k <= max_k) {
                        print_error("txn %" PRId64 " sent after the freeze point (%" PRIu64 " > %" PRIu64
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

        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_hr(wh_backup_writer_status(&f->backup, MARIA_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_STABLE);
        assert_hr(failure, S_OK);
        print_message("restore holds txns 1..%lld; commits blocked (Freeze to Thaw) %.3f ms\n", max_k,
                      (double) (t_released - t_locked) / 1e3);
}

/* Forks a client whose commit lingers in binary-log group commit (see the caller). */
static pid_t start_lingering_commit(Fixture *f) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                _exit(maria_sql(f->db.socket, "INSERT INTO w.probe VALUES (100)", NULL) == 0 ? 0 : 1);
        }
        return pid;
}

static void test_lingering_commit_vetoes_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *veto = NULL;
        uint64_t deadline, id;
        vss_writer_state ws;
        vss_hr failure;
        int status;

        start_maria_writer(f, "--lock-timeout", "1000", NULL);
        assert_ok(write_file(f->stall_prepare, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "BACKUP STAGE BLOCK_DDL reached", 1, WH_WAIT_MS));
        id = writer_log_number(f, "session open (connection", "connection ");

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

        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
        assert_hr(wh_backup_writer_status(&f->backup, MARIA_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_TIMEOUT);
        veto = log_line(f->writer_log, "could not block commits within 1000 ms; vetoing", 0);
        assert_non_null(veto);
        assert_int_equal(log_count(f->writer_log, "freeze: commits blocked"), 0);

        /* Nothing is left: the session is gone, DDL and commits go through without waiting. */
        wait_session_gone(f, id);
        assert_ok(maria_sql(f->db.socket, "SET GLOBAL binlog_commit_wait_count = 0", NULL));
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR CREATE TABLE w.after_veto (x INT)",
                            NULL));
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR INSERT INTO w.probe VALUES (101)",
                            NULL));
        /* The lingering commit itself completes once group commit stops waiting. */
        assert_int_equal(waitpid(f->lingering, &status, 0), f->lingering);
        f->lingering = 0;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(sql_i64(f->db.socket, "SELECT count(*) FROM w.probe WHERE x IN (100, 101)"), 2);
}

static void test_freeze_timeout_releases(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *released = NULL;

        start_maria_writer(f, "--lock-timeout", "1000", "--freeze-timeout", "1500", NULL);
        assert_ok(write_file(f->stall_freeze, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "freeze: commits blocked", 1, WH_WAIT_MS));

        /* The other writer keeps freezing past our freeze timeout: the abort releases the
         * block while the backup is still running, and commits go on. */
        assert_ok(log_wait(f->writer_log, "abort: nothing held", 1, WH_WAIT_MS));
        released = log_line(f->writer_log, "commits released", 0);
        assert_non_null(released);
        assert_non_null(strstr(released, "abort: "));
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR INSERT INTO w.probe VALUES (400)",
                            NULL));
        assert_int_equal(log_count(f->writer_log, "thaw: "), 0);
        assert_hr(wh_backup_snapshot_finish(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
}

static void test_writer_killed_mid_freeze(void **state) {
        Fixture *f = *state;
        uint64_t id, start;
        double ms;
        int status;
        vss_hr hr;

        start_maria_writer(f, NULL);
        assert_ok(write_file(f->stall_freeze, "", 0644));
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_and_stall, 2), S_OK);
        assert_hr(wh_backup_snapshot_start(&f->backup), S_OK);
        assert_ok(log_wait(f->writer_log, "freeze: commits blocked", 1, WH_WAIT_MS));
        id = writer_log_number(f, "session open (connection", "connection ");

        /* Frozen for real: a commit waits for the backup lock, here until its own timeout. */
        assert_int_equal(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 1 FOR INSERT INTO w.probe VALUES (200)",
                                   NULL),
                         ER_LOCK_WAIT_TIMEOUT);

        status = process_kill_wait(f->writer, SIGKILL);
        f->writer = 0;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* The session died with the process: the next commit goes through. */
        start = now_usec();
        assert_ok(maria_sql(f->db.socket, "SET STATEMENT lock_wait_timeout = 10 FOR INSERT INTO w.probe VALUES (201)",
                            NULL));
        ms = (double) (now_usec() - start) / 1e3;
        wait_session_gone(f, id);
        print_message("commit after the writer was killed mid-freeze took %.1f ms\n", ms);

        (void) unlink(f->stall_freeze);
        hr = wh_backup_snapshot_finish(&f->backup);
        print_message("backup with the writer killed mid-freeze: %s\n", vss_hr_name(hr));
        wh_backup_release(&f->backup);

        start_maria_writer(f, NULL);
        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_only, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_int_equal(log_count(f->writer_log, "thaw: commits released"), 1);
}

static void test_hung_server_retryable(void **state) {
        Fixture *f = *state;
        vss_writer_state ws;
        vss_hr failure;

        start_maria_writer(f, "--connect-timeout", "1000", NULL);
        assert_ok(log_wait(f->writer_log, "server: data directory", 1, WH_WAIT_MS));

        /* The server stops: connections are accepted by the kernel and never answered. */
        assert_int_equal(kill(f->db.pid, SIGSTOP), 0);
        f->stopped = true;

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->subvol, maria_only, 1), S_OK);
        assert_int_equal(f->backup.n_components, 1);
        assert_hr(wh_backup_writer_status(&f->backup, MARIA_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_PREPARE_BACKUP);
        assert_hr(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_true(log_count(f->writer_log, "identify: server not reachable") >= 1);
        assert_int_equal(log_count(f->writer_log, "prepare-backup: the server is not available"), 1);

        assert_int_equal(kill(f->db.pid, SIGCONT), 0);
        f->stopped = false;
        assert_ok(maria_sql(f->db.socket, "INSERT INTO w.probe VALUES (300)", NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_backup_under_load_restores, test_teardown),
                cmocka_unit_test_teardown(test_lingering_commit_vetoes_timeout, test_teardown),
                cmocka_unit_test_teardown(test_freeze_timeout_releases, test_teardown),
                cmocka_unit_test_teardown(test_writer_killed_mid_freeze, test_teardown),
                cmocka_unit_test_teardown(test_hung_server_retryable, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-writer-mariadb needs root (loop devices, mount); skipping\n");
                return 77;
        }
        if (!getenv("MARIADBD") || !*getenv("MARIADBD") || !getenv("MARIADB_INSTALL_DB") ||
            !*getenv("MARIADB_INSTALL_DB")) {
                fprintf(stderr, "MariaDB's server programs are not installed; skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

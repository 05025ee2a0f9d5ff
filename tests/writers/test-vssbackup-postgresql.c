/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup-postgresql: the issue-5 proof for PostgreSQL through the real backup
 * program: vssbackup backs up loop-mounted btrfs subvolumes holding a running cluster under
 * pgbench load plus a witness client, with vss-writer-postgresql taking part; vssbackup
 * restores into a fresh directory, and the server starts on the restore.
 *
 * What it proves:
 *   - One volume, no manual step: under pgbench and the witness (pg-load, which writes down
 *     each commit acknowledgement outside the volume), `vssbackup backup --type full` and
 *     `vssbackup restore` exit 0; the restore runs the writer's PreRestore/PostRestore with a
 *     new target, and the writer's PostRestore puts backup_label, tablespace_map and the WAL
 *     of the backup into the restored data directory. The server then starts, recovers
 *     ("starting backup recovery"), passes pg_amcheck (heap and every index) and the pgbench
 *     balance invariant, and holds the witness as a gapless prefix holding every transaction
 *     acknowledged before the writer's freeze marker and none sent after the backup's end
 *     (pg_backup_stop, PostSnapshot: a restored cluster recovers to the backup's end).
 *   - Data and WAL on two subvolumes (initdb --waldir), both given to one vssbackup run:
 *     the restore puts each volume under TARGET/<its path>; the restored data directory's
 *     pg_wal link still names the live WAL directory, so this restore runs --no-writers
 *     (PostRestore must not write through that link), the test points the link at the
 *     restored WAL (a relocation, as for any base backup restored elsewhere), and the
 *     documented `vss-writer-postgresql --restore-label SET --datadir DIR` step does what
 *     PostRestore does; start, recovery and the same checks succeed.
 *   - A writer veto: the backup session's backend stops answering (SIGSTOP) between
 *     PrepareSnapshot and Freeze; the writer vetoes Freeze after its budget
 *     (--lock-timeout) with VSS_E_WRITERERROR_TIMEOUT; `vssbackup backup` exits non-zero
 *     with that error in its output and stores no backup; the server commits throughout
 *     (this writer never blocks commits), and the session is gone once the backend runs.
 *     A vss-writer-script writer whose prepare-snapshot hook sleeps gives the test the
 *     moment to act.
 *
 * Needs root (loop devices, mount, running the server as postgres): exits 77 otherwise, or
 * when PostgreSQL is not installed. VSSD, VSSBACKUP, VSS_WRITER_POSTGRESQL,
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

#include "macro.h"
#include "pg-cluster.h"
#include "root-harness.h"
#include "vb-harness.h"
#include "writers-harness.h"

#define IMAGE_SIZE (UINT64_C(2) << 30)
#define PG_PORT 55462U
#define RESTORED_PORT 55463U
#define SECOND_PORT 55464U
#define STALL_SECONDS "4"
#define WRITER_APP "application_name = 'vss-writer-postgresql'"

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;        /* <mnt>/vol: the volume */
        char *labels;        /* <mnt>/labels: the writer's label sets, a subvolume of their own
                              * outside the snapshot set (backed up after the set) */
        char *sock;          /* <dir>/sock: the servers' sockets */
        char *hooks;         /* the stalling script writer's hooks (off the volume) */
        char *stall_prepare; /* while it exists, the hook sleeps in prepare-snapshot */
        PgCluster pg;
        Vssd vssd;
        /* The current test's */
        pid_t script_writer;
        pid_t writer;
        char *writer_log;
        pid_t pgbench;
        pid_t load;
        pid_t stopped;       /* a process the test SIGSTOPped: continued in teardown */
        pid_t vssbackup;     /* a vssbackup run in flight */
        PgCluster restored;
        PgCluster second;    /* the two-volume test's cluster */
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

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                   */
/* ------------------------------------------------------------------------------------------ */

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

static void start_pg_writer(Fixture *f, const char *conninfo, const char *lock_timeout) {
        char name[64];

        (void) snprintf(name, sizeof(name), "pg-writer-%u.log", ++f->serial);
        free(f->writer_log);
        f->writer_log = path_join(f->fs.dir, name);
        assert_non_null(getenv("VSS_WRITER_POSTGRESQL"));
        assert_ok(spawn_logged((char *const[]) { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--conninfo",
                                                 (char *) conninfo, (char *) "--label-dir", f->labels,
                                                 (char *) "--socket", f->vssd.socket, (char *) "--lock-timeout",
                                                 (char *) lock_timeout, (char *) "--freeze-timeout",
                                                 (char *) "20000", NULL },
                               f->writer_log, &f->writer));
        assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
}

static void start_script_writer(Fixture *f) {
        _cleanup_free_ char *hook = path_join(f->hooks, "10-stall"), *text = NULL, *log = NULL;

        assert_int_not_equal(asprintf(&text,
                                      "#!/bin/sh\n"
                                      "# vss-events: prepare-snapshot\n"
                                      "case \"$1\" in\n"
                                      "prepare-snapshot) if [ -e '%s' ]; then echo stalling; sleep " STALL_SECONDS
                                      "; fi ;;\n"
                                      "esac\n",
                                      f->stall_prepare),
                             -1);
        assert_ok(write_file(hook, text, 0755));
        log = path_join(f->fs.dir, "script-writer.log");
        assert_non_null(getenv("VSS_WRITER_SCRIPT"));
        assert_ok(spawn_logged((char *const[]) { getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", f->hooks,
                                                 (char *) "--socket", f->vssd.socket, (char *) "--level",
                                                 (char *) "system", (char *) "--timeout", (char *) "15000",
                                                 (char *) "--freeze-timeout", (char *) "30000", NULL },
                               log, &f->script_writer));
        assert_ok(log_wait(log, "subscribed", 1, WH_WAIT_MS));
}

/* Starts pgbench (clients) and the witness on conninfo; the witness acknowledged once. */
static void start_load(Fixture *f, const char *conninfo, const char *clients, const char *acks_path) {
        _cleanup_free_ char *pgbench = pg_program("pgbench"), *bench_log = path_join(f->fs.dir, "pgbench.log");
        char line[64];
        int out = -EBADF;

        assert_non_null(pgbench);
        assert_ok(spawn_logged((char *const[]) { pgbench, (char *) "-c", (char *) clients, (char *) "-j", (char *) "2",
                                                 (char *) "-T", (char *) "120", (char *) "-n", (char *) conninfo, NULL },
                               bench_log, &f->pgbench));
        assert_non_null(getenv("PG_LOAD"));
        assert_ok(process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", (char *) conninfo,
                                                  (char *) "--acks", (char *) acks_path, NULL },
                                &f->load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");
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

/* The label set the writer wrote in PostSnapshot, from its log line. */
static char *writer_label_set(Fixture *f) {
        static const char key[] = "post-snapshot: label set ";
        _cleanup_free_ char *line = log_line(f->writer_log, key, 0);
        const char *p, *end;
        char *set;

        assert_non_null(line);
        p = strstr(line, key) + strlen(key);
        end = strstr(p, " written");
        assert_non_null(end);
        set = strndup(p, (size_t) (end - p));
        assert_non_null(set);
        /* It is the set of this run's snapshot set, in the label directory. */
        assert_true(strncmp(set, f->labels, strlen(f->labels)) == 0);
        return set;
}

static long long sql_i64(const char *conninfo, const char *sql) {
        long long v = -1;

        assert_ok(pg_sql_i64(conninfo, sql, &v));
        return v;
}

static void wait_count_zero(const char *conninfo, const char *sql) {
        uint64_t deadline = now_usec() + WH_WAIT_MS * USEC_PER_MSEC;

        while (sql_i64(conninfo, sql) != 0) {
                if (now_usec() >= deadline) {
                        print_error("still non-zero: %s\n", sql);
                        fail();
                }
                (void) usleep(2000);
        }
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

static void vssbackup(Fixture *f, VbRun *ret, const char *const *args) {
        assert_ok(vb_run(f->vssd.socket, f->fs.dir, ++f->serial, args, ret));
        print_message("vssbackup %s: exit %d\n", args[0], ret->exit_status);
        if (ret->exit_status != 0)
                print_run(ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
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

        r = loop_btrfs_setup("/var/tmp/vss-vb-pg-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->subvol = path_join(f->fs.mnt, "vol");
        f->labels = path_join(f->fs.mnt, "labels");
        f->sock = path_join(f->fs.dir, "sock");
        f->hooks = path_join(f->fs.dir, "hooks");
        f->stall_prepare = path_join(f->fs.dir, "stall-prepare");
        data = path_join(f->subvol, "pgdata");
        pglog = path_join(f->fs.dir, "postgres.log");
        init_log = path_join(f->fs.dir, "pgbench-init.log");

        /* The server runs as postgres: it must reach its data and socket directories. */
        if (chmod(f->fs.dir, 0755) < 0 || chmod(f->fs.mnt, 0755) < 0 ||
            btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK || chmod(f->subvol, 0755) < 0 ||
            btrfs_util_create_subvolume(f->labels, 0, NULL, NULL) != BTRFS_UTIL_OK ||
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

        if (f->stopped > 0)
                (void) kill(f->stopped, SIGCONT);
        f->stopped = 0;
        (void) unlink(f->stall_prepare);
        (void) process_stop(f->vssbackup, 20000);
        (void) process_stop(f->load, 5000);
        (void) process_stop(f->pgbench, 5000);
        (void) process_stop(f->writer, 5000);
        (void) process_stop(f->script_writer, 5000);
        f->vssbackup = f->load = f->pgbench = f->writer = f->script_writer = 0;
        pg_cluster_done(&f->restored);
        pg_cluster_done(&f->second);
        free(f->writer_log);
        f->writer_log = NULL;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore checks                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* The documented step before the first start (PostRestore, once the restore API exists). */
static void restore_label(Fixture *f, const char *label_set, const char *datadir) {
        _cleanup_free_ char *log = path_join(f->fs.dir, "restore-label.log");
        unsigned before = log_count(log, "backup_label written");

        assert_ok(run_logged((char *const[]) { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--restore-label",
                                               (char *) label_set, (char *) "--datadir", (char *) datadir, NULL },
                             log));
        assert_int_equal(log_count(log, "backup_label written"), before + 1);
}

static void start_restored(Fixture *f, const char *datadir) {
        char name[64];
        _cleanup_free_ char *log = NULL;

        (void) snprintf(name, sizeof(name), "restored-%u.log", ++f->serial);
        log = path_join(f->fs.dir, name);
        assert_ok(pg_cluster_describe(datadir, f->sock, RESTORED_PORT, log, &f->restored));
        assert_ok(pg_cluster_start(&f->restored));
        assert_true(log_count(f->restored.log, "starting backup recovery") >= 1);
}

static void check_restored(Fixture *f, const char *acks_path, uint64_t t_freeze, uint64_t t_stop, size_t min_before) {
        _cleanup_free_ char *amcheck = pg_program("pg_amcheck"), *amcheck_log = path_join(f->fs.dir, "amcheck.log");
        _cleanup_free_ char *port = NULL, *balanced = NULL;
        _cleanup_free_ VbAck *acks = NULL;
        const char *c = f->restored.conninfo;
        long long present, max_k, history;
        size_t n = 0, before_freeze = 0, after_stop = 0;

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

        assert_ok(vb_acks_read(acks_path, &acks, &n));
        for (size_t i = 0; i < n; i++) {
                const VbAck *a = &acks[i];

                /* Acknowledged before Freeze: durable before the snapshot, so restored. */
                if (a->ack < t_freeze && a->k > max_k) {
                        print_error("txn %" PRId64 " acknowledged before the freeze marker (%" PRIu64 " < %" PRIu64
                                    ") is missing from the restore (max %lld)\n",
                                    a->k, a->ack, t_freeze, max_k);
                        fail();
                }
                /* Sent after the backup's end: recovery stops at the end of the WAL kept. */
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
        _cleanup_free_ char *acks_path = path_join(f->fs.dir, "acks.txt"), *backups = path_join(f->fs.dir, "backups");
        _cleanup_free_ char *target = path_join(f->fs.dir, "restore"), *backup = NULL;
        _cleanup_free_ char *datadir = NULL, *label_file = NULL;
        _cleanup_(vb_run_done) VbRun run = {}, rest = {};
        uint64_t t_freeze, t_thaw, t_stop;

        start_load(f, f->pg.conninfo, "4", acks_path);
        start_pg_writer(f, f->pg.conninfo, "5000");
        /* Enough history before the backup that a wrong commit point cannot hide. */
        assert_ok(log_wait(acks_path, " ", 200, WH_WAIT_MS));

        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL });
        assert_int_equal(run.exit_status, 0);
        assert_ok(vb_run_backup_path(&run, &backup));
        t_freeze = writer_log_number(f, "freeze: backup active", "(monotonic ");
        t_thaw = writer_log_number(f, "thaw: freeze window", "(monotonic ");
        t_stop = writer_log_number(f, "post-snapshot: backup stopped", "(monotonic ");
        assert_true(t_freeze <= t_thaw && t_thaw <= t_stop);

        /* The restore with writers: the writer's PostRestore prepares the restored directory. */
        vssbackup(f, &rest, (const char *const[]) { "restore", backup, "--to", target, NULL });
        assert_restore_ok(&rest);

        datadir = path_join(target, "pgdata");
        label_file = path_join(datadir, "backup_label");
        assert_int_equal(access(label_file, F_OK), 0);
        start_restored(f, datadir);
        check_restored(f, acks_path, t_freeze, t_stop, 100);

        /* Nothing left on the live server: no writer session, no WAL reservation. */
        wait_count_zero(f->pg.conninfo, "SELECT count(*) FROM pg_stat_activity WHERE " WRITER_APP);
        wait_count_zero(f->pg.conninfo, "SELECT count(*) FROM pg_replication_slots");
        print_message("freeze window (Freeze to Thaw) %.3f ms\n", (double) (t_thaw - t_freeze) / 1e3);
}

static void test_data_and_wal_on_two_volumes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *walvol = path_join(f->fs.mnt, "walvol"), *data = path_join(f->subvol, "pgdata2");
        _cleanup_free_ char *waldir = path_join(walvol, "pgwal2"), *log = path_join(f->fs.dir, "postgres2.log");
        _cleanup_free_ char *waldir_opt = NULL, *acks_path = path_join(f->fs.dir, "acks2.txt");
        _cleanup_free_ char *backups = path_join(f->fs.dir, "backups-two"), *target = path_join(f->fs.dir, "restore-two");
        _cleanup_free_ char *r_data = NULL, *r_wal = NULL, *r_link = NULL, *label_set = NULL, *identify = NULL;
        _cleanup_free_ char *initdb = pg_program("initdb"), *pgbench = pg_program("pgbench"), *conf = NULL;
        _cleanup_free_ char *backup = NULL, *old_link = NULL;
        _cleanup_(vb_run_done) VbRun run = {}, rest = {};
        PgCluster *two = &f->second;
        uint64_t t_freeze, t_stop;
        char link_target[4096];
        ssize_t len;
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
        assert_non_null(pgbench);
        assert_ok(pg_run_as_postgres((char *const[]) { initdb, (char *) "-D", data, waldir_opt, (char *) "-U",
                                                       (char *) "postgres", (char *) "--auth=trust",
                                                       (char *) "--locale=C", (char *) "--no-sync", NULL },
                                     log));
        assert_int_not_equal(asprintf(&conf, "%s/postgresql.conf", data), -1);
        cf = fopen(conf, "ae");
        assert_non_null(cf);
        (void) fputs("listen_addresses = ''\nshared_buffers = 32MB\nmax_wal_size = 256MB\n", cf);
        assert_int_equal(fclose(cf), 0);
        assert_ok(pg_cluster_describe(data, f->sock, SECOND_PORT, log, two));
        assert_ok(pg_cluster_start(two));
        assert_ok(run_logged((char *const[]) { pgbench, (char *) "-i", (char *) "-s", (char *) "1", (char *) "-q",
                                               two->conninfo, NULL },
                             log));

        start_load(f, two->conninfo, "2", acks_path);
        start_pg_writer(f, two->conninfo, "5000");
        /* The WAL component is the symbolic link's target, on the second volume. */
        identify = log_line(f->writer_log, "cluster: data", 0);
        assert_non_null(identify);
        assert_non_null(strstr(identify, waldir));
        assert_ok(log_wait(acks_path, " ", 100, WH_WAIT_MS));

        /* Both volumes in one run: one snapshot set. */
        vssbackup(f, &run, (const char *const[]) { "backup", "--type", "full", f->subvol, walvol, "--to", backups,
                                                   NULL });
        assert_int_equal(run.exit_status, 0);
        assert_ok(vb_run_backup_path(&run, &backup));
        t_freeze = writer_log_number(f, "freeze: backup active", "(monotonic ");
        t_stop = writer_log_number(f, "post-snapshot: backup stopped", "(monotonic ");
        label_set = writer_label_set(f);

        vssbackup(f, &rest, (const char *const[]) { "restore", backup, "--to", target, "--no-writers", NULL });
        assert_restore_ok(&rest);

        /* Each volume under TARGET/<its path>; the data directory's pg_wal link still names
         * the live WAL directory: point it at the restored one. */
        assert_int_not_equal(asprintf(&r_data, "%s%s", target, data), -1);
        assert_int_not_equal(asprintf(&r_wal, "%s%s", target, waldir), -1);
        r_link = path_join(r_data, "pg_wal");
        len = readlink(r_link, link_target, sizeof(link_target) - 1);
        assert_true(len > 0);
        link_target[len] = '\0';
        assert_string_equal(link_target, waldir);
        assert_int_equal(unlink(r_link), 0);
        assert_int_equal(symlink(r_wal, r_link), 0);

        restore_label(f, label_set, r_data);
        start_restored(f, r_data);
        check_restored(f, acks_path, t_freeze, t_stop, 50);
}

static void test_unresponsive_backend_vetoes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *backups = path_join(f->fs.dir, "backups-veto"), *sql = NULL, *backup = NULL;
        _cleanup_(vb_run_done) VbRun run = {};
        unsigned serial;
        uint64_t backend;

        start_script_writer(f);
        start_pg_writer(f, f->pg.conninfo, "1000");
        assert_ok(write_file(f->stall_prepare, "", 0644));

        serial = ++f->serial;
        assert_ok(vb_start(f->vssd.socket, f->fs.dir, serial,
                           (const char *const[]) { "backup", "--type", "full", f->subvol, "--to", backups, NULL },
                           &f->vssbackup));
        assert_ok(log_wait(f->writer_log, "backup started on backend", 1, WH_WAIT_MS));
        backend = writer_log_number(f, "session open on backend", "backend ");

        /* The backup's backend stops answering; the rest of the server does not. */
        assert_int_equal(kill((pid_t) backend, SIGSTOP), 0);
        f->stopped = (pid_t) backend;
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (1)", NULL));

        assert_ok(vb_finish(f->vssbackup, f->fs.dir, serial, &run));
        f->vssbackup = 0;
        print_run(&run);
        assert_int_not_equal(run.exit_status, 0);
        assert_non_null(strstr(run.err, "VSS_E_WRITERERROR_TIMEOUT"));
        assert_int_equal(vb_run_backup_path(&run, &backup), -ENOENT);
        assert_int_equal(log_count(f->writer_log, "did not answer within 1000 ms; vetoing"), 1);
        /* Commits went on throughout, and still do. */
        assert_ok(pg_sql(f->pg.conninfo, "INSERT INTO probe VALUES (2)", NULL));

        /* The writer closed the session: once the backend runs again, it is gone. */
        assert_int_equal(kill((pid_t) backend, SIGCONT), 0);
        f->stopped = 0;
        assert_int_not_equal(asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %" PRIu64, backend), -1);
        wait_count_zero(f->pg.conninfo, sql);
        wait_count_zero(f->pg.conninfo, "SELECT count(*) FROM pg_replication_slots");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_backup_under_load_restores, test_teardown),
                cmocka_unit_test_teardown(test_data_and_wal_on_two_volumes, test_teardown),
                cmocka_unit_test_teardown(test_unresponsive_backend_vetoes, test_teardown),
        };
        _cleanup_free_ char *postgres = NULL;

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssbackup-postgresql needs root (loop devices, mount); skipping\n");
                return 77;
        }
        postgres = pg_program("postgres");
        if (!postgres) {
                fprintf(stderr, "PostgreSQL is not installed (PG_BINDIR); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-tools.c: vssbackup and vshadow as an operator runs them, against a private vssd
 * (test-copy provider) and a writer process:
 *
 *   - an interrupt (SIGINT or SIGTERM, alternately) at each of eleven named points of a backup
 *     ($VSS_TEST_PAUSE_AT stops it there) and one inside DoSnapshotSet (the writer hangs
 *     in PrepareForSnapshot): exit 130/143, one line saying so, no temporary directory, no
 *     backup, no snapshot left in vssd's catalog, the writer told Abort once it was involved;
 *     then a backup succeeds and the writer ends STABLE;
 *   - two backups started together (different volumes, different directories; then the same
 *     directory) both succeed: the second waits its turn for the snapshot slot or the lock;
 *   - verify checks the chain: a corrupt full makes verify of its incremental fail, --only
 *     checks one backup;
 *   - prune: --dry-run removes nothing, keep-last keeps a chain whole, --json says why;
 *   - --exclude / --exclude-file, ls BACKUP [PATH], restore --include;
 *   - the scheduled service's command line (from the generated vssbackup@.service) with a
 *     sample instance file, twice (a full then an incremental, by "type = auto"), and
 *     systemd-analyze verify of the units when it is installed;
 *   - vshadow: SIGINT at a named point, SIGINT with -p after the set was made (the persistent
 *     set is deleted), SIGTERM while the -exec command runs (passed on to it): exit 130/143,
 *     one line, no snapshot left, the writer told Abort; -waitset waits its turn behind
 *     another snapshot set.
 *
 * $VSSBACKUP and $VSHADOW are the programs; the runs' output is kept in the harness directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "root-harness.h"
#include "vb-harness.h"

#define VB_TMP_PREFIX_TEST ".tmp-"
#define VB_EXIT_FAILED_TEST 2   /* docs/exit-codes.md: a step failed */
#define VB_EXIT_USAGE_TEST 1

typedef struct Fixture {
        Harness *h;
        char *volume;
        char *volume2;
        char backups[4096];
        TestWriter *w;
        unsigned serial;
} Fixture;

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void write_file(const char *dir, const char *rel, const char *text) {
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(close(fd), 0);
}

static void make_dir(const char *dir, const char *rel) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        assert_int_equal(mkdir(path, 0755), 0);
}

static bool exists(const char *dir, const char *rel) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        return lstat(path, &st) == 0;
}

/* Runs vssbackup to its end; the run's output stays in *ret (vb_run_done). */
static void run(Fixture *f, const char *const *args, VbRun *ret) {
        assert_int_equal(vb_run(f->h->socket_path, f->h->dir, f->serial++, args, ret), 0);
}

/* A backup that must succeed; its path (malloc'd). */
static char *backup_ok(Fixture *f, const char *type, const char *volume, const char *dir) {
        VbRun r = {};
        char *path = NULL;

        run(f, (const char *const[]) { "backup", "--type", type, volume, "--to", dir, NULL }, &r);
        if (r.exit_status != 0)
                fail_msg("backup exited %d: %s", r.exit_status, r.err);
        assert_int_equal(vb_run_backup_path(&r, &path), 0);
        vb_run_done(&r);
        return path;
}

/* Entries of dir (not "." and ".."): how many start with prefix ("" all), and how many are backups. */
static unsigned count_entries(const char *dir, const char *prefix) {
        unsigned n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

/* Backup directories in dir: plain names (not .lock, not .tmp-...). */
static unsigned count_backups(const char *dir) {
        return count_entries(dir, "") - count_entries(dir, ".");
}

/* Snapshots vssd's catalog holds, of every context. */
static unsigned count_snapshots(void) {
        vss_requester *r = NULL;
        vss_enum_object *e = NULL;
        const vss_object_prop *p;
        unsigned n = 0;

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_query(r, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e), S_OK);
        while (vss_enum_object_next(e, &p) == S_OK)
                n++;
        vss_enum_object_free(e);
        vss_requester_release(r);
        return n;
}

/* Releasing a requester is a closed connection, which vssd handles a moment later. */
static void wait_no_snapshots(void) {
        for (unsigned i = 0; i < HARNESS_WAIT_MS / 20; i++) {
                if (count_snapshots() == 0)
                        return;
                usleep(20000);
        }
        fail_msg("snapshots are left in vssd's catalog");
}

/* Waits until path holds needle (the paused vssbackup's line). */
static void wait_for_text(const char *path, const char *needle) {
        for (unsigned i = 0; i < HARNESS_WAIT_MS / 10; i++) {
                _cleanup_free_ char *text = NULL;

                if (read_file_full(path, &text, NULL) == 0 && strstr(text, needle))
                        return;
                usleep(10000);
        }
        fail_msg("%s never held \"%s\"", path, needle);
}

static unsigned count_lines_with(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void populate(const char *volume) {
        make_dir(volume, "a");
        make_dir(volume, "a/cache");
        make_dir(volume, "b");
        write_file(volume, "a/one.txt", "one\n");
        write_file(volume, "a/two.tmp", "scratch\n");
        write_file(volume, "a/cache/c.bin", "cached\n");
        write_file(volume, "b/keep.txt", "b keeps\n");
        write_file(volume, "b/skip.txt", "b skips\n");
        make_dir(volume, "db");
        write_file(volume, "db/data.db", "database\n");
        for (int i = 0; i < 8; i++) {
                char name[32];

                snprintf(name, sizeof(name), "f%d.txt", i);
                write_file(volume, name, name);
        }
}

static int setup_with(void **state, const char *const *writer_extra) {
        Fixture *f = calloc(1, sizeof(*f));
        char db[4096];

        assert_non_null(f);
        assert_int_equal(harness_new(NULL, &f->h), 0);
        assert_int_equal(harness_make_volume(f->h, "vol", &f->volume), 0);
        assert_int_equal(harness_make_volume(f->h, "vol2", &f->volume2), 0);
        populate(f->volume);
        snprintf(f->backups, sizeof(f->backups), "%s/backups", f->h->dir);
        snprintf(db, sizeof(db), "%s/db", f->volume);
        {
                const char *args[16] = { "--component", ":data", "--file", db };
                size_t n = 4;

                for (size_t i = 0; writer_extra && writer_extra[i]; i++)
                        args[n++] = writer_extra[i];
                args[n] = NULL;
                assert_int_equal(harness_add_writer(f->h, "dbwriter", args, &f->w), 0);
        }
        *state = f;
        return 0;
}

static int setup(void **state) {
        return setup_with(state, NULL);
}

/* The writer hangs 1.5 s in PrepareForSnapshot: a DoSnapshotSet that takes its time. */
static int setup_slow(void **state) {
        return setup_with(state, (const char *const[]) { "--hang", "PrepareForSnapshot:1500", NULL });
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->volume);
                free(f->volume2);
                free(f);
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Interrupts                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The state vssd reports for the writer's most recent backup (vssadmin list writers --json). */
static void assert_writer_stable(Fixture *f, const char *where) {
        char out[4096], cmd[8192];
        _cleanup_free_ char *text = NULL;

        snprintf(out, sizeof(out), "%s/writers.json", f->h->dir);
        snprintf(cmd, sizeof(cmd), "VSS_SOCKET='%s' '%s' list writers --json > '%s'", f->h->socket_path,
                 getenv("VSSADMIN"), out);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(read_file_full(out, &text, NULL), 0);
        if (!strstr(text, "\"state_name\":\"stable\"") && !strstr(text, "\"state_name\": \"stable\""))
                fail_msg("after an interrupt at %s the writer is not stable:\n%s", where, text);
}

/* The run was interrupted cleanly: status, one line, nothing left behind. */
static void assert_interrupted_cleanly(Fixture *f, const VbRun *r, int sig, const char *where) {
        if (r->exit_status != 128 + sig)
                fail_msg("interrupt at %s: exit %d, expected %d; stderr:\n%s", where, r->exit_status, 128 + sig,
                         r->err);
        assert_int_equal(count_lines_with(r->err, "interrupted by"), 1);
        assert_non_null(strstr(r->err, "nothing was stored"));
        /* Nothing but the lock: no temporary directory, no backup. */
        if (count_entries(f->backups, VB_TMP_PREFIX_TEST) != 0 || count_backups(f->backups) != 0)
                fail_msg("interrupt at %s left %u temporary and %u backup directories", where,
                         count_entries(f->backups, VB_TMP_PREFIX_TEST), count_backups(f->backups));
        wait_no_snapshots();
}

static void test_interrupt_points(void **state) {
        /* In the order a backup passes them; "added" and later involve the writer. */
        static const char *const points[] = { "locked", "connected", "gathered", "added", "prepared", "snapshot",
                                              "walked", "selected", "copying", "copied", "stored" };
        Fixture *f = *state;
        unsigned aborts = writer_log_count(f->w, "event=Abort");
        char *path = NULL;
        VbRun r = {};

        for (size_t i = 0; i < ELEMENTSOF(points); i++) {
                int sig = i % 2 ? SIGTERM : SIGINT;
                char err[4096], needle[64];
                unsigned serial = f->serial++;
                pid_t pid;

                assert_int_equal(setenv("VSS_TEST_PAUSE_AT", points[i], 1), 0);
                assert_int_equal(vb_start(f->h->socket_path, f->h->dir, serial,
                                          (const char *const[]) { "backup", "--type", "full", f->volume, "--to",
                                                                  f->backups, NULL }, &pid), 0);
                assert_int_equal(unsetenv("VSS_TEST_PAUSE_AT"), 0);
                snprintf(err, sizeof(err), "%s/vssbackup-%u.err", f->h->dir, serial);
                snprintf(needle, sizeof(needle), "paused at %s\n", points[i]);
                wait_for_text(err, needle);
                assert_int_equal(kill(pid, sig), 0);
                assert_int_equal(vb_finish(pid, f->h->dir, serial, &r), 0);
                assert_interrupted_cleanly(f, &r, sig, points[i]);
                vb_run_done(&r);
                assert_writer_stable(f, points[i]);

                /* Once PrepareForBackup was sent the writer hears Abort (seed 004). */
                if (i >= 4) {
                        aborts++;
                        assert_int_equal(writer_log_wait(f->w, "event=Abort", aborts), 0);
                }
        }
        assert_int_equal(writer_log_count(f->w, "event=BackupComplete"), 0);

        /* And the next backup is fine, the writer STABLE at its end. */
        run(f, (const char *const[]) { "backup", "--type", "full", f->volume, "--to", f->backups, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "writer \"dbwriter\": stable"));
        assert_int_equal(vb_run_backup_path(&r, &path), 0);
        free(path);
        vb_run_done(&r);
        assert_int_equal(count_backups(f->backups), 1);
}

/* A signal while vssbackup waits in DoSnapshotSet (the writer is slow to prepare): cancelled, aborted. */
static void test_interrupt_in_do_snapshot_set(void **state) {
        Fixture *f = *state;
        unsigned serial = f->serial++;
        VbRun r = {};
        pid_t pid;

        assert_int_equal(vb_start(f->h->socket_path, f->h->dir, serial,
                                  (const char *const[]) { "backup", "--type", "full", f->volume, "--to", f->backups,
                                                          NULL }, &pid), 0);
        assert_int_equal(writer_log_wait(f->w, "begin=PrepareForSnapshot", 1), 0);
        assert_int_equal(kill(pid, SIGINT), 0);
        assert_int_equal(vb_finish(pid, f->h->dir, serial, &r), 0);
        assert_interrupted_cleanly(f, &r, SIGINT, "DoSnapshotSet");
        vb_run_done(&r);
        assert_int_equal(writer_log_wait(f->w, "event=Abort", 1), 0);
        assert_int_equal(writer_log_count(f->w, "event=Freeze"), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Waiting its turn                                                                           */
/* ------------------------------------------------------------------------------------------ */

/*
 * A, then B as soon as A holds the snapshot slot (its writer is inside PrepareForSnapshot, for
 * 1.5 s). B runs without writers, so nothing but the slot or the lock makes it wait.
 */
static void two_together(Fixture *f, const char *vol_a, const char *dir_a, const char *vol_b, const char *dir_b,
                         const char *expect_wait) {
        unsigned sa = f->serial++, sb = f->serial++;
        unsigned prepared = writer_log_count(f->w, "begin=PrepareForSnapshot");
        VbRun ra = {}, rb = {};
        pid_t pa, pb;

        assert_int_equal(vb_start(f->h->socket_path, f->h->dir, sa,
                                  (const char *const[]) { "backup", "--type", "full", vol_a, "--to", dir_a, "--wait",
                                                          "60", NULL }, &pa), 0);
        assert_int_equal(writer_log_wait(f->w, "begin=PrepareForSnapshot", prepared + 1), 0);
        assert_int_equal(vb_start(f->h->socket_path, f->h->dir, sb,
                                  (const char *const[]) { "backup", "--type", "full", vol_b, "--to", dir_b, "--wait",
                                                          "60", "--no-writers", NULL }, &pb), 0);
        assert_int_equal(vb_finish(pa, f->h->dir, sa, &ra), 0);
        assert_int_equal(vb_finish(pb, f->h->dir, sb, &rb), 0);
        if (ra.exit_status != 0 || rb.exit_status != 0)
                fail_msg("exits %d and %d:\n%s\n%s", ra.exit_status, rb.exit_status, ra.err, rb.err);
        /* One of them met the other and waited (which one depends on the scheduler). */
        if (!strstr(ra.err, expect_wait) && !strstr(rb.err, expect_wait))
                fail_msg("neither waited (\"%s\"):\n%s\n%s", expect_wait, ra.err, rb.err);
        vb_run_done(&ra);
        vb_run_done(&rb);
}

static void test_two_together(void **state) {
        Fixture *f = *state;
        char other[4096];

        snprintf(other, sizeof(other), "%s/backups2", f->h->dir);
        /* Different volumes and directories: the second waits for the snapshot slot. */
        two_together(f, f->volume, f->backups, f->volume2, other, "another snapshot set is being created");
        assert_int_equal(count_backups(f->backups), 1);
        assert_int_equal(count_backups(other), 1);
        /* The same directory: the second waits for the first to finish with it. */
        two_together(f, f->volume, f->backups, f->volume2, f->backups, "another vssbackup is writing to");
        assert_int_equal(count_backups(f->backups), 3);
}

/* --wait 0 gives up at once, with the remedy. */
static void test_wait_zero(void **state) {
        Fixture *f = *state;
        unsigned sa = f->serial++;
        VbRun ra = {}, rb = {};
        char other[4096];
        pid_t pa;

        snprintf(other, sizeof(other), "%s/backups2", f->h->dir);
        assert_int_equal(vb_start(f->h->socket_path, f->h->dir, sa,
                                  (const char *const[]) { "backup", "--type", "full", f->volume, "--to", f->backups,
                                                          NULL }, &pa), 0);
        assert_int_equal(writer_log_wait(f->w, "begin=PrepareForSnapshot", 1), 0);
        run(f, (const char *const[]) { "backup", "--type", "full", f->volume2, "--to", other, "--wait", "0",
                                       "--no-writers", NULL }, &rb);
        assert_int_equal(rb.exit_status, VB_EXIT_FAILED_TEST);
        assert_non_null(strstr(rb.err, "--wait"));
        assert_int_equal(vb_finish(pa, f->h->dir, sa, &ra), 0);
        assert_int_equal(ra.exit_status, 0);
        vb_run_done(&ra);
        vb_run_done(&rb);
}

/* ------------------------------------------------------------------------------------------ */
/* verify, prune                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void flip_byte(const char *path, off_t at) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        unsigned char c;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0x40;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
        close(fd);
}

static void test_verify_chain(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = backup_ok(f, "full", f->volume, f->backups);
        _cleanup_free_ char *inc = NULL;
        char archive[4096];
        VbRun r = {};

        write_file(f->volume, "a/one.txt", "one, changed\n");
        inc = backup_ok(f, "incremental", f->volume, f->backups);

        run(f, (const char *const[]) { "verify", inc, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "Verify: OK"));
        assert_non_null(strstr(r.out, "chain: 2 backup(s)"));
        vb_run_done(&r);

        snprintf(archive, sizeof(archive), "%s/vol-0.tar.zst", full);
        flip_byte(archive, 200);

        /* The incremental itself is sound, but it cannot be restored: verify says so. */
        run(f, (const char *const[]) { "verify", inc, NULL }, &r);
        assert_int_equal(r.exit_status, VB_EXIT_FAILED_TEST);
        assert_non_null(strstr(r.out, "Verify: FAILED"));
        assert_non_null(strstr(r.out, "DAMAGED, and"));
        vb_run_done(&r);
        run(f, (const char *const[]) { "verify", inc, "--json", NULL }, &r);
        assert_int_equal(r.exit_status, VB_EXIT_FAILED_TEST);
        assert_non_null(strstr(r.out, "\"ok\": false"));
        assert_non_null(strstr(r.out, "\"chain\": [{\"name\": "));
        vb_run_done(&r);
        /* --only: the one backup, which is fine. */
        run(f, (const char *const[]) { "verify", inc, "--only", NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        vb_run_done(&r);
        run(f, (const char *const[]) { "verify", full, NULL }, &r);
        assert_int_equal(r.exit_status, VB_EXIT_FAILED_TEST);
        vb_run_done(&r);
}

static void test_prune(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full1 = backup_ok(f, "full", f->volume, f->backups);
        _cleanup_free_ char *inc1 = backup_ok(f, "incremental", f->volume, f->backups);
        _cleanup_free_ char *full2 = NULL, *inc2 = NULL, *inc3 = NULL;
        VbRun r = {};

        write_file(f->volume, "f1.txt", "changed\n");
        full2 = backup_ok(f, "full", f->volume, f->backups);
        inc2 = backup_ok(f, "incremental", f->volume, f->backups);
        write_file(f->volume, "f2.txt", "changed\n");
        inc3 = backup_ok(f, "incremental", f->volume, f->backups);
        assert_int_equal(count_backups(f->backups), 5);

        /* No rule: refused, nothing removed. */
        run(f, (const char *const[]) { "prune", "--to", f->backups, NULL }, &r);
        assert_int_equal(r.exit_status, VB_EXIT_USAGE_TEST);
        vb_run_done(&r);
        assert_int_equal(count_backups(f->backups), 5);

        /* Dry run: the plan, nothing removed. */
        run(f, (const char *const[]) { "prune", "--to", f->backups, "--keep-last", "1", "--dry-run", "--json", NULL },
            &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "\"dry_run\": true"));
        assert_non_null(strstr(r.out, "\"kept\": 3"));
        vb_run_done(&r);
        assert_int_equal(count_backups(f->backups), 5);

        /* keep-last 1 keeps inc3 and the chain it needs (inc2, full2); full1 and inc1 go. */
        run(f, (const char *const[]) { "prune", "--to", f->backups, "--keep-last", "1", "--json", NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "\"reasons\": [\"last\"]"));
        assert_int_equal(count_lines_with(r.out, "\"reasons\": [\"chain\"]"), 2);
        assert_non_null(strstr(r.out, "\"removed\": 2"));
        vb_run_done(&r);
        assert_int_equal(count_backups(f->backups), 3);
        assert_false(exists(full1, "manifest"));
        assert_false(exists(inc1, "manifest"));
        assert_true(exists(full2, "manifest"));
        assert_true(exists(inc2, "manifest"));
        assert_int_equal(count_entries(f->backups, VB_TMP_PREFIX_TEST), 0);

        /* What is left still restores and verifies whole. */
        run(f, (const char *const[]) { "verify", inc3, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        vb_run_done(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* Scope: excludes, ls, include                                                               */
/* ------------------------------------------------------------------------------------------ */

static void test_exclude_ls_include(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *b = NULL;
        char excl[4096], target[4096], anchored[4096];
        VbRun r = {};

        snprintf(excl, sizeof(excl), "%s/excludes", f->h->dir);
        snprintf(anchored, sizeof(anchored), "# anchored\n%s/b/skip.txt\n", f->volume);
        write_file(f->h->dir, "excludes", anchored);
        run(f, (const char *const[]) { "backup", "--type", "full", f->volume, "--to", f->backups, "--exclude", "*.tmp",
                                       "--exclude", "cache", "--exclude-file", excl, "--json", NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "\"result\": \"ok\""));
        {
                const char *p = strstr(r.out, "\"backup\": \"");

                assert_non_null(p);
                p += strlen("\"backup\": \"");
                b = strndup(p, (size_t) (strchr(p, '"') - p));
        }
        vb_run_done(&r);

        run(f, (const char *const[]) { "ls", b, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "/a/one.txt\n"));
        assert_non_null(strstr(r.out, "/b/keep.txt\n"));
        assert_null(strstr(r.out, "two.tmp"));
        assert_null(strstr(r.out, "cache"));
        assert_null(strstr(r.out, "skip.txt"));
        /* The writer's file is there: a writer's components are not the user's to exclude. */
        assert_non_null(strstr(r.out, "/db/data.db\n"));
        vb_run_done(&r);

        run(f, (const char *const[]) { "ls", b, "b", NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "/b/keep.txt\n"));
        assert_null(strstr(r.out, "one.txt"));
        vb_run_done(&r);
        run(f, (const char *const[]) { "ls", b, "nothing-here", NULL }, &r);
        assert_int_equal(r.exit_status, VB_EXIT_FAILED_TEST);
        vb_run_done(&r);

        /* A partial restore: a/ only, files only (no writer takes part). */
        snprintf(target, sizeof(target), "%s/partial", f->h->dir);
        run(f, (const char *const[]) { "restore", b, "--to", target, "--include", "a", "--json", NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_non_null(strstr(r.out, "\"restored\": "));
        assert_non_null(strstr(r.err, "(--include)"));
        vb_run_done(&r);
        assert_true(exists(target, "a/one.txt"));
        assert_false(exists(target, "a/two.tmp"));
        assert_false(exists(target, "b"));
        assert_false(exists(target, "db/data.db"));
        assert_false(exists(target, "f1.txt"));
        assert_int_equal(writer_log_count(f->w, "event=PreRestore"), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Scheduled backups                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* The ExecStart= of the generated vssbackup@.service, with %i and the install paths made local. */
static char *service_command(Fixture *f, const char *instance_dir) {
        _cleanup_free_ char *unit = NULL;
        char path[4096], *line, *end, *cmd;
        const char *builddir = getenv("VSS_TEST_BUILDDIR");

        assert_non_null(builddir);
        snprintf(path, sizeof(path), "%s/src/tools/vssbackup@.service", builddir);
        assert_int_equal(read_file_full(path, &unit, NULL), 0);
        line = strstr(unit, "\nExecStart=");
        assert_non_null(line);
        line += strlen("\nExecStart=");
        end = strchr(line, '\n');
        assert_non_null(end);
        *end = 0;
        /* "<bindir>/vssbackup scheduled --config /etc/vss/backup/%i.conf" */
        assert_non_null(strstr(line, "/vssbackup scheduled --config /etc/vss/backup/%i.conf"));
        assert_true(asprintf(&cmd, "%s%s", getenv("VSSBACKUP"), strstr(line, " scheduled")) > 0);
        {
                char *at = strstr(cmd, "/etc/vss/backup/%i.conf"), *fixed = NULL;

                *at = 0;
                assert_true(asprintf(&fixed, "%s%s/test.conf", cmd, instance_dir) > 0);
                free(cmd);
                cmd = fixed;
        }
        (void) f;
        return cmd;
}

/* Runs cmd split at spaces (the unit's command line has no quoting); returns its VbRun. */
static void run_command_line(Fixture *f, char *cmd, VbRun *ret) {
        const char *args[16];
        size_t n = 0;
        char *save = NULL;

        /* vb_run adds $VSSBACKUP itself: pass the words after it. */
        (void) strtok_r(cmd, " ", &save);
        for (char *w = strtok_r(NULL, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                assert_true(n < ELEMENTSOF(args) - 1);
                args[n++] = w;
        }
        args[n] = NULL;
        run(f, args, ret);
}

static void test_scheduled_service(void **state) {
        Fixture *f = *state;
        char conf[8192], sched[4096];
        VbRun r = {};

        snprintf(sched, sizeof(sched), "%s/scheduled", f->h->dir);
        snprintf(conf, sizeof(conf),
                 "# a sample instance\n"
                 "path = %s/a\n"
                 "path = %s/b\n"
                 "to = %s\n"
                 "type = auto\n"
                 "full-every = 7\n"
                 "exclude = *.tmp\n"
                 "wait = 60\n"
                 "keep-last = 1\n",
                 f->volume, f->volume, sched);
        write_file(f->h->dir, "test.conf", conf);

        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *cmd = service_command(f, f->h->dir);

                run_command_line(f, cmd, &r);
                if (r.exit_status != 0)
                        fail_msg("scheduled run %d exited %d:\n%s", i, r.exit_status, r.err);
                /* The first is a full, the second an incremental on it ("type = auto"), then the prune. */
                assert_non_null(strstr(r.out, i == 0 ? "full backup " : "incremental backup "));
                assert_non_null(strstr(r.out, "kept"));
                vb_run_done(&r);
        }
        /* keep-last 1: the incremental and the full it needs. */
        assert_int_equal(count_backups(sched), 2);

        /* A bad key is refused with its line. */
        write_file(f->h->dir, "test.conf", "path = /srv\nto = /tmp/x\ncolour = blue\n");
        {
                _cleanup_free_ char *cmd = service_command(f, f->h->dir);

                run_command_line(f, cmd, &r);
        }
        assert_int_equal(r.exit_status, VB_EXIT_USAGE_TEST);
        assert_non_null(strstr(r.err, "test.conf:3: unknown key \"colour\""));
        vb_run_done(&r);
}

/* systemd-analyze verify of the service (its ExecStart pointed at the built program) and the timer. */
static void test_units_verify(void **state) {
        Fixture *f = *state;
        const char *builddir = getenv("VSS_TEST_BUILDDIR"), *srcdir = getenv("VSS_TEST_SRCDIR");
        _cleanup_free_ char *unit = NULL, *timer = NULL, *fixed = NULL;
        char path[4096], svc[4096], tim[4096];
        const char *bin;
        int status;
        pid_t pid;

        if (access("/usr/bin/systemd-analyze", X_OK) < 0 && access("/bin/systemd-analyze", X_OK) < 0) {
                print_message("systemd-analyze is not installed: units not verified\n");
                return;
        }
        snprintf(path, sizeof(path), "%s/src/tools/vssbackup@.service", builddir);
        assert_int_equal(read_file_full(path, &unit, NULL), 0);
        snprintf(path, sizeof(path), "%s/data/vssbackup@.timer", srcdir);
        assert_int_equal(read_file_full(path, &timer, NULL), 0);
        bin = strstr(unit, "ExecStart=");
        assert_non_null(bin);
        {
                const char *start = bin + strlen("ExecStart="), *sp = strstr(start, " scheduled");

                assert_true(asprintf(&fixed, "%.*s%s%s", (int) (start - unit), unit, getenv("VSSBACKUP"), sp) > 0);
        }
        snprintf(svc, sizeof(svc), "%s/vssbackup@t.service", f->h->dir);
        snprintf(tim, sizeof(tim), "%s/vssbackup@t.timer", f->h->dir);
        write_file(f->h->dir, "vssbackup@t.service", fixed);
        write_file(f->h->dir, "vssbackup@t.timer", timer);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execlp("systemd-analyze", "systemd-analyze", "verify", "--man=no", svc, tim, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* vshadow                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Starts $VSHADOW with args; its output goes to <dir>/vshadow-<serial>.{out,err}. */
static pid_t vshadow_start(Fixture *f, unsigned serial, const char *const *args) {
        char out[4096], err[4096];
        const char *argv[24];
        size_t n = 0;
        pid_t pid;

        snprintf(out, sizeof(out), "%s/vshadow-%u.out", f->h->dir, serial);
        snprintf(err, sizeof(err), "%s/vshadow-%u.err", f->h->dir, serial);
        argv[n++] = getenv("VSHADOW");
        assert_non_null(argv[0]);
        for (size_t i = 0; args[i]; i++) {
                assert_true(n < ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0 ||
                    setenv("VSS_SOCKET", f->h->socket_path, 1) < 0)
                        _exit(127);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        return pid;
}

/* Reaps it: its exit status, its stderr in *ret_err (malloc'd). */
static int vshadow_finish(Fixture *f, unsigned serial, pid_t pid, char **ret_err) {
        char err[4096];
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        snprintf(err, sizeof(err), "%s/vshadow-%u.err", f->h->dir, serial);
        assert_int_equal(read_file_full(err, ret_err, NULL), 0);
        return WEXITSTATUS(status);
}

static void vshadow_assert_interrupted(Fixture *f, int status, const char *err, int sig) {
        if (status != 128 + sig)
                fail_msg("vshadow exited %d, expected %d:\n%s", status, 128 + sig, err);
        assert_int_equal(count_lines_with(err, "interrupted by"), 1);
        assert_non_null(strstr(err, "no snapshot was kept"));
        wait_no_snapshots();
        (void) f;
}

static void test_vshadow_interrupts(void **state) {
        Fixture *f = *state;
        unsigned aborts = 0, serial;
        char err_path[4096];
        char *err = NULL;
        pid_t pid;
        int st;

        /* SIGINT at a named point after PrepareForBackup. */
        serial = f->serial++;
        assert_int_equal(setenv("VSS_TEST_PAUSE_AT", "prepared", 1), 0);
        pid = vshadow_start(f, serial, (const char *const[]) { f->volume, NULL });
        assert_int_equal(unsetenv("VSS_TEST_PAUSE_AT"), 0);
        snprintf(err_path, sizeof(err_path), "%s/vshadow-%u.err", f->h->dir, serial);
        wait_for_text(err_path, "paused at prepared\n");
        assert_int_equal(kill(pid, SIGINT), 0);
        st = vshadow_finish(f, serial, pid, &err);
        vshadow_assert_interrupted(f, st, err, SIGINT);
        free(err);
        assert_int_equal(writer_log_wait(f->w, "event=Abort", ++aborts), 0);

        /* -p: the set is made and persistent; an interrupt before BackupComplete deletes it. */
        serial = f->serial++;
        assert_int_equal(setenv("VSS_TEST_PAUSE_AT", "snapshot", 1), 0);
        pid = vshadow_start(f, serial, (const char *const[]) { "-p", f->volume, NULL });
        assert_int_equal(unsetenv("VSS_TEST_PAUSE_AT"), 0);
        snprintf(err_path, sizeof(err_path), "%s/vshadow-%u.err", f->h->dir, serial);
        wait_for_text(err_path, "paused at snapshot\n");
        assert_true(count_snapshots() >= 1);
        assert_int_equal(kill(pid, SIGINT), 0);
        st = vshadow_finish(f, serial, pid, &err);
        vshadow_assert_interrupted(f, st, err, SIGINT);
        free(err);
        assert_int_equal(writer_log_wait(f->w, "event=Abort", ++aborts), 0);

        /* SIGTERM while the command runs: passed on to it, then the backup is aborted. */
        serial = f->serial++;
        pid = vshadow_start(f, serial, (const char *const[]) { "-exec=echo started; exec sleep 30", f->volume, NULL });
        snprintf(err_path, sizeof(err_path), "%s/vshadow-%u.out", f->h->dir, serial);
        wait_for_text(err_path, "started\n");
        assert_int_equal(kill(pid, SIGTERM), 0);
        st = vshadow_finish(f, serial, pid, &err);
        vshadow_assert_interrupted(f, st, err, SIGTERM);
        free(err);
        assert_int_equal(writer_log_wait(f->w, "event=Abort", ++aborts), 0);
        assert_int_equal(writer_log_count(f->w, "event=BackupComplete"), 0);

        /* And the next run is fine. */
        serial = f->serial++;
        pid = vshadow_start(f, serial, (const char *const[]) { "-exec=test -d \"$VSHADOW_PATH_0\"", f->volume, NULL });
        st = vshadow_finish(f, serial, pid, &err);
        if (st != 0)
                fail_msg("vshadow exited %d:\n%s", st, err);
        free(err);
        assert_int_equal(writer_log_wait(f->w, "event=BackupComplete", 1), 0);
}

/* vshadow waits its turn behind a backup whose set is in creation, then succeeds. */
static void test_vshadow_waits_its_turn(void **state) {
        Fixture *f = *state;
        unsigned sa = f->serial++, sb = f->serial++;
        char *err = NULL;
        VbRun ra = {};
        pid_t pa, pb;
        int st;

        assert_int_equal(vb_start(f->h->socket_path, f->h->dir, sa,
                                  (const char *const[]) { "backup", "--type", "full", f->volume, "--to", f->backups,
                                                          NULL }, &pa), 0);
        assert_int_equal(writer_log_wait(f->w, "begin=PrepareForSnapshot", 1), 0);
        pb = vshadow_start(f, sb, (const char *const[]) { "-nw", "-waitset=60", f->volume2, NULL });
        st = vshadow_finish(f, sb, pb, &err);
        if (st != 0)
                fail_msg("vshadow exited %d:\n%s", st, err);
        assert_non_null(strstr(err, "another snapshot set is being created"));
        free(err);
        assert_int_equal(vb_finish(pa, f->h->dir, sa, &ra), 0);
        assert_int_equal(ra.exit_status, 0);
        vb_run_done(&ra);
}

/* The new options' usage errors: status 1, nothing done. */
static void test_usage(void **state) {
        Fixture *f = *state;
        const char *const *const cases[] = {
                (const char *const[]) { "restore", "x", "--to", "y", "--json", "--report", "-", NULL },
                (const char *const[]) { "scheduled", "--config", "x", "--json", NULL },
                (const char *const[]) { "backup", "--type", "full", "/", "--to", "/tmp/x", "--exclude", "", NULL },
                (const char *const[]) { "backup", "--type", "full", "/", "--to", "/tmp/x", "--wait", "-1", NULL },
                (const char *const[]) { "prune", "--to", "/tmp", "--keep-daily", "x", NULL },
                (const char *const[]) { "ls", NULL },
                (const char *const[]) { "verify", "a", "b", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                VbRun r = {};

                run(f, cases[i], &r);
                if (r.exit_status != VB_EXIT_USAGE_TEST)
                        fail_msg("case %zu (%s): exit %d\n%s", i, cases[i][0], r.exit_status, r.err);
                vb_run_done(&r);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_interrupt_points, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupt_in_do_snapshot_set, setup_slow, teardown),
                cmocka_unit_test_setup_teardown(test_two_together, setup_slow, teardown),
                cmocka_unit_test_setup_teardown(test_wait_zero, setup_slow, teardown),
                cmocka_unit_test_setup_teardown(test_verify_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exclude_ls_include, setup, teardown),
                cmocka_unit_test_setup_teardown(test_scheduled_service, setup, teardown),
                cmocka_unit_test_setup_teardown(test_units_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vshadow_interrupts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vshadow_waits_its_turn, setup_slow, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

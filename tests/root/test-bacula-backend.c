/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bacula-backend.c: vss-bacula driven exactly as Bacula's File Daemon drives its
 * Snapshot Command (src/filed/fd_snapshot.c): one short process per action, the arguments in
 * SNAPSHOT_* variables and nothing else in the environment, the answer read from stdout, and
 * the calling process as "the File Daemon" (the agent watches the backend's parent). Against
 * the real vssd on two loop-mounted btrfs volumes (plus a third that is asked about but never
 * created), with a real writer process (vss-test-writer) whose component lies on volume A and
 * which logs every event it sees.
 *
 * What holds:
 *   - one snapshot set of exactly the created volumes, the writer frozen once; the snapshots
 *     read as directories holding the files; job-end OK gives the writer BackupComplete with
 *     backup_succeeded=1 and the job's backup type; the document kept; nothing left after;
 *   - the last delete without job-begin/job-end: backup_succeeded=0, backup type COPY; with
 *     job-begin but no job-end: the same after --linger, with the job's backup type;
 *   - vssd unreachable: support answers why, and job-end fails (the files were read live);
 *   - the "File Daemon" SIGKILLed mid-job: the agent ends, the writer thawed and shut down,
 *     no snapshot left;
 *   - two jobs at once while the first set is slow (the writer hangs in Freeze): both sets
 *     are taken; a job whose set is due while another requester holds the set in creation
 *     waits for it (StartSnapshotSet retried) instead of failing;
 *   - a restore in place: restore-begin gives the writer PreRestore from the kept document,
 *     restore-end PostRestore with file restore status ALL; the File Daemon killed mid-restore
 *     still gives PostRestore, with FAILED;
 *   - previous stamps: after a Full whose writer set a stamp, an Incremental's writer sees that
 *     stamp as previous; a Differential after the Incremental sees the Full's; a failed job's
 *     document is never built on (the writer restarted before each job: a new instance id);
 *   - hostile input: every bad variable, value or action answers status=0 with a reason and
 *     exit status 1; a session whose volumes were all refused ends after --idle.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "macro.h"
#include "root-harness.h"
#include "vss/vss.h"

#define IMAGE_SIZE (300ULL * 1024 * 1024)
#define WAIT_MS 10000
#define OUT_MAX 8192

typedef struct Fixture {
        LoopBtrfs vol[3];       /* a, b: created; c: asked about (support) only */
        char *dir;              /* vol[0].dir: sockets, state, logs */
        char *socket;
        char *run_dir;
        char *state_dir;
        char *writer_log;
        pid_t vssd;
        pid_t writer;
        const char *stamp;      /* the writer's --stamp, NULL for none */
} Fixture;

static char *pathf(const char *fmt, ...) _printf_(1, 2);
static char *pathf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Running vss-bacula as the File Daemon does                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * One backend call: env holds "NAME=value" strings (NULL-terminated), the only environment the
 * program gets. Returns the exit status; *out gets stdout.
 */
static int backend(Fixture *f, char *const env[], char *out, size_t size) {
        char *argv[] = { getenv("VSS_BACULA"), (char *) "--socket", f->socket, (char *) "--run-dir", f->run_dir,
                         (char *) "--state-dir", f->state_dir, (char *) "--wait-set", (char *) "60", (char *) "--idle", (char *) "4", NULL };
        int pipefd[2], status;
        size_t len = 0;
        pid_t pid;

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                execve(argv[0], argv, env);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                ssize_t n = read(pipefd[0], out + len, size - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        out[len] = '\0';
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* An action on volume v (-1: none) of job: the variables the File Daemon sets for it. */
static int action(Fixture *f, const char *act, const char *job, int v, char *out) {
        char *env[8] = {};
        size_t n = 0;
        int r;

        env[n++] = pathf("SNAPSHOT_ACTION=%s", act);
        env[n++] = pathf("SNAPSHOT_NAME=%s", job);
        if (v >= 0) {
                env[n++] = pathf("SNAPSHOT_DEVICE=%s", f->vol[v].loop_path);
                env[n++] = pathf("SNAPSHOT_MOUNTPOINT=%s", f->vol[v].mnt);
                env[n++] = pathf("SNAPSHOT_FSTYPE=btrfs");
                if (!streq(act, "support"))
                        env[n++] = pathf("SNAPSHOT_TYPE=vss");
        }
        r = backend(f, env, out, OUT_MAX);
        for (size_t i = 0; i < n; i++)
                free(env[i]);
        return r;
}

/* The action must succeed: exit 0 and "status=1". */
static void ok(Fixture *f, const char *act, const char *job, int v, char *out) {
        int r = action(f, act, job, v, out);

        if (r != 0 || strncmp(out, "status=1", 8) != 0)
                fail_msg("%s of volume %d in %s: exit %d: %s", act, v, job, r, out);
}

/* A subcommand (job-begin, job-end, restore-begin, restore-end); returns its exit status. */
static int subcommand(Fixture *f, const char *cmd, const char *job, const char *opt, const char *val) {
        char *argv[] = { getenv("VSS_BACULA"), (char *) "--socket", f->socket, (char *) "--run-dir", f->run_dir,
                         (char *) "--state-dir", f->state_dir, (char *) "--linger", (char *) "3", (char *) cmd,
                         (char *) "--job", (char *) job,
                         (char *) opt, (char *) val, NULL };
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                execve(argv[0], argv, (char *[]) { NULL });
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The value of key="..." in a backend answer (malloc'd), or NULL. */
static char *answer_value(const char *out, const char *key) {
        _cleanup_free_ char *k = pathf(" %s=\"", key);
        const char *p = strstr(out, k), *end;

        if (!p)
                return NULL;
        p += strlen(k);
        end = strchr(p, '"');
        return end ? strndup(p, (size_t) (end - p)) : NULL;
}

static size_t count_lines(const char *log, const char *needle) {
        size_t n = 0;

        for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *writer_log(Fixture *f) {
        char *s = NULL;
        size_t size;

        if (read_file_full(f->writer_log, &s, &size) < 0)
                return strdup("");
        return s;
}

/* Wait until the writer's log holds needle (the writer writes after the requester moves on). */
static void wait_log(Fixture *f, const char *needle, size_t count) {
        uint64_t end = now_usec() + WAIT_MS * 1000ULL;

        for (;;) {
                _cleanup_free_ char *log = writer_log(f);

                if (count_lines(log, needle) >= count)
                        return;
                if (now_usec() > end)
                        fail_msg("the writer never logged %zu x '%s':\n%s", count, needle, log);
                usleep(20000);
        }
}

static size_t dir_entries(const char *path) {
        _cleanup_free_ char *cmd = pathf("ls -A '%s' 2>/dev/null | wc -l", path);
        FILE *p = popen(cmd, "r");
        unsigned long n = 0;

        assert_non_null(p);
        if (fscanf(p, "%lu", &n) != 1)
                n = 0;
        pclose(p);
        return n;
}

/* No agent socket left, and no snapshot left on any volume. */
static void assert_nothing_left(Fixture *f, const char *job_sock_glob_dir) {
        uint64_t end = now_usec() + WAIT_MS * 1000ULL;

        for (;;) {
                _cleanup_free_ char *cmd = pathf("ls '%s' 2>/dev/null | grep -c '\\.sock$'", job_sock_glob_dir);
                FILE *p = popen(cmd, "r");
                unsigned long socks = 0;
                size_t snaps = 0;

                assert_non_null(p);
                if (fscanf(p, "%lu", &socks) != 1)
                        socks = 0;
                pclose(p);
                for (int v = 0; v < 3; v++) {
                        _cleanup_free_ char *d = pathf("%s/.vss-snapshots", f->vol[v].mnt);

                        snaps += dir_entries(d);
                }
                if (socks == 0 && snaps == 0)
                        return;
                if (now_usec() > end)
                        fail_msg("left behind: %lu agent socket(s), %zu snapshot(s)", socks, snaps);
                usleep(50000);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int start_writer(Fixture *f, const char *hang) {
        _cleanup_free_ char *files = pathf("%s/db", f->vol[0].mnt);
        char *argv[16] = { getenv("VSS_TEST_WRITER"), (char *) "--name", (char *) "bacula-test-writer",
                           (char *) "--class", (char *) "6f1c3a52-1d1e-4c2b-9a55-2b7f0d6b1a10",
                           (char *) "--component", (char *) ":db1", (char *) "--file", files,
                           (char *) "--log", f->writer_log };
        size_t n = 11;
        uint64_t end = now_usec() + WAIT_MS * 1000ULL;
        int r;

        if (f->stamp) {
                argv[n++] = (char *) "--stamp";
                argv[n++] = (char *) f->stamp;
        }
        if (hang) {
                argv[n++] = (char *) "--hang";
                argv[n++] = (char *) hang;
        }
        (void) unlink(f->writer_log);
        setenv("VSS_SOCKET", f->socket, 1);
        r = process_spawn_flags(argv, SPAWN_NULL_STDOUT, &f->writer);
        if (r < 0)
                return r;
        for (;;) {
                _cleanup_free_ char *log = writer_log(f);

                if (strstr(log, "subscribed instance="))
                        return 0;
                if (now_usec() > end)
                        return -ETIMEDOUT;
                usleep(20000);
        }
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        if (f->writer > 0)
                (void) process_stop(f->writer, 5000);
        if (f->vssd > 0)
                (void) process_stop(f->vssd, 5000);
        for (int v = 2; v >= 0; v--)
                (void) loop_btrfs_teardown(&f->vol[v]);
        free(f->socket);
        free(f->run_dir);
        free(f->state_dir);
        free(f->writer_log);
        free(f);
        *state = NULL;
        return 0;
}

static int fixture_setup_hang(void **state, const char *hang) {
        Fixture *f = calloc(1, sizeof(*f));
        _cleanup_free_ char *db = NULL, *file = NULL;
        int r;

        if (!f)
                return -1;
        *state = f;
        for (int v = 0; v < 3; v++) {
                f->vol[v].loop_fd = -EBADF;
                r = loop_btrfs_setup("/var/tmp/vss-bacula-XXXXXX", IMAGE_SIZE, &f->vol[v]);
                if (r < 0) {
                        fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                        goto fail;
                }
        }
        f->dir = f->vol[0].dir;
        f->socket = pathf("%s/vssd.sock", f->dir);
        f->run_dir = pathf("%s/run", f->dir);
        f->state_dir = pathf("%s/state", f->dir);
        f->writer_log = pathf("%s/writer.log", f->dir);
        db = pathf("%s/db", f->vol[0].mnt);
        file = pathf("%s/db/data", f->vol[0].mnt);
        if (mkdir(db, 0755) < 0 || mkdir(f->state_dir, 0700) < 0)
                goto fail;
        r = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (r < 0 || write(r, "consistent\n", 11) != 11)
                goto fail;
        close(r);

        {
                _cleanup_free_ char *vssd_state = pathf("%s/vssd-state", f->dir);

                if (mkdir(vssd_state, 0700) < 0)
                        goto fail;
                r = process_spawn((char *const[]) { getenv("VSSD"), (char *) "--no-config", (char *) "--socket",
                                                    f->socket, (char *) "--state-dir", vssd_state, NULL },
                                  &f->vssd, NULL);
        }
        if (r < 0)
                goto fail;
        r = unix_socket_wait(f->socket, f->vssd, WAIT_MS);
        if (r == -ESRCH)
                f->vssd = 0;
        if (r < 0 || start_writer(f, hang) < 0)
                goto fail;
        return 0;

fail:
        (void) fixture_teardown(state);
        return -1;
}

static int fixture_setup(void **state) {
        return fixture_setup_hang(state, NULL);
}

static int fixture_setup_slow_freeze(void **state) {
        return fixture_setup_hang(state, "freeze:1500");
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void test_one_set_success(void **state) {
        Fixture *f = *state;
        const char *job = "Nightly.2026-12-06_01.00.00_07";
        char out[OUT_MAX];
        _cleanup_free_ char *snap_a = NULL, *snap_b = NULL, *file = NULL, *bcd = NULL, *log = NULL;
        struct stat st;

        assert_int_equal(subcommand(f, "job-begin", job, "--level", "Incremental"), 0);
        /* As the File Daemon: subvolumes of every mount, support of each FileSet volume, then
         * support of a mount outside the FileSet, interleaved with the creates. */
        ok(f, "subvolumes", job, 0, out);
        ok(f, "support", job, 0, out);
        assert_non_null(strstr(out, "type=\"vss\""));
        ok(f, "support", job, 1, out);
        ok(f, "support", job, 2, out);
        ok(f, "create", job, 0, out);
        ok(f, "create", job, 1, out);
        ok(f, "mount", job, 0, out);
        snap_a = answer_value(out, "snapmountpoint");
        ok(f, "mount", job, 1, out);
        snap_b = answer_value(out, "snapmountpoint");
        assert_non_null(snap_a);
        assert_non_null(snap_b);

        /* The files read from the snapshot; one set, the writer frozen once, on 2 volumes. */
        file = pathf("%s/db/data", snap_a);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, 11);
        assert_int_equal(stat(snap_b, &st), 0);
        log = writer_log(f);
        assert_int_equal(count_lines(log, "event=Freeze"), 1);
        assert_non_null(strstr(log, "event=Freeze set="));
        assert_non_null(strstr(log, "volumes=2"));
        assert_non_null(strstr(log, "event=PrepareForBackup set=- getsetid=VSS_E_BAD_STATE backup_type=2"));
        assert_int_equal(count_lines(log, "event=BackupComplete"), 0);

        ok(f, "unmount", job, 0, out);
        ok(f, "delete", job, 0, out);
        ok(f, "unmount", job, 1, out);
        ok(f, "delete", job, 1, out);
        /* The File Daemon has read everything, the Storage Daemon has not confirmed yet. */
        free(log);
        log = writer_log(f);
        assert_int_equal(count_lines(log, "event=BackupComplete"), 0);

        assert_int_equal(subcommand(f, "job-end", job, "--status", "OK"), 0);
        wait_log(f, "event=BackupShutdown", 1);
        free(log);
        log = writer_log(f);
        assert_non_null(strstr(log, "event=BackupComplete set=- getsetid=VSS_E_BAD_STATE backup_type=2"));
        assert_non_null(strstr(log, "components=db1:1"));
        assert_int_equal(count_lines(log, "event=Thaw"), 1);

        bcd = pathf("%s/%s.xml", f->state_dir, job);
        assert_int_equal(stat(bcd, &st), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_nothing_left(f, f->run_dir);
}

static void test_delete_without_outcome(void **state) {
        Fixture *f = *state;
        const char *job = "NoRunScript.2026-12-06_02.00.00_08";
        char out[OUT_MAX];
        _cleanup_free_ char *log = NULL;

        ok(f, "support", job, 0, out);
        ok(f, "create", job, 0, out);
        ok(f, "mount", job, 0, out);
        ok(f, "unmount", job, 0, out);
        ok(f, "delete", job, 0, out);
        wait_log(f, "event=BackupShutdown", 1);
        log = writer_log(f);
        /* No job-begin: a copy backup; no job-end: nothing says the data is safe. */
        assert_non_null(strstr(log, "backup_type=5"));
        assert_non_null(strstr(log, "components=db1:0"));
        assert_null(strstr(log, "components=db1:1"));
        assert_nothing_left(f, f->run_dir);
        /* job-end for a session that is over: nothing to do, and no error for the job. */
        assert_int_equal(subcommand(f, "job-end", job, "--status", "OK"), 0);
}

static void test_job_end_never_comes(void **state) {
        Fixture *f = *state;
        const char *job = "Lost.2026-12-06_02.30.00_18";
        char out[OUT_MAX];
        _cleanup_free_ char *log = NULL;

        /* job-begin promised a job-end that never comes (the After RunScript missing, say): after
         * the last delete the agent waits --linger (3 s here), then the writers hear "failed". */
        assert_int_equal(subcommand(f, "job-begin", job, "--level", "Differential"), 0);
        ok(f, "support", job, 0, out);
        ok(f, "create", job, 0, out);
        ok(f, "mount", job, 0, out);
        ok(f, "unmount", job, 0, out);
        ok(f, "delete", job, 0, out);
        log = writer_log(f);
        assert_int_equal(count_lines(log, "event=BackupComplete"), 0);
        wait_log(f, "event=BackupShutdown", 1);
        free(log);
        log = writer_log(f);
        assert_non_null(strstr(log, "backup_type=3"));
        assert_non_null(strstr(log, "components=db1:0"));
        assert_nothing_left(f, f->run_dir);
}

static void test_vssd_unreachable(void **state) {
        Fixture *f = *state;
        const char *job = "NoVssd.2026-12-06_02.45.00_20";
        char *saved = f->socket, out[OUT_MAX];

        /* vssd is not there: support says so, the File Daemon reads the files live, and job-end
         * fails (status 2) so that FailJobOnError turns the job into a failure. */
        f->socket = (char *) "/nonexistent/vssd.sock";
        assert_int_equal(subcommand(f, "job-begin", job, "--level", "Full"), 0);
        assert_int_equal(action(f, "support", job, 0, out), 1);
        if (!strstr(out, "status=0 error=\"") || !strstr(out, "vssd cannot be reached"))
                fail_msg("support without vssd: %s", out);
        assert_int_equal(subcommand(f, "job-end", job, "--status", "OK"), 2);
        f->socket = saved;
        assert_nothing_left(f, f->run_dir);
}

static void test_fd_killed(void **state) {
        Fixture *f = *state;
        const char *job = "Killed.2026-12-06_03.00.00_09";
        _cleanup_free_ char *log = NULL;
        int sync_pipe[2], status;
        pid_t fd;
        char c;

        assert_int_equal(pipe2(sync_pipe, O_CLOEXEC), 0);
        fd = fork();
        assert_true(fd >= 0);
        if (fd == 0) {
                /* The "File Daemon": begins the job, takes the snapshots, then is killed mid-read. */
                char out[OUT_MAX];

                close(sync_pipe[0]);
                if (subcommand(f, "job-begin", job, "--level", "Full") != 0 ||
                    action(f, "support", job, 0, out) != 0 || action(f, "support", job, 1, out) != 0 ||
                    action(f, "create", job, 0, out) != 0 || action(f, "create", job, 1, out) != 0 ||
                    action(f, "mount", job, 0, out) != 0 || action(f, "mount", job, 1, out) != 0)
                        _exit(1);
                (void) write(sync_pipe[1], "m", 1);
                pause();
                _exit(0);
        }
        close(sync_pipe[1]);
        assert_int_equal(read(sync_pipe[0], &c, 1), 1);
        close(sync_pipe[0]);
        log = writer_log(f);
        assert_int_equal(count_lines(log, "event=Thaw"), 1);
        assert_int_equal(count_lines(log, "event=BackupShutdown"), 0);

        assert_int_equal(kill(fd, SIGKILL), 0);
        assert_int_equal(waitpid(fd, &status, 0), fd);

        wait_log(f, "event=BackupShutdown", 1);
        free(log);
        log = writer_log(f);
        assert_null(strstr(log, "components=db1:1"));
        assert_int_equal(count_lines(log, "event=Freeze"), count_lines(log, "event=Thaw"));
        assert_nothing_left(f, f->run_dir);
}

/*
 * One job as a child "File Daemon", exit 0 when every step answered status=1. It stops before
 * its first mount (which takes the set) until the byte on go arrives, so two jobs take their
 * sets at the same moment.
 */
static pid_t job_child(Fixture *f, const char *job, int v, int ready, int go) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                char out[OUT_MAX], c;

                if (subcommand(f, "job-begin", job, "--level", "Full") != 0 || action(f, "support", job, v, out) != 0 ||
                    action(f, "create", job, v, out) != 0 || write(ready, "r", 1) != 1 || read(go, &c, 1) != 1 ||
                    action(f, "mount", job, v, out) != 0 || strncmp(out, "status=1", 8) != 0 ||
                    action(f, "unmount", job, v, out) != 0 || action(f, "delete", job, v, out) != 0 ||
                    subcommand(f, "job-end", job, "--status", "OK") != 0) {
                        fprintf(stderr, "job %s: %s\n", job, out);
                        _exit(1);
                }
                _exit(0);
        }
        return pid;
}

static void test_two_jobs_at_once(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *log = NULL;
        int ready[2], go[2], status;
        pid_t a, b;
        char c;

        /* Two jobs of this host take their sets at once; the writer (on volume A) hangs 1.5 s in
         * Freeze, so one set is in creation when the other asks for the slot: that one waits its
         * turn (StartSnapshotSet answers VSS_E_SNAPSHOT_SET_IN_PROGRESS meanwhile), and both
         * succeed. */
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        a = job_child(f, "HostJobA.2026-12-06_04.00.00_10", 0, ready[1], go[0]);
        b = job_child(f, "HostJobB.2026-12-06_04.00.00_11", 1, ready[1], go[0]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(write(go[1], "gg", 2), 2);
        assert_int_equal(waitpid(a, &status, 0), a);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(waitpid(b, &status, 0), b);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(ready[0]);
        close(ready[1]);
        close(go[0]);
        close(go[1]);

        wait_log(f, "event=BackupShutdown", 1);
        log = writer_log(f);
        assert_non_null(strstr(log, "components=db1:1"));
        assert_nothing_left(f, f->run_dir);
}

/* Starts call(r, &a) and waits for its result. */
static vss_hr run_async(vss_hr (*call)(vss_requester *, vss_async **), vss_requester *r) {
        vss_async *a = NULL;
        vss_hr hr = call(r, &a);

        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait_result(a);
        vss_async_release(a);
        return hr;
}

static void test_waits_for_set_in_creation(void **state) {
        Fixture *f = *state;
        vss_requester_options o = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;
        vss_id set_id, snap_id;
        int ready[2], go[2], status;
        pid_t job;
        char c;

        /* Another requester of this host holds the snapshot set in creation (on volume C). */
        o.socket_path = f->socket;
        assert_int_equal(vss_requester_new(&r, &o), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_backup_state(r, false, false, VSS_BT_COPY, false), S_OK);
        assert_int_equal(run_async(vss_requester_gather_writer_metadata, r), S_OK);
        assert_int_equal(vss_requester_start_snapshot_set(r, &set_id), S_OK);
        assert_int_equal(vss_requester_add_to_snapshot_set(r, f->vol[2].mnt, NULL, &snap_id), S_OK);

        /* The job's first mount asks for the slot and must wait, not fail. */
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        job = job_child(f, "Waiting.2026-12-06_04.30.00_13", 0, ready[1], go[0]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(write(go[1], "g", 1), 1);
        sleep(2);
        assert_int_equal(waitpid(job, &status, WNOHANG), 0);
        {
                _cleanup_free_ char *log = writer_log(f);

                assert_int_equal(count_lines(log, "event=Freeze"), 0);
        }

        /* The other set is taken: the slot is free, the job takes its own and ends well. */
        assert_int_equal(run_async(vss_requester_prepare_for_backup, r), S_OK);
        assert_int_equal(run_async(vss_requester_do_snapshot_set, r), S_OK);
        assert_int_equal(waitpid(job, &status, 0), job);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        vss_requester_release(r);
        close(ready[0]);
        close(ready[1]);
        close(go[0]);
        close(go[1]);
        wait_log(f, "components=db1:1", 1);
        assert_nothing_left(f, f->run_dir);
}

static void test_restore_in_place(void **state) {
        Fixture *f = *state;
        const char *job = "Nightly.2026-12-06_06.00.00_14";
        _cleanup_free_ char *log = NULL;
        char out[OUT_MAX];
        int sync_pipe[2], status;
        pid_t fd;
        char c;

        /* 150 documents of older jobs of this name, and one of another name: after the backup,
         * the newest 100 of this name are kept (--keep-documents' default), the other stays. */
        assert_int_equal(mkdir(f->state_dir, 0700) < 0 && errno != EEXIST, 0);
        for (int i = 0; i < 151; i++) {
                _cleanup_free_ char *old = i < 150 ? pathf("%s/Nightly.2026-11-01_00.00.%02d_%03d.xml", f->state_dir, i % 60, i)
                                                   : pathf("%s/Weekly.2026-11-01_00.00.00_001.xml", f->state_dir);
                struct timespec times[2] = { { .tv_sec = 1700000000 + i }, { .tv_sec = 1700000000 + i } };
                int doc = open(old, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

                assert_true(doc >= 0);
                assert_int_equal(futimens(doc, times), 0);
                close(doc);
        }

        /* A backup whose document is kept. */
        assert_int_equal(subcommand(f, "job-begin", job, "--level", "Full"), 0);
        ok(f, "support", job, 0, out);
        ok(f, "create", job, 0, out);
        ok(f, "mount", job, 0, out);
        ok(f, "unmount", job, 0, out);
        ok(f, "delete", job, 0, out);
        assert_int_equal(subcommand(f, "job-end", job, "--status", "OK"), 0);
        wait_log(f, "event=BackupShutdown", 1);
        {
                _cleanup_free_ char *cmd = pathf("ls '%s' | grep -c '^Nightly\\.'", f->state_dir);
                _cleanup_free_ char *mine = pathf("%s/%s.xml", f->state_dir, job);
                _cleanup_free_ char *other = pathf("%s/Weekly.2026-11-01_00.00.00_001.xml", f->state_dir);
                _cleanup_free_ char *oldest = pathf("%s/Nightly.2026-11-01_00.00.00_000.xml", f->state_dir);
                FILE *p = popen(cmd, "r");
                unsigned long kept = 0;
                struct stat st;

                assert_non_null(p);
                assert_int_equal(fscanf(p, "%lu", &kept), 1);
                pclose(p);
                assert_int_equal(kept, 100);
                assert_int_equal(stat(mine, &st), 0);
                assert_int_equal(stat(other, &st), 0);
                assert_int_equal(stat(oldest, &st), -1);
        }

        /* A restore in place that succeeds: PreRestore, then PostRestore with status ALL (2). */
        assert_int_equal(subcommand(f, "restore-begin", "RestoreFiles.2026-12-06_07.00.00_15", "--backup-job", job), 0);
        wait_log(f, "event=PreRestore", 1);
        log = writer_log(f);
        assert_non_null(strstr(log, "event=PreRestore set=- getsetid=VSS_E_BAD_STATE backup_type=VSS_E_BAD_STATE "
                                    "volumes=VSS_E_BAD_STATE components=db1:-"));
        assert_int_equal(count_lines(log, "event=PostRestore"), 0);
        assert_int_equal(subcommand(f, "restore-end", "RestoreFiles.2026-12-06_07.00.00_15", "--status", "OK"), 0);
        wait_log(f, "event=PostRestore", 1);
        free(log);
        log = writer_log(f);
        assert_non_null(strstr(log, "restore in=PostRestore selected=1 options=- additional=0 status=2"));

        /* The File Daemon killed mid-restore: PostRestore all the same, status FAILED (3). */
        assert_int_equal(pipe2(sync_pipe, O_CLOEXEC), 0);
        fd = fork();
        assert_true(fd >= 0);
        if (fd == 0) {
                close(sync_pipe[0]);
                if (subcommand(f, "restore-begin", "RestoreFiles.2026-12-06_07.30.00_16", "--backup-job", job) != 0)
                        _exit(1);
                (void) write(sync_pipe[1], "b", 1);
                pause();
                _exit(0);
        }
        close(sync_pipe[1]);
        assert_int_equal(read(sync_pipe[0], &c, 1), 1);
        close(sync_pipe[0]);
        assert_int_equal(kill(fd, SIGKILL), 0);
        assert_int_equal(waitpid(fd, &status, 0), fd);
        wait_log(f, "event=PostRestore", 2);
        free(log);
        log = writer_log(f);
        assert_non_null(strstr(log, "restore in=PostRestore selected=1 options=- additional=0 status=3"));

        /* Into another directory: nothing from the writers; "%w" (no such File Daemon code) refused. */
        assert_int_equal(subcommand(f, "restore-begin", "Elsewhere.2026-12-06_07.45.00_18", "--where", "/srv/restores"),
                         0);
        assert_int_equal(subcommand(f, "restore-begin", "Elsewhere.2026-12-06_07.45.00_19", "--where", "%w"), 1);
        assert_int_equal(subcommand(f, "restore-end", "Elsewhere.2026-12-06_07.45.00_18", "--status", "OK"), 0);
        free(log);
        log = writer_log(f);
        assert_int_equal(count_lines(log, "event=PreRestore"), 2);

        /* No document: a VSS error, and no session left. */
        assert_int_equal(subcommand(f, "restore-begin", "RestoreFiles.2026-12-06_08.00.00_17", "--backup-job",
                                     "NoSuchJob.2026-01-01_00.00.00_01"), 2);
        assert_nothing_left(f, f->run_dir);
}

/* One job on volume A with the writer (restarted) setting stamp; returns the writer's
 * "prev=" in PrepareForBackup (malloc'd; "-" for none). */
static char *stamped_job(Fixture *f, const char *job, const char *level, const char *stamp, const char *status) {
        _cleanup_free_ char *log = NULL;
        char out[OUT_MAX];
        const char *p, *end;

        assert_int_equal(process_stop(f->writer, 5000), 0);
        f->writer = 0;
        f->stamp = stamp;
        assert_int_equal(start_writer(f, NULL), 0);
        assert_int_equal(subcommand(f, "job-begin", job, "--level", level), 0);
        ok(f, "support", job, 0, out);
        ok(f, "create", job, 0, out);
        ok(f, "mount", job, 0, out);
        ok(f, "unmount", job, 0, out);
        ok(f, "delete", job, 0, out);
        assert_int_equal(subcommand(f, "job-end", job, "--status", status), 0);
        wait_log(f, "event=BackupShutdown", 1);
        log = writer_log(f);
        assert_non_null(strstr(log, "op=stamp arg="));
        p = strstr(log, "doc in=PrepareForBackup prev=");
        assert_non_null(p);
        p += strlen("doc in=PrepareForBackup prev=");
        end = strchr(p, ' ');
        assert_non_null(end);
        return strndup(p, (size_t) (end - p));
}

static void test_previous_stamps(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *p5 = NULL, *p6 = NULL, *p7 = NULL;

        /* No Full kept yet: an Incremental hands no previous stamp. */
        p1 = stamped_job(f, "Db.2026-12-06_01.00.00_01", "Incremental", "none-before", "OK");
        assert_string_equal(p1, "-");
        p2 = stamped_job(f, "Db.2026-12-06_02.00.00_02", "Full", "lsn-100", "OK");
        assert_string_equal(p2, "-");
        p3 = stamped_job(f, "Db.2026-12-06_03.00.00_03", "Incremental", "lsn-200", "OK");
        assert_string_equal(p3, "lsn-100");
        p4 = stamped_job(f, "Db.2026-12-06_04.00.00_04", "Differential", "lsn-300", "OK");
        assert_string_equal(p4, "lsn-100");
        /* A failed Full and a failed Incremental: neither is built on. */
        p5 = stamped_job(f, "Db.2026-12-06_05.00.00_05", "Full", "lsn-bad-full", "Error");
        assert_string_equal(p5, "-");
        p6 = stamped_job(f, "Db.2026-12-06_06.00.00_06", "Incremental", "lsn-bad-incr", "Fatal Error");
        assert_string_equal(p6, "lsn-300");
        p7 = stamped_job(f, "Db.2026-12-06_07.00.00_07", "Differential", "lsn-400", "OK");
        assert_string_equal(p7, "lsn-100");
}

static void test_hostile_input(void **state) {
        Fixture *f = *state;
        char out[OUT_MAX];
        _cleanup_free_ char *long_dev = malloc(6000), *env_long = NULL;

        assert_non_null(long_dev);
        memset(long_dev, 'x', 5999);
        long_dev[0] = '/';
        long_dev[5999] = '\0';
        env_long = pathf("SNAPSHOT_DEVICE=%s", long_dev);

        struct {
                char *env[6];
                const char *reason;
        } cases[] = {
                { { (char *) "SNAPSHOT_ACTION=format", (char *) "SNAPSHOT_NAME=j", NULL }, "unknown SNAPSHOT_ACTION" },
                { { (char *) "SNAPSHOT_ACTION=", NULL }, "SNAPSHOT_ACTION is empty" },
                { { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_DEVICE=/dev/x",
                    (char *) "SNAPSHOT_MOUNTPOINT=/", NULL }, "SNAPSHOT_NAME" },
                { { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_NAME=../../etc",
                    (char *) "SNAPSHOT_DEVICE=/dev/x", (char *) "SNAPSHOT_MOUNTPOINT=/", NULL }, "SNAPSHOT_NAME" },
                { { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_NAME=j\"x", NULL }, "SNAPSHOT_NAME" },
                { { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_NAME=j", env_long,
                    (char *) "SNAPSHOT_MOUNTPOINT=/", NULL }, "SNAPSHOT_DEVICE is longer" },
                { { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_NAME=j", (char *) "SNAPSHOT_DEVICE=/dev/x",
                    (char *) "SNAPSHOT_MOUNTPOINT=relative", NULL }, "absolute" },
                { { (char *) "SNAPSHOT_ACTION=create", (char *) "SNAPSHOT_NAME=NeverSupported",
                    (char *) "SNAPSHOT_DEVICE=/dev/x", NULL }, "'support' must come first" },
                { { (char *) "SNAPSHOT_ACTION=query", (char *) "SNAPSHOT_NAME=j", NULL }, "not kept" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = backend(f, cases[i].env, out, sizeof(out));

                if (r != 1 || strncmp(out, "status=0 error=\"", 16) != 0 || !strstr(out, cases[i].reason))
                        fail_msg("case %zu: exit %d, answer: %s", i, r, out);
                /* One line, quotes balanced: the File Daemon's parser reads it whole. */
                assert_int_equal(count_lines(out, "\""), 2);
        }

        /* A volume no provider can snapshot: refused at support, with the reason. */
        {
                char *env[] = { (char *) "SNAPSHOT_ACTION=support", (char *) "SNAPSHOT_NAME=NotSupported",
                                (char *) "SNAPSHOT_DEVICE=proc", (char *) "SNAPSHOT_MOUNTPOINT=/proc", NULL };
                int r = backend(f, env, out, sizeof(out));

                if (r != 1 || !strstr(out, "VSS_E_VOLUME_NOT_SUPPORTED"))
                        fail_msg("support of /proc: exit %d, answer: %s", r, out);
        }
        /* create of a volume never asked about, in a live session. */
        ok(f, "support", "Live.2026-12-06_05.00.00_12", 0, out);
        assert_int_equal(action(f, "create", "Live.2026-12-06_05.00.00_12", 1, out), 1);
        assert_non_null(strstr(out, "was not asked about"));
        ok(f, "create", "Live.2026-12-06_05.00.00_12", 0, out);
        ok(f, "mount", "Live.2026-12-06_05.00.00_12", 0, out);
        ok(f, "unmount", "Live.2026-12-06_05.00.00_12", 0, out);
        ok(f, "delete", "Live.2026-12-06_05.00.00_12", 0, out);
        /* Subcommands: bad job names are usage errors. The session whose only volume was refused
         * ends once the File Daemon is silent for --idle (4 s here). */
        assert_int_equal(subcommand(f, "job-begin", "a/b", "--level", "Full"), 1);
        assert_int_equal(subcommand(f, "job-end", "", "--status", "OK"), 1);
        assert_nothing_left(f, f->run_dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_one_set_success, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_delete_without_outcome, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_job_end_never_comes, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_vssd_unreachable, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_fd_killed, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_two_jobs_at_once, fixture_setup_slow_freeze, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_waits_for_set_in_creation, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_restore_in_place, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_previous_stamps, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_hostile_input, fixture_setup, fixture_teardown),
        };

        if (geteuid() != 0) {
                if (getenv("CI"))
                        return fprintf(stderr, "CI=true but not root: this suite must run as root\n"), 1;
                return 77;
        }
        if (!getenv("VSSD") || !getenv("VSS_BACULA") || !getenv("VSS_TEST_WRITER"))
                return fprintf(stderr, "VSSD, VSS_BACULA and VSS_TEST_WRITER must be set\n"), 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}

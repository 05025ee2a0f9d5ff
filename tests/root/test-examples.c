/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-examples: the two programs in examples/ (the README's requester and the minimal
 * writer) work against the real vssd on a real btrfs volume.
 *
 * What it proves: with vss-example-writer appending two-step records to a journal on the
 * volume, vss-example-requester makes a snapshot (the btrfs provider, the writer frozen
 * between records) and copies the journal out of it; over several backups every copy ends
 * with a whole record ("end N" after "begin N"), the requester exits 0, and no snapshot is
 * left after it releases.
 *
 * Needs root (loop devices, mount, requester rights): exits 77 otherwise. Environment: VSSD,
 * EXAMPLE_REQUESTER, EXAMPLE_WRITER (meson sets them).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "root-harness.h"

#define WAIT_MS 20000U
#define BACKUPS 5

typedef struct Fixture {
        LoopBtrfs fs;
        char *socket;
        char *journal;
        pid_t vssd;
        pid_t writer;
        int writer_out;
} Fixture;

static char *join(const char *a, const char *b) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        char line[256];
        int r;

        if (!f)
                return -1;
        f->writer_out = -1;
        *state = f; /* teardown undoes whatever part of this succeeded */
        r = loop_btrfs_setup("/var/tmp/vss-examples-XXXXXX", UINT64_C(512) << 20, &f->fs);
        if (r < 0) {
                fprintf(stderr, "loop btrfs: %s\n", strerror(-r));
                return -1;
        }
        f->socket = join(f->fs.dir, "vssd.sock");
        f->journal = join(f->fs.mnt, "journal.log");
        setenv("VSS_SOCKET", f->socket, 1);

        {
                _cleanup_free_ char *state_dir = join(f->fs.dir, "state");
                char *const argv[] = { getenv("VSSD"), (char *) "--no-config", (char *) "--socket", f->socket,
                                       (char *) "--state-dir", state_dir, NULL };

                if (mkdir(state_dir, 0700) < 0 || process_spawn(argv, &f->vssd, NULL) < 0 ||
                    unix_socket_wait(f->socket, f->vssd, WAIT_MS) < 0)
                        return -1;
        }
        {
                char *const argv[] = { getenv("EXAMPLE_WRITER"), f->journal, NULL };

                if (process_spawn(argv, &f->writer, &f->writer_out) < 0 ||
                    read_line_timeout(f->writer_out, line, sizeof(line), WAIT_MS) < 0 ||
                    strncmp(line, "subscribed", 10) != 0)
                        return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        if (f->writer > 0)
                (void) process_stop(f->writer, 10000);
        if (f->writer_out >= 0)
                (void) close(f->writer_out);
        if (f->vssd > 0)
                (void) process_stop(f->vssd, 10000);
        (void) loop_btrfs_teardown(&f->fs);
        free(f->socket);
        free(f->journal);
        free(f);
        return 0;
}

/* Runs the requester on the volume; its exit status. */
static int run_requester(Fixture *f, const char *dest) {
        char *const argv[] = { getenv("EXAMPLE_REQUESTER"), f->fs.mnt, (char *) "journal.log", (char *) dest, NULL };
        int status;
        pid_t pid;

        assert_int_equal(process_spawn(argv, &pid, NULL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The copy's last line is "end N" and the one before it "begin N". */
static void assert_whole_record(const char *path) {
        _cleanup_free_ char *text = NULL;
        unsigned long begin = 0, end = 0;
        char *last, *prev;
        size_t size = 0;

        assert_int_equal(read_file_full(path, &text, &size), 0);
        assert_true(size > 0);
        assert_int_equal(text[size - 1], '\n');
        text[size - 1] = '\0';
        last = strrchr(text, '\n');
        assert_non_null(last);
        *last++ = '\0';
        prev = strrchr(text, '\n');
        prev = prev ? prev + 1 : text;
        assert_int_equal(sscanf(last, "end %lu", &end), 1);
        assert_int_equal(sscanf(prev, "begin %lu", &begin), 1);
        assert_true(begin == end && end > 0);
}

/* Entries left in the volume's snapshot area (the btrfs provider keeps them there). */
static unsigned snapshots_left(Fixture *f) {
        _cleanup_free_ char *area = join(f->fs.mnt, ".vss-snapshots");
        struct dirent *de;
        unsigned n = 0;
        DIR *d = opendir(area);

        if (!d)
                return 0;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

static void test_backups_are_consistent(void **state) {
        Fixture *f = *state;

        for (unsigned i = 0; i < BACKUPS; i++) {
                _cleanup_free_ char *dest = NULL;

                assert_true(asprintf(&dest, "%s/copy-%u.log", f->fs.dir, i) > 0);
                usleep(50 * 1000); /* let the journal grow between backups */
                assert_int_equal(run_requester(f, dest), 0);
                assert_whole_record(dest);
                /* The auto-release snapshot goes with the requester's release. */
                for (unsigned t = 0; t < 200 && snapshots_left(f) > 0; t++)
                        usleep(10 * 1000);
                assert_int_equal(snapshots_left(f), 0);
        }
}

static void test_missing_file_fails(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *dest = join(f->fs.dir, "never.log");
        char *const argv[] = { getenv("EXAMPLE_REQUESTER"), f->fs.mnt, (char *) "no-such-file", dest, NULL };
        int status;
        pid_t pid;

        /* The copy fails: the requester says so (exit 2) and the writers hear it failed. */
        assert_int_equal(process_spawn(argv, &pid, NULL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        assert_int_equal(access(dest, F_OK), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backups_are_consistent),
                cmocka_unit_test(test_missing_file_fails),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-examples needs root (loop devices, requester rights); skipping\n");
                return 77;
        }
        if (!getenv("VSSD") || !getenv("EXAMPLE_REQUESTER") || !getenv("EXAMPLE_WRITER"))
                return 1;
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}

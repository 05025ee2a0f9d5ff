/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-guardian-freeze.c: vss-guardian holding real freezes (suite root). Two small ext4
 * filesystems on loop devices; every test checks the one promise the guardian exists for:
 * whatever happens (deadline, its client closing the socket or being SIGKILLed, SIGTERM, a
 * failing second freeze), what it froze is thawed, and what it did not freeze is left alone.
 * And the other way round: the guardian SIGKILLed or SIGSTOPped while holding, the client's
 * watch thaws (and replaces the guardian for the next hold).
 *
 * "Frozen" is probed with a FIFREEZE of our own (EBUSY when frozen; see loop-fs.c), which
 * never blocks. "Thawed within 1 s" is the requirement for the guardian's reaction;
 * the guardian reacts in milliseconds, so the bound only separates "at once" from "never".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guardian-client.h"
#include "loop-fs.h"
#include "macro.h"
#include "time-util.h"

#define THAW_WAIT_MS 1000

typedef struct Fixture {
        char dir[64];
        char a_img[128], b_img[128], a_mnt[128], b_mnt[128];
        LoopFs a, b;
} Fixture;

static Fixture fx;

static const char *guardian_exe(void) {
        const char *p = getenv("VSS_GUARDIAN");

        assert_non_null(p);
        return p;
}

static int group_setup(void **state) {
        snprintf(fx.dir, sizeof(fx.dir), "/var/tmp/vss-guardian-XXXXXX");
        if (!mkdtemp(fx.dir))
                return -1;
        snprintf(fx.a_img, sizeof(fx.a_img), "%s/a.img", fx.dir);
        snprintf(fx.b_img, sizeof(fx.b_img), "%s/b.img", fx.dir);
        snprintf(fx.a_mnt, sizeof(fx.a_mnt), "%s/a", fx.dir);
        snprintf(fx.b_mnt, sizeof(fx.b_mnt), "%s/b", fx.dir);

        if (loop_fs_make(fx.a_img, 32 << 20, "ext4", NULL, fx.a_mnt, &fx.a) < 0 ||
            loop_fs_make(fx.b_img, 32 << 20, "ext4", NULL, fx.b_mnt, &fx.b) < 0) {
                fprintf(stderr, "cannot make the test filesystems\n");
                return -1;
        }

        /* The guardian a SIGKILLed client started is reparented to us, so we can reap it. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
        return 0;
}

static int group_teardown(void **state) {
        (void) loop_fs_destroy(&fx.a);
        (void) loop_fs_destroy(&fx.b);
        (void) rmdir(fx.dir);
        return 0;
}

/* Each test starts and ends with both filesystems thawed, whatever a failed one left. */
static int test_teardown(void **state) {
        (void) fs_thaw(fx.a_mnt);
        (void) fs_thaw(fx.b_mnt);
        return 0;
}

static void assert_writable(const char *mnt) {
        char path[256];

        assert_int_equal(fs_is_frozen(mnt), 0);
        snprintf(path, sizeof(path), "%s/probe", mnt);
        assert_int_equal(write_file_sync(path, "written\n"), 0);
}

static void test_freeze_and_thaw(void **state) {
        char *paths[] = { fx.a_mnt, fx.b_mnt };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 2, 0), S_OK);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);
        assert_int_equal(fs_is_frozen(fx.b_mnt), 1);

        /* One hold at a time. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_BAD_STATE);

        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);
        assert_writable(fx.b_mnt);

        /* The same guardian serves the next hold; two paths on one filesystem freeze it once. */
        paths[1] = fx.a_mnt;
        assert_int_equal(guardian_freeze(g, paths, 2, 0), S_OK);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);

        g = guardian_free(g);
}

static void test_deadline(void **state) {
        char *paths[] = { fx.a_mnt };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 1, 500), S_OK);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);

        /* It thaws by itself at 500 ms; the late Thaw then fails the set. */
        assert_int_equal(fs_wait_thawed(fx.a_mnt, 500 + THAW_WAIT_MS), 0);
        assert_writable(fx.a_mnt);
        assert_int_equal(guardian_thaw(g), VSS_E_HOLD_WRITES_TIMEOUT);

        /* The expiry is reported once; the next hold works normally. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);

        g = guardian_free(g);
}

static void test_socket_close_thaws(void **state) {
        char *paths[] = { fx.a_mnt, fx.b_mnt };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 2, 0), S_OK);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);

        /* guardian_free only closes the socket and reaps: the guardian thawed on the EOF. */
        g = guardian_free(g);
        assert_writable(fx.a_mnt);
        assert_writable(fx.b_mnt);
}

static void test_client_sigkill_thaws(void **state) {
        int p[2], status;
        pid_t child, guardian = 0;

        assert_int_equal(pipe(p), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                char *paths[] = { fx.a_mnt, fx.b_mnt };
                Guardian *g = NULL;
                pid_t gp = 0;

                close(p[0]);
                if (guardian_spawn(guardian_exe(), &g) == 0 && guardian_freeze(g, paths, 2, 0) == S_OK)
                        gp = guardian_pid(g);
                (void) write(p[1], &gp, sizeof(gp));
                for (;;)
                        pause(); /* holding, until SIGKILL */
        }

        close(p[1]);
        assert_int_equal(read(p[0], &guardian, sizeof(guardian)), sizeof(guardian));
        close(p[0]);
        assert_true(guardian > 0);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);
        assert_int_equal(fs_is_frozen(fx.b_mnt), 1);

        /* vssd's fate: killed mid-hold. */
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, &status, 0), child);

        assert_int_equal(fs_wait_thawed(fx.a_mnt, THAW_WAIT_MS), 0);
        assert_int_equal(fs_wait_thawed(fx.b_mnt, THAW_WAIT_MS), 0);
        assert_writable(fx.a_mnt);
        assert_writable(fx.b_mnt);

        /* And the orphaned guardian exits (we are its subreaper). */
        assert_int_equal(waitpid(guardian, &status, 0), guardian);
}

static void test_sigterm_thaws(void **state) {
        char *paths[] = { fx.a_mnt };
        Guardian *g = NULL;
        pid_t first;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);
        first = guardian_pid(g);

        assert_int_equal(kill(first, SIGTERM), 0);
        assert_int_equal(fs_wait_thawed(fx.a_mnt, THAW_WAIT_MS), 0);

        /* The hold was broken under us: the set must fail. Then a new guardian takes over. */
        assert_int_equal(guardian_thaw(g), VSS_E_HOLD_WRITES_TIMEOUT);
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);
        assert_int_not_equal(guardian_pid(g), first);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);

        g = guardian_free(g);
}

static void test_failed_second_freeze_thaws_first(void **state) {
        char *unsupported[] = { fx.a_mnt, (char *) "/proc" };
        char *busy[] = { fx.a_mnt, fx.b_mnt };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);

        assert_int_equal(guardian_freeze(g, unsupported, 2, 0), VSS_E_VOLUME_NOT_SUPPORTED);
        assert_writable(fx.a_mnt);

        /* B frozen by someone else: our FIFREEZE gets EBUSY. A is thawed again; B is not
         * ours, so it stays frozen. */
        assert_int_equal(fs_freeze(fx.b_mnt), 0);
        assert_int_equal(guardian_freeze(g, busy, 2, 0), VSS_E_FLUSH_WRITES_TIMEOUT);
        assert_writable(fx.a_mnt);
        assert_int_equal(fs_is_frozen(fx.b_mnt), 1);
        assert_int_equal(fs_thaw(fx.b_mnt), 0);

        g = guardian_free(g);
}

static void test_thaws_only_its_own(void **state) {
        char *paths[] = { fx.a_mnt };
        Guardian *g = NULL;

        assert_int_equal(fs_freeze(fx.b_mnt), 0);

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);
        assert_int_equal(fs_is_frozen(fx.b_mnt), 1);

        /* Not even at exit. */
        g = guardian_free(g);
        assert_int_equal(fs_is_frozen(fx.b_mnt), 1);
        assert_int_equal(fs_thaw(fx.b_mnt), 0);
}

static void test_foreign_thaw_breaks_hold(void **state) {
        char *paths[] = { fx.a_mnt };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);

        /* Someone thaws our hold (fsfreeze -u): the point in time is lost, the set must fail. */
        assert_int_equal(fs_thaw(fx.a_mnt), 0);
        assert_int_equal(guardian_thaw(g), VSS_E_HOLD_WRITES_TIMEOUT);
        assert_writable(fx.a_mnt);

        g = guardian_free(g);
}

/* The guardian is lost while holding (sig: SIGKILL or SIGSTOP) and the client calls nothing:
 * its watch thaws both filesystems within THAW_WAIT_MS. */
static void guardian_lost_while_holding(int sig) {
        char *paths[] = { fx.a_mnt, fx.b_mnt };
        Guardian *g = NULL;
        pid_t first;
        uint64_t t0;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_freeze(g, paths, 2, 0), S_OK);
        first = guardian_pid(g);
        assert_int_equal(fs_is_frozen(fx.a_mnt), 1);

        t0 = now_usec();
        assert_int_equal(kill(first, sig), 0);
        assert_int_equal(fs_wait_thawed(fx.a_mnt, THAW_WAIT_MS), 0);
        assert_int_equal(fs_wait_thawed(fx.b_mnt, THAW_WAIT_MS), 0);
        fprintf(stderr, "guardian %s while holding: both thawed after %.3f ms\n", sig == SIGKILL ? "SIGKILLed" : "SIGSTOPped",
                (double) (now_usec() - t0) / 1000.0);
        assert_writable(fx.a_mnt);
        assert_writable(fx.b_mnt);

        /* The hold was broken: the set must fail. The lost guardian is reaped (a stopped one
         * killed: it must never wake up to thaw a later hold). */
        assert_int_equal(guardian_thaw(g), VSS_E_HOLD_WRITES_TIMEOUT);
        assert_true(kill(first, 0) < 0 && errno == ESRCH);

        /* A new guardian serves the next hold. */
        assert_int_equal(guardian_freeze(g, paths, 2, 0), S_OK);
        assert_int_not_equal(guardian_pid(g), first);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);
        assert_writable(fx.b_mnt);

        g = guardian_free(g);
}

static void test_guardian_sigkill_client_thaws(void **state) {
        guardian_lost_while_holding(SIGKILL);
}

static void test_guardian_sigstop_client_thaws(void **state) {
        guardian_lost_while_holding(SIGSTOP);
}

static void test_guardian_stopped_idle_replaced(void **state) {
        char *paths[] = { fx.a_mnt };
        Guardian *g = NULL;
        pid_t first;
        int status;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        first = guardian_pid(g);
        assert_int_equal(kill(first, SIGSTOP), 0);
        /* Stopped for real (the signal is delivered asynchronously), as WUNTRACED reports. */
        assert_int_equal(waitpid(first, &status, WUNTRACED), first);
        assert_true(WIFSTOPPED(status));

        /* A stopped guardian would take the Freeze and never answer: replaced first. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), S_OK);
        assert_int_not_equal(guardian_pid(g), first);
        assert_true(kill(first, 0) < 0 && errno == ESRCH);
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_writable(fx.a_mnt);

        g = guardian_free(g);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_freeze_and_thaw, test_teardown),
                cmocka_unit_test_teardown(test_deadline, test_teardown),
                cmocka_unit_test_teardown(test_socket_close_thaws, test_teardown),
                cmocka_unit_test_teardown(test_client_sigkill_thaws, test_teardown),
                cmocka_unit_test_teardown(test_sigterm_thaws, test_teardown),
                cmocka_unit_test_teardown(test_failed_second_freeze_thaws_first, test_teardown),
                cmocka_unit_test_teardown(test_thaws_only_its_own, test_teardown),
                cmocka_unit_test_teardown(test_foreign_thaw_breaks_hold, test_teardown),
                cmocka_unit_test_teardown(test_guardian_sigkill_client_thaws, test_teardown),
                cmocka_unit_test_teardown(test_guardian_sigstop_client_thaws, test_teardown),
                cmocka_unit_test_teardown(test_guardian_stopped_idle_replaced, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-guardian-freeze needs root (loop devices, FIFREEZE): skipped\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

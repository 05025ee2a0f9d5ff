/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-killed.c: a writer process dies (SIGKILL) while vssd waits for its Freeze
 * reply. docs/dbus-api.md "Disconnect": the writer counts as failed with
 * VSS_E_WRITER_NOT_RESPONDING, and since that is between Freeze and Thaw the set fails as on
 * a veto: DoSnapshotSet fails, every other writer gets Abort. vssd itself carries on: the
 * dead writer is gone from the registry and the next backup succeeds without it.
 *
 * Seed 000's VSS_E_UNEXPECTED_WRITER_ERROR ("an unexpected error occurred while
 * communicating with writers") for BackupComplete: once when an involved writer vanished
 * after the snapshot, once when one does not answer BackupComplete within vssd's event
 * timeout. The other writers still get their BackupComplete.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *front, *victim, *system;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *front_args[] = { "--level", "front", NULL };
        const char *victim_args[] = { "--level", "back", "--hang", "freeze:20000", "--freeze-timeout", "30000", NULL };
        const char *system_args[] = { "--level", "system", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "front", front_args, &f->front));
        assert_ok0(harness_add_writer(f->h, "victim", victim_args, &f->victim));
        assert_ok0(harness_add_writer(f->h, "system", system_args, &f->system));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->volume);
                free(f);
        }
        return 0;
}

static void test_writer_killed_in_freeze(void **state) {
        Fixture *f = *state;
        TestWriter *survivors[] = { f->front, f->system };
        BackupRun run = {}, run2 = {};
        vss_async *a = NULL;
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
        assert_int_equal(run.n_writers, 3);
        assert_hr(vss_requester_do_snapshot_set(r, &a), S_OK);

        assert_ok0(writer_log_wait(f->victim, "begin=Freeze", 1));
        assert_ok0(writer_kill(f->victim, SIGKILL));

        assert_hr(async_finish(S_OK, &a), VSS_E_WRITER_NOT_RESPONDING);
        for (size_t i = 0; i < ELEMENTSOF(survivors); i++)
                assert_ok0(writer_log_wait(survivors[i], "event=Abort", 1));
        assert_int_equal(writer_log_count(f->front, "event=Thaw"), 0);
        assert_int_equal(writer_log_count(f->system, "event=Freeze"), 0);
        assert_true(harness_vssd_alive(f->h));

        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);
        for (size_t i = 0; i < ELEMENTSOF(survivors); i++) {
                assert_ok0(writer_log_wait(survivors[i], "event=BackupShutdown", 1));
                assert_nothing_frozen(survivors[i]);
        }

        /* The next backup runs with the two writers that are left. */
        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run2), S_OK);
        assert_int_equal(run2.n_writers, 2);
        vss_requester_release(r);
        for (size_t i = 0; i < ELEMENTSOF(survivors); i++) {
                assert_ok0(writer_log_wait(survivors[i], "event=BackupShutdown", 2));
                assert_int_equal(writer_log_count(survivors[i], "event=BackupComplete"), 1);
        }
        assert_true(harness_vssd_alive(f->h));
}

typedef struct LateFixture {
        Harness *h;
        char *volume;
        TestWriter *steady, *flaky;
} LateFixture;

static LateFixture *late_fixture_new(const char *const *flaky_args) {
        LateFixture *f = calloc(1, sizeof *f);
        HarnessOptions opts = { .event_timeout_ms = 1500, .allow_writer_uid = -1 };

        assert_non_null(f);
        assert_ok0(harness_new(&opts, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "steady", NULL, &f->steady));
        assert_ok0(harness_add_writer(f->h, "flaky", flaky_args, &f->flaky));
        return f;
}

static int setup_late_plain(void **state) {
        *state = late_fixture_new(NULL);
        return 0;
}

static int setup_late_silent(void **state) {
        const char *args[] = { "--hang", "backup-complete:6000", NULL };

        *state = late_fixture_new(args);
        return 0;
}

static int teardown_late(void **state) {
        LateFixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->volume);
                free(f);
        }
        return 0;
}

static void run_backup_complete_unreachable(LateFixture *f, bool kill_flaky) {
        BackupRun run = {};
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_DO_SNAPSHOT, &run), S_OK);
        if (kill_flaky)
                assert_ok0(writer_kill(f->flaky, SIGKILL));

        assert_hr(backup_run_steps(r, f->volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run),
                  VSS_E_UNEXPECTED_WRITER_ERROR);
        assert_ok0(writer_log_wait(f->steady, "event=BackupComplete", 1));
        assert_int_equal(writer_log_count(f->flaky, "event=BackupComplete"), 0);

        vss_requester_release(r);
        assert_ok0(writer_log_wait(f->steady, "event=BackupShutdown", 1));
        assert_int_equal(writer_log_count(f->steady, "event=Abort"), 0);
        assert_true(harness_vssd_alive(f->h));
}

static void test_writer_gone_before_backup_complete(void **state) {
        run_backup_complete_unreachable(*state, true);
}

static void test_writer_silent_in_backup_complete(void **state) {
        run_backup_complete_unreachable(*state, false);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_writer_killed_in_freeze, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_gone_before_backup_complete, setup_late_plain,
                                                teardown_late),
                cmocka_unit_test_setup_teardown(test_writer_silent_in_backup_complete, setup_late_silent,
                                                teardown_late),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

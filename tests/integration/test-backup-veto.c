/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-veto.c: a writer vetoes, and the abort rules of seed 004 follow.
 *
 *   - A veto in Freeze raises Abort for every writer in the backup; DoSnapshotSet fails with
 *     the vetoing writer's own code; the writer's status shows FAILED_AT_FREEZE with it;
 *     BackupComplete is then refused (seed 000: DoSnapshotSet failed); AbortBackup works.
 *   - A veto in PrepareForSnapshot fails DoSnapshotSet but raises no Abort by itself: the
 *     only Abort each writer ever sees is the one the requester's AbortBackup asks for.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *front, *back, *system;
} Fixture;

static Fixture *fixture_new(const char *veto_event) {
        Fixture *f = calloc(1, sizeof *f);
        const char *veto_args[] = { "--level", "back", "--veto", veto_event, NULL };
        const char *front_args[] = { "--level", "front", NULL };
        const char *system_args[] = { "--level", "system", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "front", front_args, &f->front));
        assert_ok0(harness_add_writer(f->h, "back", veto_args, &f->back));
        assert_ok0(harness_add_writer(f->h, "system", system_args, &f->system));
        return f;
}

static int setup_freeze(void **state) {
        *state = fixture_new("freeze");
        return 0;
}

static int setup_prepare_snapshot(void **state) {
        *state = fixture_new("prepare-snapshot");
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

static void test_freeze_veto(void **state) {
        Fixture *f = *state;
        TestWriter *all[] = { f->front, f->back, f->system };
        BackupRun run = {};
        vss_async *a = NULL;
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);

        assert_hr(backup_run_steps(r, f->volume, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run),
                  VSS_E_WRITERERROR_RETRYABLE);

        /* Abort goes to every writer of the backup, the vetoing one included. */
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                assert_ok0(writer_log_wait(all[i], "event=Abort", 1));
        /* Freeze is strictly by level: the system writer was never frozen. */
        assert_int_equal(writer_log_count(f->system, "event=Freeze"), 0);
        assert_int_equal(writer_log_count(f->system, "event=Thaw"), 0);

        assert_writer_status(r, f->back, VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_RETRYABLE);

        /* Seed 000: no BackupComplete after a failed DoSnapshotSet. */
        assert_hr(async_finish(vss_requester_backup_complete(r, &a), &a), VSS_E_BAD_STATE);

        /* Seed 004: the requester aborts anyway, since it cannot know whether Abort was sent. */
        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);

        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 1));
                assert_int_equal(writer_log_count(all[i], "event=BackupComplete"), 0);
                assert_int_equal(writer_log_count(all[i], "event=PostSnapshot"), 0);
                assert_nothing_frozen(all[i]);
        }
        assert_true(harness_vssd_alive(f->h));
}

static void test_prepare_snapshot_veto(void **state) {
        Fixture *f = *state;
        TestWriter *all[] = { f->front, f->back, f->system };
        BackupRun run = {};
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);

        assert_hr(backup_run_steps(r, f->volume, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run),
                  VSS_E_WRITERERROR_RETRYABLE);
        assert_writer_status(r, f->back, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, VSS_E_WRITERERROR_RETRYABLE);

        /* AbortBackup waits for every writer's OnAbort. Events reach a writer in order, so if
         * vssd had raised an Abort of its own for the veto, it would be in the logs before
         * this one: each writer must have exactly one. */
        assert_hr(vss_requester_abort_backup(r), S_OK);
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=Abort", 1));
                assert_int_equal(writer_log_count(all[i], "event=Abort"), 1);
                assert_int_equal(writer_log_count(all[i], "event=Freeze"), 0);
        }

        vss_requester_release(r);
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 1));
                assert_int_equal(writer_log_count(all[i], "event=Abort"), 1);
        }
        assert_events(f->front, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Abort", "BackupShutdown");
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_freeze_veto, setup_freeze, teardown),
                cmocka_unit_test_setup_teardown(test_prepare_snapshot_veto, setup_prepare_snapshot, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

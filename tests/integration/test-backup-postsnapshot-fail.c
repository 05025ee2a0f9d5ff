/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-postsnapshot-fail.c: writers fail in PostSnapshot, one vetoing (returns false),
 * one reporting a non-fatal failure (SetWriterFailure, returns true). Seed 004: a failure in
 * PostSnapshot raises no Abort. The snapshot exists, so DoSnapshotSet succeeds; the failures
 * are visible through GatherWriterStatus; the backup finishes normally.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *good, *vetoer, *failer;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *good_args[] = { "--level", "front", NULL };
        const char *veto_args[] = { "--level", "back", "--veto", "post-snapshot", NULL };
        const char *fail_args[] = { "--level", "system", "--fail", "post-snapshot:0x800423F4", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "good", good_args, &f->good));
        assert_ok0(harness_add_writer(f->h, "vetoer", veto_args, &f->vetoer));
        assert_ok0(harness_add_writer(f->h, "failer", fail_args, &f->failer));
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

static void test_postsnapshot_failure(void **state) {
        Fixture *f = *state;
        TestWriter *all[] = { f->good, f->vetoer, f->failer };
        vss_writer_state ws = VSS_WS_UNKNOWN;
        vss_hr failure = S_OK;
        BackupRun run = {};
        vss_snapshot_prop prop = {};
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_DO_SNAPSHOT, &run), S_OK);
        assert_hr(vss_requester_get_snapshot_properties(r, &run.snapshot_id, &prop), S_OK);
        vss_snapshot_prop_free(&prop);

        assert_writer_status(r, f->vetoer, VSS_WS_FAILED_AT_POST_SNAPSHOT, VSS_E_WRITERERROR_RETRYABLE);
        assert_hr(requester_find_status(r, f->good, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_WAITING_FOR_BACKUP_COMPLETE);
        assert_hr(failure, S_OK);
        /* The non-fatal failure is recorded too, with the writer's code. */
        assert_hr(requester_find_status(r, f->failer, &ws, &failure), S_OK);
        assert_hr(failure, VSS_E_WRITERERROR_NONRETRYABLE);

        assert_hr(backup_run_steps(r, f->volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run), S_OK);
        vss_requester_release(r);

        /* BackupShutdown is the last event of the backup: by then any Abort would be logged. */
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 1));
                assert_int_equal(writer_log_count(all[i], "event=Abort"), 0);
                assert_int_equal(writer_log_count(all[i], "event=Thaw"), 1);
        }
        assert_events(f->good, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw",
                      "PostSnapshot", "BackupComplete", "BackupShutdown");
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_postsnapshot_failure, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

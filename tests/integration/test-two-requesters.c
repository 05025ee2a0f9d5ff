/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-two-requesters.c: one snapshot set in creation at a time. While the first requester's
 * set is being created (from StartSnapshotSet until its DoSnapshotSet has ended, including
 * the moment its writers are frozen) a second requester's StartSnapshotSet gets
 * VSS_E_SNAPSHOT_SET_IN_PROGRESS and loses nothing by it; once the first DoSnapshotSet
 * returned, the second requester starts its set and completes its whole backup, and the
 * first one then completes too. Each writer is in both backups and sees two BackupShutdowns.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *vol1, *vol2;
        TestWriter *slow, *plain;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *slow_args[] = { "--level", "front", "--hang", "freeze:1500", "--freeze-timeout", "20000", NULL };
        const char *plain_args[] = { "--level", "back", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol1", &f->vol1));
        assert_ok0(harness_make_volume(f->h, "vol2", &f->vol2));
        assert_ok0(harness_add_writer(f->h, "slow", slow_args, &f->slow));
        assert_ok0(harness_add_writer(f->h, "plain", plain_args, &f->plain));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->vol1);
                free(f->vol2);
                free(f);
        }
        return 0;
}

static void test_two_requesters(void **state) {
        Fixture *f = *state;
        TestWriter *all[] = { f->slow, f->plain };
        BackupRun run1 = {}, run2 = {};
        vss_requester *r1, *r2;
        vss_async *a = NULL;
        vss_id refused;

        r1 = requester_new_checked();
        r2 = requester_new_checked();
        assert_non_null(r1);
        assert_non_null(r2);

        assert_hr(backup_run_steps(r1, f->vol1, STEP_INITIALIZE, STEP_PREPARE, &run1), S_OK);
        assert_hr(backup_run_steps(r2, f->vol2, STEP_INITIALIZE, STEP_ADD_COMPONENTS, &run2), S_OK);

        /* r1's set exists but is not committed yet. */
        assert_hr(vss_requester_start_snapshot_set(r2, &refused), VSS_E_SNAPSHOT_SET_IN_PROGRESS);

        /* Still refused while r1's writers are frozen. */
        assert_hr(vss_requester_do_snapshot_set(r1, &a), S_OK);
        assert_ok0(writer_log_wait(f->slow, "begin=Freeze", 1));
        assert_hr(vss_requester_start_snapshot_set(r2, &refused), VSS_E_SNAPSHOT_SET_IN_PROGRESS);
        assert_hr(async_finish(S_OK, &a), VSS_S_ASYNC_FINISHED);

        /* r1's DoSnapshotSet has returned: the slot is free, r2 runs its whole backup. */
        assert_hr(backup_run_steps(r2, f->vol2, STEP_START_SET, STEP_BACKUP_COMPLETE, &run2), S_OK);
        assert_false(vss_id_equal(&run1.set_id, &run2.set_id));
        vss_requester_release(r2);

        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 1));

        assert_hr(backup_run_steps(r1, f->vol1, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run1), S_OK);
        vss_requester_release(r1);

        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                _cleanup_free_ char *first = NULL, *second = NULL;
                char set[64];

                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 2));
                first = writer_event_line(all[i], "BackupShutdown", 0);
                second = writer_event_line(all[i], "BackupShutdown", 1);
                assert_non_null(first);
                assert_non_null(second);
                assert_ok0(line_field(first, "set", set, sizeof set));
                assert_string_equal(set, id_str(&run2.set_id));
                assert_ok0(line_field(second, "set", set, sizeof set));
                assert_string_equal(set, id_str(&run1.set_id));
                assert_int_equal(writer_log_count(all[i], "event=BackupComplete"), 2);
                assert_int_equal(writer_log_count(all[i], "event=Abort"), 0);
                assert_nothing_frozen(all[i]);
        }
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_two_requesters, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

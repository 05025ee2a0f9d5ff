/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-two-backups.c: seed 002's "a writer may be involved in several backup
 * operations". One writer takes part in backup A (left open after DoSnapshotSet) and in a
 * complete backup B in between; then A completes. The writer sees each phase once per
 * backup, with each backup's own set id, and two BackupShutdowns: B's first, then A's.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *vol_a, *vol_b;
        TestWriter *w;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol-a", &f->vol_a));
        assert_ok0(harness_make_volume(f->h, "vol-b", &f->vol_b));
        assert_ok0(harness_add_writer(f->h, "both", NULL, &f->w));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->vol_a);
                free(f->vol_b);
                free(f);
        }
        return 0;
}

static void assert_event_set(const TestWriter *w, const char *event, unsigned index, const vss_id *set_id) {
        _cleanup_free_ char *line = writer_event_line(w, event, index);
        char set[64];

        if (!line) {
                print_error("writer %s: no %s event #%u\n", w->name, event, index);
                fail();
        }
        assert_ok0(line_field(line, "set", set, sizeof set));
        if (!streq(set, id_str(set_id))) {
                print_error("writer %s: %s #%u carries set %s, expected %s\n", w->name, event, index, set,
                            id_str(set_id));
                fail();
        }
}

static void test_writer_in_two_backups(void **state) {
        Fixture *f = *state;
        BackupRun run_a = {}, run_b = {};
        vss_requester *ra, *rb;

        ra = requester_new_checked();
        assert_non_null(ra);
        assert_hr(backup_run_steps(ra, f->vol_a, STEP_INITIALIZE, STEP_DO_SNAPSHOT, &run_a), S_OK);

        rb = requester_new_checked();
        assert_non_null(rb);
        assert_hr(backup_run_steps(rb, f->vol_b, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run_b), S_OK);
        assert_false(vss_id_equal(&run_a.set_id, &run_b.set_id));
        vss_requester_release(rb);
        assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", 1));

        assert_hr(backup_run_steps(ra, f->vol_a, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run_a), S_OK);
        vss_requester_release(ra);
        assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", 2));

        assert_events(f->w,
                      /* A */ "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw", "PostSnapshot",
                      /* B */ "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw", "PostSnapshot",
                      "BackupComplete", "BackupShutdown",
                      /* A */ "BackupComplete", "BackupShutdown");

        assert_event_set(f->w, "Freeze", 0, &run_a.set_id);
        assert_event_set(f->w, "PostSnapshot", 0, &run_a.set_id);
        assert_event_set(f->w, "Freeze", 1, &run_b.set_id);
        assert_event_set(f->w, "PostSnapshot", 1, &run_b.set_id);
        assert_event_set(f->w, "BackupShutdown", 0, &run_b.set_id);
        assert_event_set(f->w, "BackupShutdown", 1, &run_a.set_id);
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_writer_in_two_backups, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

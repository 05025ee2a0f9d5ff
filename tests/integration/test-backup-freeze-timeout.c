/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-freeze-timeout.c: a writer that overruns its freeze window.
 *
 *   - A writer hangs inside OnFreeze longer than its freeze timeout: DoSnapshotSet fails with
 *     VSS_E_WRITERERROR_TIMEOUT, every writer gets Abort, the hung writer's status shows
 *     FAILED_AT_FREEZE with that code and its log has an Abort after the Freeze.
 *   - A frozen writer whose coordinator never answers again (vssd stopped with SIGSTOP while
 *     another writer holds the Freeze phase open) is thawed by its own library: OnAbort runs
 *     once its freeze timeout passes, with no event from vssd.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                if (f->h && f->h->vssd_pid > 0)
                        (void) kill(f->h->vssd_pid, SIGCONT);
                harness_free(f->h);
                free(f->volume);
                free(f);
        }
        return 0;
}

static void test_hang_in_freeze(void **state) {
        Fixture *f = *state;
        const char *front_args[] = { "--level", "front", NULL };
        const char *hung_args[] = { "--level", "back", "--freeze-timeout", "1000", "--hang", "freeze:3000", NULL };
        TestWriter *front, *hung;
        BackupRun run = {};
        vss_requester *r;
        char **events = NULL;
        bool abort_after_freeze = false;

        assert_ok0(harness_add_writer(f->h, "front", front_args, &front));
        assert_ok0(harness_add_writer(f->h, "hung", hung_args, &hung));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
        assert_hr(backup_run_steps(r, f->volume, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run),
                  VSS_E_WRITERERROR_TIMEOUT);

        assert_ok0(writer_log_wait(front, "event=Abort", 1));
        assert_ok0(writer_log_wait(hung, "event=Abort", 1));
        assert_int_equal(writer_log_count(front, "event=Thaw"), 0);

        /* The hung writer's Freeze did return eventually, and an Abort came after it. */
        assert_ok0(writer_log_wait(hung, "event=Freeze", 1));
        assert_ok0(writer_events(hung, &events));
        for (size_t i = 0, frozen = 0; events[i]; i++) {
                if (streq(events[i], "Freeze"))
                        frozen = 1;
                else if (frozen && streq(events[i], "Abort"))
                        abort_after_freeze = true;
        }
        strv_free(events);
        assert_true(abort_after_freeze);

        assert_writer_status(r, hung, VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_TIMEOUT);

        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(front, "event=BackupShutdown", 1));
        assert_ok0(writer_log_wait(hung, "event=BackupShutdown", 1));
        assert_nothing_frozen(front);
        assert_nothing_frozen(hung);
        assert_true(harness_vssd_alive(f->h));
}

static void test_library_thaws_alone(void **state) {
        Fixture *f = *state;
        const char *quick_args[] = { "--level", "front", "--freeze-timeout", "1000", NULL };
        const char *holder_args[] = { "--level", "system", "--freeze-timeout", "15000", "--hang", "freeze:4000", NULL };
        TestWriter *quick, *holder;
        BackupRun run = {};
        vss_async *a = NULL;
        vss_requester *r;
        vss_hr hr;

        assert_ok0(harness_add_writer(f->h, "quick", quick_args, &quick));
        assert_ok0(harness_add_writer(f->h, "holder", holder_args, &holder));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
        assert_hr(vss_requester_do_snapshot_set(r, &a), S_OK);

        /* quick (front end) froze and returned; holder (system) keeps the Freeze phase open.
         * Now silence vssd: whatever happens to quick next is its library's doing. */
        assert_ok0(writer_log_wait(quick, "event=Freeze", 1));
        assert_ok0(writer_log_wait(holder, "begin=Freeze", 1));
        assert_int_equal(kill(f->h->vssd_pid, SIGSTOP), 0);

        assert_ok0(writer_log_wait(quick, "event=Abort", 1));
        assert_int_equal(writer_log_count(quick, "event=Thaw"), 0);

        assert_int_equal(kill(f->h->vssd_pid, SIGCONT), 0);

        /* quick missed its freeze window, so the set cannot have succeeded. */
        hr = async_finish(S_OK, &a);
        if (!VSS_FAILED(hr)) {
                print_error("DoSnapshotSet returned %s although a writer overran its freeze window\n",
                            vss_hr_name(hr));
                fail();
        }

        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(quick, "event=BackupShutdown", 1));
        assert_ok0(writer_log_wait(holder, "event=BackupShutdown", 1));
        assert_nothing_frozen(quick);
        assert_nothing_frozen(holder);
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hang_in_freeze, setup, teardown),
                cmocka_unit_test_setup_teardown(test_library_thaws_alone, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

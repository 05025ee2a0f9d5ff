/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-requester-killed.c: the requester process dies with SIGKILL in the middle of a
 * backup, at three points: (a) after PrepareForBackup, (b) while a writer is inside Freeze,
 * (c) after DoSnapshotSet succeeded; and (a') after a PrepareForBackup that no snapshot set
 * preceded. Seed 002 and seed 004 decide what the writers see:
 *
 *   - BackupShutdown every time, carrying the snapshot set id, or the null id in (a') where
 *     no set exists;
 *   - Abort in (a), (a') and (b), where the backup had passed PrepareForBackup and nothing ended
 *     it, but not in (c), where the snapshot exists and only BackupComplete is missing;
 *   - no writer stays frozen;
 *   - the snapshot-set-in-creation slot is freed: a new requester's backup succeeds;
 *   - in (c) the auto-release snapshot is deleted.
 *
 * libvss is used only in the child processes, so no connection or thread crosses a fork.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

typedef enum KillPoint {
        KILL_AFTER_PREPARE_NO_SET,
        KILL_AFTER_PREPARE,
        KILL_IN_FREEZE,
        KILL_AFTER_SNAPSHOT,
} KillPoint;

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *front, *hang, *system;
} Fixture;

typedef struct ChildArgs {
        KillPoint point;
        const char *volume;
} ChildArgs;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *front_args[] = { "--level", "front", NULL };
        const char *hang_args[] = { "--level", "back", "--hang", "freeze:2000", "--freeze-timeout", "30000", NULL };
        const char *system_args[] = { "--level", "system", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "front", front_args, &f->front));
        assert_ok0(harness_add_writer(f->h, "hang", hang_args, &f->hang));
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

/* Child: walk the backup to the kill point, report "ready", then wait to be killed. */
static int child_until_kill(int fd, void *userdata) {
        const ChildArgs *args = userdata;
        vss_snapshot_prop prop = {};
        BackupRun run = {};
        vss_async *a = NULL;
        vss_requester *r;
        vss_hr hr;

        r = requester_new_checked();
        if (!r)
                return 10;
        if (args->point == KILL_AFTER_PREPARE_NO_SET) {
                hr = backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_ADD_COMPONENTS, &run);
                if (hr == S_OK)
                        hr = backup_run_steps(r, NULL, STEP_PREPARE, STEP_PREPARE, &run);
                if (hr != S_OK) {
                        report(fd, "error %s %s", backup_step_name(run.failed_step), vss_hr_name(hr));
                        return 15;
                }
                report(fd, "set %s", id_str(&VSS_ID_NULL));
                report(fd, "ready");
                for (;;)
                        pause();
        }
        hr = backup_run_steps(r, args->volume, STEP_INITIALIZE, STEP_START_SET, &run);
        if (hr != S_OK) {
                report(fd, "error %s %s", backup_step_name(run.failed_step), vss_hr_name(hr));
                return 11;
        }
        report(fd, "set %s", id_str(&run.set_id));
        hr = backup_run_steps(r, args->volume, STEP_ADD_VOLUME, STEP_PREPARE, &run);
        if (hr != S_OK) {
                report(fd, "error %s %s", backup_step_name(run.failed_step), vss_hr_name(hr));
                return 12;
        }

        switch (args->point) {
        case KILL_AFTER_PREPARE_NO_SET:
        case KILL_AFTER_PREPARE:
                break;
        case KILL_IN_FREEZE:
                hr = vss_requester_do_snapshot_set(r, &a);
                if (hr != S_OK) {
                        report(fd, "error DoSnapshotSet %s", vss_hr_name(hr));
                        return 13;
                }
                break;
        case KILL_AFTER_SNAPSHOT:
                hr = backup_run_steps(r, args->volume, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run);
                if (hr == S_OK)
                        hr = vss_requester_get_snapshot_properties(r, &run.snapshot_id, &prop);
                if (hr != S_OK) {
                        report(fd, "error DoSnapshotSet %s", vss_hr_name(hr));
                        return 14;
                }
                report(fd, "device %s", prop.snapshot_device_object);
                vss_snapshot_prop_free(&prop);
                break;
        }

        report(fd, "ready");
        for (;;)
                pause();
}

/* Child: one complete backup; exit status 0 when every step succeeded. */
static int child_full_backup(int fd, void *userdata) {
        const ChildArgs *args = userdata;
        BackupRun run = {};
        vss_requester *r;
        vss_hr hr;

        r = requester_new_checked();
        if (!r)
                return 20;
        hr = backup_run_steps(r, args->volume, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run);
        if (hr != S_OK) {
                report(fd, "error %s %s", backup_step_name(run.failed_step), vss_hr_name(hr));
                return 21;
        }
        vss_requester_release(r);
        report(fd, "done");
        return 0;
}

static void check_shutdown_set(const TestWriter *w, const char *set) {
        _cleanup_free_ char *line = writer_event_line(w, "BackupShutdown", 0);
        char buf[64];

        assert_non_null(line);
        assert_ok0(line_field(line, "set", buf, sizeof buf));
        if (!streq(buf, set)) {
                print_error("writer %s: BackupShutdown for set %s, expected %s\n", w->name, buf, set);
                fail();
        }
}

static void run_kill_case(Fixture *f, KillPoint point) {
        TestWriter *all[] = { f->front, f->hang, f->system };
        ChildArgs args = { .point = point, .volume = f->volume };
        char line[512], set[512] = {}, device[512] = {};
        pid_t pid;
        int fd, status;

        assert_ok0(child_start(child_until_kill, &args, &pid, &fd));
        assert_ok0(child_wait_report(fd, "set ", line, sizeof line, HARNESS_WAIT_MS));
        snprintf(set, sizeof set, "%s", line + 4);
        if (point == KILL_AFTER_SNAPSHOT) {
                assert_ok0(child_wait_report(fd, "device ", line, sizeof line, HARNESS_WAIT_MS));
                snprintf(device, sizeof device, "%s", line + 7);
        }
        assert_ok0(child_wait_report(fd, "ready", line, sizeof line, HARNESS_WAIT_MS));
        if (point == KILL_IN_FREEZE) {
                assert_ok0(writer_log_wait(f->hang, "begin=Freeze", 1));
                /* Still inside Freeze: the hang writer has not returned from it. */
                assert_int_equal(writer_log_count(f->hang, "event=Freeze"), 0);
        }

        assert_int_equal(kill(pid, SIGKILL), 0);
        status = child_reap(pid);
        assert_int_equal(status, 128 + SIGKILL);
        close(fd);

        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 1));
                check_shutdown_set(all[i], set);
                assert_nothing_frozen(all[i]);
                assert_int_equal(writer_log_count(all[i], "event=BackupComplete"), 0);
        }

        switch (point) {
        case KILL_AFTER_PREPARE_NO_SET:
        case KILL_AFTER_PREPARE:
                for (size_t i = 0; i < ELEMENTSOF(all); i++)
                        assert_events(all[i], "Identify", "PrepareForBackup", "Abort", "BackupShutdown");
                break;
        case KILL_IN_FREEZE:
                assert_events(f->front, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze",
                              "Abort", "BackupShutdown");
                assert_events(f->hang, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze",
                              "Abort", "BackupShutdown");
                assert_events(f->system, "Identify", "PrepareForBackup", "PrepareForSnapshot",
                              "Abort", "BackupShutdown");
                break;
        case KILL_AFTER_SNAPSHOT:
                for (size_t i = 0; i < ELEMENTSOF(all); i++)
                        assert_events(all[i], "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze",
                                      "Thaw", "PostSnapshot", "BackupShutdown");
                /* The requester's release (here: its death) deletes auto-release snapshots. */
                for (unsigned i = 0; i < HARNESS_WAIT_MS / 20 && access(device, F_OK) == 0; i++)
                        usleep(20000);
                if (access(device, F_OK) == 0) {
                        print_error("auto-release snapshot %s survived its requester\n", device);
                        fail();
                }
                break;
        }
        assert_true(harness_vssd_alive(f->h));

        /* The slot was freed: a new requester can run a whole backup. */
        assert_ok0(child_start(child_full_backup, &args, &pid, &fd));
        status = child_reap(pid);
        if (status != 0) {
                (void) child_wait_report(fd, "done", line, sizeof line, 100);
                print_error("the backup after the killed requester failed (child status %d)\n", status);
                fail();
        }
        close(fd);
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                assert_ok0(writer_log_wait(all[i], "event=BackupShutdown", 2));
                assert_int_equal(writer_log_count(all[i], "event=BackupComplete"), 1);
                assert_nothing_frozen(all[i]);
        }
}

static void test_killed_after_prepare_no_set(void **state) {
        run_kill_case(*state, KILL_AFTER_PREPARE_NO_SET);
}

static void test_killed_after_prepare(void **state) {
        run_kill_case(*state, KILL_AFTER_PREPARE);
}

static void test_killed_in_freeze(void **state) {
        run_kill_case(*state, KILL_IN_FREEZE);
}

static void test_killed_after_snapshot(void **state) {
        run_kill_case(*state, KILL_AFTER_SNAPSHOT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_killed_after_prepare_no_set, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_after_prepare, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_in_freeze, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_after_snapshot, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

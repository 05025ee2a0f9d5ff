/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-good-path.c: the whole backup sequence of vss-semantics.md §2 with three
 * writer processes at the three application levels, checked from both ends: what the
 * requester gets back at each step, and what each writer saw, in which order, with which
 * snapshot set id, and which protected helpers libvss allowed it to call (seed 002), plus
 * the per-component BackupSucceeded flags of seed 000 and the release of the auto-release
 * snapshot at the end. And a writer without some callbacks, which is not sent those events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

typedef struct WriterSpec {
        const char *name;
        const char *level;
        const char *component;      /* --component argument */
        const char *logical_path;   /* what the writer metadata must show */
        const char *component_name;
        vss_component_type type;
        bool succeeded;             /* what the requester reports for it */
        const char *complete_flag;  /* expected components= value in BackupComplete */
} WriterSpec;

static const WriterSpec specs[] = {
        { "front", "front", ":front-data", "", "front-data", VSS_CT_FILEGROUP, true, "front-data:1" },
        { "back", "back", "db:backend:db", "db", "backend", VSS_CT_DATABASE, true, "db/backend:1" },
        { "system", "system", "sys:state:fg", "sys", "state", VSS_CT_FILEGROUP, false, "sys/state:0" },
};

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *w[ELEMENTSOF(specs)];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        for (size_t i = 0; i < ELEMENTSOF(specs); i++) {
                const char *args[] = { "--level", specs[i].level, "--component", specs[i].component,
                                       "--file", f->volume, NULL };

                assert_ok0(harness_add_writer(f->h, specs[i].name, args, &f->w[i]));
        }
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

static size_t writer_index_by_instance(Fixture *f, const vss_id *instance_id) {
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                if (vss_id_equal(&f->w[i]->instance_id, instance_id))
                        return i;
        print_error("instance %s is none of our writers\n", id_str(instance_id));
        fail();
        return 0;
}

/* GatherWriterMetadata's result: each writer's identity and component as it declared them. */
static void check_metadata(Fixture *f, vss_requester *r) {
        bool seen[ELEMENTSOF(specs)] = {};
        unsigned count = 0;

        assert_hr(vss_requester_get_writer_metadata_count(r, &count), S_OK);
        assert_int_equal(count, ELEMENTSOF(specs));

        for (unsigned i = 0; i < count; i++) {
                vss_examine_writer_metadata *m = NULL;
                const char *writer_name = NULL;
                vss_id instance_id, md_instance_id, writer_id;
                unsigned n_include = 1, n_exclude = 1, n_components = 0;
                vss_wm_component *comp = NULL;
                vss_component_info info;
                vss_wm_filedesc fd;
                size_t k;

                assert_hr(vss_requester_get_writer_metadata(r, i, &instance_id, &m), S_OK);
                assert_hr(vss_examine_writer_metadata_get_identity(m, &md_instance_id, &writer_id, &writer_name,
                                                                    NULL, NULL, NULL), S_OK);
                assert_true(vss_id_equal(&instance_id, &md_instance_id));
                k = writer_index_by_instance(f, &instance_id);
                assert_false(seen[k]);
                seen[k] = true;
                assert_true(vss_id_equal(&writer_id, &f->w[k]->class_id));
                assert_string_equal(writer_name, specs[k].name);

                assert_hr(vss_examine_writer_metadata_get_file_counts(m, &n_include, &n_exclude, &n_components), S_OK);
                assert_int_equal(n_include, 0);
                assert_int_equal(n_exclude, 0);
                assert_int_equal(n_components, 1);
                assert_hr(vss_examine_writer_metadata_get_component(m, 0, &comp), S_OK);
                assert_hr(vss_wm_component_get_info(comp, &info), S_OK);
                assert_int_equal(info.type, specs[k].type);
                assert_string_equal(info.logical_path, specs[k].logical_path);
                assert_string_equal(info.component_name, specs[k].component_name);
                assert_true(info.selectable);

                /* The one file set the writer declared (--file) belongs to that component. */
                if (specs[k].type == VSS_CT_DATABASE) {
                        assert_int_equal(info.database_count, 1);
                        assert_hr(vss_wm_component_get_database_file(comp, 0, &fd), S_OK);
                } else {
                        assert_int_equal(info.file_count, 1);
                        assert_hr(vss_wm_component_get_file(comp, 0, &fd), S_OK);
                }
                assert_string_equal(fd.path, f->volume);
                assert_string_equal(fd.filespec, "*");
        }
}

/* The snapshot the test-copy provider made holds the volume's content. */
static char *check_snapshot(Fixture *f, vss_requester *r, const BackupRun *run) {
        _cleanup_free_ char *payload_path = NULL;
        vss_snapshot_prop prop = {};
        char buf[256] = {};
        struct stat st;
        char *device;
        ssize_t n;
        int fd;

        assert_hr(vss_requester_get_snapshot_properties(r, &run->snapshot_id, &prop), S_OK);
        assert_true(vss_id_equal(&prop.snapshot_id, &run->snapshot_id));
        assert_true(vss_id_equal(&prop.snapshot_set_id, &run->set_id));
        assert_int_equal(prop.snapshots_count, 1);
        assert_int_equal(prop.status, VSS_SS_CREATED);
        assert_non_null(prop.original_volume_name);
        assert_string_equal(prop.original_volume_name, f->volume);
        assert_non_null(prop.snapshot_device_object);
        assert_int_equal(stat(prop.snapshot_device_object, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* Auto-release is the default for a backup context. */
        assert_false(prop.snapshot_attributes & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE);

        assert_true(asprintf(&payload_path, "%s/payload.txt", prop.snapshot_device_object) > 0);
        fd = open(payload_path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        assert_true(n > 0);
        assert_string_equal(buf, "payload of vol\n");

        device = strdup(prop.snapshot_device_object);
        assert_non_null(device);
        vss_snapshot_prop_free(&prop);
        assert_null(prop.snapshot_device_object);
        return device;
}

static void set_backup_succeeded(Fixture *f, vss_requester *r) {
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                assert_hr(vss_requester_set_backup_succeeded(r, &f->w[i]->instance_id, &f->w[i]->class_id,
                                                             specs[i].type, specs[i].logical_path,
                                                             specs[i].component_name, specs[i].succeeded),
                          S_OK);
}

static void check_status_stable(Fixture *f, vss_requester *r) {
        vss_async *a = NULL;
        unsigned count = 0;

        assert_hr(async_finish(vss_requester_gather_writer_status(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_hr(vss_requester_get_writer_status_count(r, &count), S_OK);
        assert_int_equal(count, ELEMENTSOF(specs));
        for (unsigned i = 0; i < count; i++) {
                const char *name = NULL;
                vss_writer_state ws = VSS_WS_UNKNOWN;
                vss_hr failure = E_FAIL;
                vss_id instance_id, writer_id;
                size_t k;

                assert_hr(vss_requester_get_writer_status(r, i, &instance_id, &writer_id, &name, &ws, &failure), S_OK);
                k = writer_index_by_instance(f, &instance_id);
                assert_true(vss_id_equal(&writer_id, &f->w[k]->class_id));
                assert_string_equal(name, specs[k].name);
                assert_int_equal(ws, VSS_WS_STABLE);
                assert_hr(failure, S_OK);
        }
        assert_hr(vss_requester_free_writer_status(r), S_OK);
}

static void check_field(const TestWriter *w, const char *event, const char *key, const char *expected) {
        _cleanup_free_ char *line = writer_event_line(w, event, 0);
        char buf[256];

        if (!line) {
                print_error("writer %s: no %s event\n", w->name, event);
                fail();
        }
        if (line_field(line, key, buf, sizeof buf) < 0) {
                print_error("writer %s: %s line has no %s=: %s\n", w->name, event, key, line);
                fail();
        }
        if (!streq(buf, expected)) {
                print_error("writer %s: %s %s=%s, expected %s\n", w->name, event, key, buf, expected);
                fail();
        }
}

/* Freeze goes to front-end writers first, then back-end, then system: in the shared log,
 * each level's Freeze has returned before the next level's Freeze begins. */
static void check_freeze_order(Fixture *f) {
        char **lines = NULL;
        ssize_t front_done, back_begin, back_done, system_begin;

        assert_ok0(log_read_lines(f->h->shared_log, &lines));
        front_done = log_find(lines, 0, "writer=front event=Freeze ");
        back_begin = log_find(lines, 0, "writer=back begin=Freeze");
        back_done = log_find(lines, 0, "writer=back event=Freeze ");
        system_begin = log_find(lines, 0, "writer=system begin=Freeze");
        strv_free(lines);

        assert_true(front_done >= 0 && back_begin >= 0 && back_done >= 0 && system_begin >= 0);
        if (!(front_done < back_begin && back_done < system_begin)) {
                print_error("Freeze order wrong in %s (front done at line %zd, back begins %zd, "
                            "back done %zd, system begins %zd)\n",
                            f->h->shared_log, front_done, back_begin, back_done, system_begin);
                fail();
        }
}

static void test_good_path(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *device = NULL;
        const char *set;
        BackupRun run = {};
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);

        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_int_equal(run.n_writers, ELEMENTSOF(specs));
        check_metadata(f, r);

        assert_hr(backup_run_steps(r, f->volume, STEP_ADD_COMPONENTS, STEP_DO_SNAPSHOT, &run), S_OK);
        assert_false(vss_id_is_null(&run.set_id));
        device = check_snapshot(f, r, &run);

        set_backup_succeeded(f, r);
        assert_hr(backup_run_steps(r, f->volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run), S_OK);
        check_status_stable(f, r);

        /* Before release no writer has seen BackupShutdown. */
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                assert_int_equal(writer_log_count(f->w[i], "event=BackupShutdown"), 0);

        vss_requester_release(r);

        set = id_str(&run.set_id);
        for (size_t i = 0; i < ELEMENTSOF(specs); i++) {
                const TestWriter *w = f->w[i];

                assert_ok0(writer_log_wait(w, "event=BackupShutdown", 1));
                assert_events(w, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw",
                              "PostSnapshot", "BackupComplete", "BackupShutdown");

                /* Seed 002: the set id is available from PrepareForSnapshot to PostSnapshot... */
                check_field(w, "PrepareForSnapshot", "getsetid", "ok");
                check_field(w, "Freeze", "getsetid", "ok");
                check_field(w, "Thaw", "getsetid", "ok");
                check_field(w, "PostSnapshot", "getsetid", "ok");
                check_field(w, "PrepareForSnapshot", "set", set);
                check_field(w, "Freeze", "set", set);
                check_field(w, "Thaw", "set", set);
                check_field(w, "PostSnapshot", "set", set);
                /* ...and refused after PostSnapshot returned and inside BackupShutdown. */
                check_field(w, "BackupComplete", "getsetid", "VSS_E_BAD_STATE");
                check_field(w, "BackupShutdown", "getsetid", "VSS_E_BAD_STATE");
                check_field(w, "BackupShutdown", "set", set);

                check_field(w, "PrepareForBackup", "backup_type", "1");
                check_field(w, "BackupComplete", "backup_type", "1");
                check_field(w, "PrepareForSnapshot", "volumes", "1");
                check_field(w, "PostSnapshot", "volumes", "1");

                /* Seed 000: each writer sees the flag the requester set for its component. */
                check_field(w, "BackupComplete", "components", specs[i].complete_flag);
        }

        check_freeze_order(f);

        /* Release deleted the auto-release snapshot. */
        for (unsigned i = 0; i < HARNESS_WAIT_MS / 20 && access(device, F_OK) == 0; i++)
                usleep(20000);
        if (access(device, F_OK) == 0) {
                print_error("auto-release snapshot %s still exists after release\n", device);
                fail();
        }

        assert_true(harness_vssd_alive(f->h));
}

/*
 * A writer without callbacks for PrepareForBackup, PrepareForSnapshot, PostSnapshot and
 * BackupComplete is not sent those events at all (libvss tells vssd at Subscribe), next to a
 * writer that has them all: both end the backup stable, each saw what it handles.
 */
static int setup_no_callbacks(void **state) {
        const char *lean[] = { "--component", ":lean-data", "--file", NULL, "--no-callback", "prepare-backup",
                               "--no-callback", "prepare-snapshot", "--no-callback", "post-snapshot",
                               "--no-callback", "backup-complete", NULL };
        /* vssd logs each event it sends at debug level: what was not sent is seen there. */
        const HarnessOptions opts = { .extra_args = (const char *const[]) { "--log-level", "debug", NULL } };
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_ok0(harness_new(&opts, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        lean[3] = f->volume;
        assert_ok0(harness_add_writer(f->h, "lean", lean, &f->w[0]));
        assert_ok0(harness_add_writer(f->h, "full", (const char *[]) { "--component", ":full-data", "--file",
                                                                        f->volume, NULL },
                                      &f->w[1]));
        *state = f;
        return 0;
}

static void test_events_without_callbacks(void **state) {
        Fixture *f = *state;
        BackupRun run = {};
        vss_requester *r;
        vss_async *a = NULL;
        unsigned count = 0;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run), S_OK);

        assert_hr(async_finish(vss_requester_gather_writer_status(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_hr(vss_requester_get_writer_status_count(r, &count), S_OK);
        assert_int_equal(count, 2);
        for (unsigned i = 0; i < count; i++) {
                vss_writer_state ws = VSS_WS_UNKNOWN;
                vss_hr failure = E_FAIL;
                vss_id instance_id, writer_id;
                const char *name = NULL;

                assert_hr(vss_requester_get_writer_status(r, i, &instance_id, &writer_id, &name, &ws, &failure), S_OK);
                assert_int_equal(ws, VSS_WS_STABLE);
                assert_hr(failure, S_OK);
        }
        vss_requester_release(r);

        assert_ok0(writer_log_wait(f->w[0], "event=BackupShutdown", 1));
        assert_ok0(writer_log_wait(f->w[1], "event=BackupShutdown", 1));
        assert_events(f->w[0], "Identify", "Freeze", "Thaw", "BackupShutdown");
        assert_events(f->w[1], "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw",
                      "PostSnapshot", "BackupComplete", "BackupShutdown");
        for (size_t i = 0; i < 4; i++) {
                static const char *const skipped[] = { "PrepareForBackup", "PrepareForSnapshot", "PostSnapshot",
                                                       "BackupComplete" };
                char lean[128], full[128];

                (void) snprintf(lean, sizeof(lean), "Sent %s to writer \"lean\"", skipped[i]);
                (void) snprintf(full, sizeof(full), "Sent %s to writer \"full\"", skipped[i]);
                assert_int_equal(log_count(f->h->vssd_log, lean), 0);
                assert_int_equal(log_count(f->h->vssd_log, full), 1);
        }
        assert_int_equal(log_count(f->h->vssd_log, "Sent Freeze to writer \"lean\""), 1);
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_without_callbacks, setup_no_callbacks, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

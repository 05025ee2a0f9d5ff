/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bad-input.c: wrong, out-of-sequence, oversized and hostile input gets a precise VSS
 * error and costs nothing: out-of-sequence calls (VSS_E_BAD_STATE), duplicates and unknown
 * objects, the per-set volume limit, oversized strings, provider failures injected into the
 * test-copy provider (each mapped to the code seed 001 names), BackupComplete's argument and
 * sequence checks (seed 000), and a raw D-Bus peer sending vssd malformed calls and writer
 * metadata, after which vssd still serves everybody else.
 *
 * For the asynchronous methods a state error may come from the call itself or from its
 * IVssAsync (seed 001: "returned by this method or by QueryStatus"); async_finish() folds
 * both into one result.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "macro.h"
#include "vss-bus.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *w;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_ok0(harness_add_writer(f->h, "writer", NULL, &f->w));
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

static char *huge_string(char c, size_t n) {
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_out_of_sequence(void **state) {
        Fixture *f = *state;
        BackupRun run = {};
        vss_async *a = NULL;
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        /* Seed 004: AbortBackup only makes sense once a backup has been prepared. */
        assert_hr(vss_requester_abort_backup(r), VSS_E_BAD_STATE);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false), S_OK);
        assert_hr(async_finish(vss_requester_do_snapshot_set(r, &a), &a), VSS_E_BAD_STATE);
        assert_hr(async_finish(vss_requester_backup_complete(r, &a), &a), VSS_E_BAD_STATE);
        assert_hr(vss_requester_backup_complete(r, NULL), E_INVALIDARG);
        assert_hr(async_finish(vss_requester_gather_writer_metadata(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_hr(async_finish(vss_requester_gather_writer_metadata(r, &a), &a), VSS_E_BAD_STATE);
        vss_requester_release(r);

        /* BackupComplete after PrepareForBackup but without DoSnapshotSet (seed 000). */
        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
        assert_hr(async_finish(vss_requester_backup_complete(r, &a), &a), VSS_E_BAD_STATE);
        assert_hr(vss_requester_backup_complete(r, NULL), E_INVALIDARG);
        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);

        assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", 1));
        assert_int_equal(writer_log_count(f->w, "event=BackupComplete"), 0);
        assert_true(harness_vssd_alive(f->h));
}

static void test_component_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *huge = huge_string('c', VSS_MAX_STRING + 100);
        BackupRun run = {};
        vss_id bogus_instance, bogus_writer;
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_int_equal(run.n_writers, 1);

        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, "", "data"),
                  S_OK);
        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, "", "data"),
                  VSS_E_OBJECT_ALREADY_EXISTS);

        vss_id_generate(&bogus_instance);
        vss_id_generate(&bogus_writer);
        assert_hr(vss_requester_add_component(r, &bogus_instance, &bogus_writer, VSS_CT_FILEGROUP, "", "data"),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, "",
                                              "no-such-component"),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, "", huge),
                  E_INVALIDARG);
        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, huge, "data"),
                  E_INVALIDARG);
        assert_hr(vss_requester_add_component(r, &f->w->instance_id, &f->w->class_id, VSS_CT_FILEGROUP, "", NULL),
                  E_INVALIDARG);
        vss_requester_release(r);
        assert_true(harness_vssd_alive(f->h));
}

static void test_volume_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *huge = huge_string('v', VSS_MAX_STRING + 100), *missing = NULL;
        BackupRun run = {};
        vss_requester *r;
        vss_id snap;

        huge[0] = '/';
        assert_true(asprintf(&missing, "%s/does-not-exist", f->h->dir) > 0);

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_START_SET, &run), S_OK);

        assert_hr(vss_requester_add_to_snapshot_set(r, missing, NULL, &snap), VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_to_snapshot_set(r, huge, NULL, &snap), E_INVALIDARG);
        assert_hr(vss_requester_add_to_snapshot_set(r, NULL, NULL, &snap), E_INVALIDARG);
        assert_hr(vss_requester_add_to_snapshot_set(r, f->volume, NULL, NULL), E_INVALIDARG);

        /* The set takes VSS_MAX_VOLUMES_PER_SET volumes and not one more. */
        for (unsigned i = 0; i <= VSS_MAX_VOLUMES_PER_SET; i++) {
                _cleanup_free_ char *vol = NULL;
                char name[32];

                snprintf(name, sizeof name, "many-%u", i);
                assert_ok0(harness_make_volume(f->h, name, &vol));
                assert_hr(vss_requester_add_to_snapshot_set(r, vol, NULL, &snap),
                          i < VSS_MAX_VOLUMES_PER_SET ? S_OK : VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED);
        }
        vss_requester_release(r);
        assert_true(harness_vssd_alive(f->h));
}

typedef struct ProviderFault {
        const char *content;
        vss_hr expected;
} ProviderFault;

static void test_provider_faults(void **state) {
        static const ProviderFault faults[] = {
                { "commit=0x80042306\n", VSS_E_PROVIDER_VETO },
                { "commit=0x8004231F\n", VSS_E_INSUFFICIENT_STORAGE },
                { "commit=0x80004005\n", VSS_E_UNEXPECTED_PROVIDER_ERROR },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(faults); i++) {
                _cleanup_free_ char *vol = NULL;
                BackupRun run = {};
                vss_requester *r;
                char name[32];

                snprintf(name, sizeof name, "faulty-%zu", i);
                assert_ok0(harness_make_volume(f->h, name, &vol));
                assert_ok0(volume_inject_fault(vol, faults[i].content));

                r = requester_new_checked();
                assert_non_null(r);
                assert_hr(backup_run_steps(r, vol, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
                assert_hr(backup_run_steps(r, vol, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run), faults[i].expected);
                assert_hr(vss_requester_abort_backup(r), S_OK);
                vss_requester_release(r);

                assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", (unsigned) i + 1));
                assert_nothing_frozen(f->w);
                assert_int_equal(writer_log_count(f->w, "event=PostSnapshot"), 0);
        }
        assert_true(harness_vssd_alive(f->h));
}

/*
 * A provider failing end-prepare fails after PrepareForSnapshot: unlike a writer's own
 * PrepareForSnapshot veto (seed 004), that is a coordinator-side failure, and vssd itself
 * must send Abort (vss-semantics §11, §13) before the requester asks for it.
 */
static void test_end_prepare_fault_aborts_writers(void **state) {
        _cleanup_free_ char *vol = NULL;
        Fixture *f = *state;
        BackupRun run = {};
        vss_requester *r;

        assert_ok0(harness_make_volume(f->h, "faulty-end-prepare", &vol));
        assert_ok0(volume_inject_fault(vol, "end_prepare=0x80042306\n"));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, vol, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);
        assert_hr(backup_run_steps(r, vol, STEP_DO_SNAPSHOT, STEP_DO_SNAPSHOT, &run), VSS_E_PROVIDER_VETO);

        /* vssd's own Abort, before any AbortBackup; no Freeze was ever sent. */
        assert_ok0(writer_log_wait(f->w, "event=Abort", 1));
        assert_int_equal(writer_log_count(f->w, "event=Freeze"), 0);

        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", 1));
        assert_true(harness_vssd_alive(f->h));
}

/* ------------------------------------------------------------------------------------------ */
/* A raw D-Bus peer                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum RawMode {
        RAW_GARBAGE_WMD,   /* Identify answers with a well-typed but invalid document */
        RAW_WRONG_REPLY,   /* Identify answers with the wrong signature */
} RawMode;

typedef struct RawWriter {
        sd_bus *bus;
        RawMode mode;
        pthread_t thread;
        atomic_bool stop;
        atomic_uint identify_calls;
} RawWriter;

static int raw_connect(const char *path, sd_bus **ret) {
        _cleanup_free_ char *address = NULL;
        sd_bus *bus = NULL;
        int r;

        if (asprintf(&address, "unix:path=%s", path) < 0)
                return -ENOMEM;
        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* The D-Bus error name of the last failed raw_call, "" after a success. */
static char raw_last_error[256];

#define assert_raw_error(hr_name) assert_string_equal(raw_last_error, VSS_BUS_ERROR_PREFIX hr_name)

/* One method call; 0 if vssd answered with success, else the negative error sd-bus gave. */
static int raw_call(sd_bus *bus, const char *iface, const char *member, const char *sig, ...) {
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, VSS_BUS_PATH, iface, member);
        if (r < 0)
                return r;
        if (sig) {
                va_start(ap, sig);
                r = sd_bus_message_appendv(m, sig, ap);
                va_end(ap);
                if (r < 0) {
                        sd_bus_message_unref(m);
                        return r;
                }
        }
        r = sd_bus_call(bus, m, 10 * USEC_PER_SEC, &error, &reply);
        snprintf(raw_last_error, sizeof raw_last_error, "%s", r >= 0 ? "" : error.name ?: strerror(-r));
        if (r < 0)
                fprintf(stderr, "raw %s.%s -> %s\n", iface, member, raw_last_error);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 0;
}

static int raw_identify(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        RawWriter *w = userdata;
        sd_bus_message *reply = NULL;
        int r;

        atomic_fetch_add(&w->identify_calls, 1);
        if (w->mode == RAW_WRONG_REPLY)
                return sd_bus_reply_method_return(m, "s", "this is not a writer metadata document");

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "b", 1);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'r', "ssssiiu(ussub)ua(usssbbbbu)a(ussssbsu)a(ssb)");
        if (r >= 0)
                r = sd_bus_message_append(reply, "ssssiiu", "garbage", "not-a-uuid", "", "", 99, -5, 0);
        if (r >= 0)
                r = sd_bus_message_append(reply, "(ussub)", 999, "", "", 77, 0);
        if (r >= 0)
                r = sd_bus_message_append(reply, "u", 0xffffffffu);
        if (r >= 0)
                r = sd_bus_message_append(reply, "a(usssbbbbu)", 1, 42, "lp\\", "", "", 0, 0, 0, 0, 0xffu);
        if (r >= 0)
                r = sd_bus_message_append(reply, "a(ussssbsu)", 1, 9, "no", "such", "relative", "", 0, "", 0);
        if (r >= 0)
                r = sd_bus_message_append(reply, "a(ssb)", 0);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                fprintf(stderr, "raw writer: cannot build its garbage Identify reply: %s\n", strerror(-r));
        sd_bus_message_unref(reply);
        return r;
}

static int raw_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "bi", 1, 0);
}

#define RAW_EVENT_METHODS                                                                      \
        SD_BUS_METHOD("PrepareForBackup", "a{sv}", "bi", raw_event, 0),                        \
        SD_BUS_METHOD("PrepareForSnapshot", "a{sv}", "bi", raw_event, 0),                      \
        SD_BUS_METHOD("Freeze", "a{sv}", "bi", raw_event, 0),                                  \
        SD_BUS_METHOD("Thaw", "a{sv}", "bi", raw_event, 0),                                    \
        SD_BUS_METHOD("PostSnapshot", "a{sv}", "bi", raw_event, 0),                            \
        SD_BUS_METHOD("Abort", "a{sv}", "bi", raw_event, 0),                                   \
        SD_BUS_METHOD("BackupComplete", "a{sv}", "bi", raw_event, 0),                          \
        SD_BUS_METHOD("BackupShutdown", "a{sv}", "bi", raw_event, 0)

/* sd-bus holds a reply to the signature its vtable declares, so each mode has its own. */
static const sd_bus_vtable raw_writer_vtable_wrong[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Identify", "a{sv}", "s", raw_identify, 0),
        RAW_EVENT_METHODS,
        SD_BUS_VTABLE_END
};

static const sd_bus_vtable raw_writer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Identify", "a{sv}", "b" VSS_BUS_SIG_WMD, raw_identify, 0),
        RAW_EVENT_METHODS,
        SD_BUS_VTABLE_END
};

static void *raw_writer_loop(void *userdata) {
        RawWriter *w = userdata;

        while (!atomic_load(&w->stop)) {
                int r = sd_bus_process(w->bus, NULL);

                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                (void) sd_bus_wait(w->bus, 100 * USEC_PER_MSEC);
        }
        return NULL;
}

static void raw_writer_start(const char *socket_path, RawMode mode, RawWriter *w) {
        char class_id[VSS_ID_STRING_MAX];
        vss_id id;

        w->mode = mode;
        atomic_init(&w->stop, false);
        atomic_init(&w->identify_calls, 0);
        assert_ok0(raw_connect(socket_path, &w->bus));
        assert_ok0(sd_bus_add_object_vtable(w->bus, NULL, VSS_BUS_WRITER_PATH, VSS_BUS_IFACE_EVENTS,
                                            mode == RAW_WRONG_REPLY ? raw_writer_vtable_wrong : raw_writer_vtable, w));
        vss_id_generate(&id);
        assert_ok0(raw_call(w->bus, VSS_BUS_IFACE_WRITER, "Subscribe", "sssiiiuu", vss_id_format(&id, class_id),
                            "raw", "", (int) VSS_UT_USERDATA, (int) VSS_ST_OTHER, (int) VSS_APP_FRONT_END, 60000u,
                            VSS_SM_BACKUP_EVENTS_FLAG));
        assert_int_equal(pthread_create(&w->thread, NULL, raw_writer_loop, w), 0);
}

static void raw_writer_stop(RawWriter *w) {
        atomic_store(&w->stop, true);
        (void) pthread_join(w->thread, NULL);
        sd_bus_flush_close_unref(w->bus);
        w->bus = NULL;
}

static void test_raw_bus_garbage(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *huge = huge_string('x', 200000);
        RawWriter garbage = {}, wrong = {};
        BackupRun run = {};
        vss_requester *r;
        sd_bus *bus = NULL;
        unsigned count = 0;
        vss_id instance_id;
        vss_examine_writer_metadata *m = NULL;

        /* Malformed requester calls: each refused, none kills the connection or vssd. */
        assert_ok0(raw_connect(f->h->socket_path, &bus));
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "AddComponent", "ssusss", "not-a-uuid", "{}", 7u, "",
                             "x", "extra") < 0);
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "InitializeForBackup", "s", "<not-xml") < 0);
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "SetContext", "s", "not a number") < 0);
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "NoSuchMethod", NULL) < 0);
        assert_true(raw_call(bus, "org.vsslinux.VSS1.NoSuchInterface", "Foo", NULL) < 0);
        /* The connection still works for well-formed calls, and refuses oversized ones. */
        assert_int_equal(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "InitializeForBackup", "s", ""), 0);
        assert_int_equal(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "StartSnapshotSet", NULL), 0);
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "AddToSnapshotSet", "ss", huge, "") < 0);
        assert_raw_error("E_INVALIDARG");
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "AddToSnapshotSet", "ss", f->volume, "not-a-uuid") < 0);
        assert_raw_error("E_INVALIDARG");
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "AddComponent", "ssusss", "not-a-uuid", "{}", 7u, "",
                             "x", "extra") < 0);
        assert_true(raw_call(bus, VSS_BUS_IFACE_REQUESTER, "AddComponent", "ssuss", "not-a-uuid", "nope", 7u, "",
                             "x") < 0);
        sd_bus_flush_close_unref(bus);
        bus = NULL;

        /* Malformed writer registrations. */
        assert_ok0(raw_connect(f->h->socket_path, &bus));
        assert_true(raw_call(bus, VSS_BUS_IFACE_WRITER, "Subscribe", "sssiiiuu", "not-a-uuid", "w", "", 3, 3, 3,
                             1000u, 2u) < 0);
        assert_raw_error("E_INVALIDARG");
        assert_true(raw_call(bus, VSS_BUS_IFACE_WRITER, "Subscribe", "sssiiiuu", "00000000-0000-0000-0000-000000000000",
                             "w", "", 3, 3, 3, 1000u, 2u) < 0);
        assert_raw_error("E_INVALIDARG");
        assert_true(raw_call(bus, VSS_BUS_IFACE_WRITER, "Subscribe", "sssiiiuu", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                             huge, "", 3, 3, 3, 1000u, 2u) < 0);
        assert_raw_error("E_INVALIDARG");
        assert_true(raw_call(bus, VSS_BUS_IFACE_WRITER, "Subscribe", "s", "6ba7b810-9dad-11d1-80b4-00c04fd430c8") < 0);
        sd_bus_flush_close_unref(bus);
        bus = NULL;

        /* Two writers that answer Identify with nonsense. */
        raw_writer_start(f->h->socket_path, RAW_GARBAGE_WMD, &garbage);
        raw_writer_start(f->h->socket_path, RAW_WRONG_REPLY, &wrong);

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_true(atomic_load(&garbage.identify_calls) >= 1);
        assert_true(atomic_load(&wrong.identify_calls) >= 1);
        /* Their documents were refused: only the real writer is listed. */
        assert_hr(vss_requester_get_writer_metadata_count(r, &count), S_OK);
        assert_int_equal(count, 1);
        assert_hr(vss_requester_get_writer_metadata(r, 0, &instance_id, &m), S_OK);
        assert_true(vss_id_equal(&instance_id, &f->w->instance_id));
        /* And the rest of the backup is unaffected. */
        assert_hr(backup_run_steps(r, f->volume, STEP_ADD_COMPONENTS, STEP_BACKUP_COMPLETE, &run), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(f->w, "event=BackupShutdown", 1));

        raw_writer_stop(&garbage);
        raw_writer_stop(&wrong);
        assert_true(harness_vssd_alive(f->h));

        /* vssd still serves a fresh requester after the hostile peers left. */
        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, f->volume, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_int_equal(run.n_writers, 1);
        vss_requester_release(r);
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_out_of_sequence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_component_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_volume_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_provider_faults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_end_prepare_fault_aborts_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_raw_bus_garbage, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

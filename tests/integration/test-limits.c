/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-limits: every resource a peer can make vssd hold has a limit with its own error, and
 * one process may host several writers.
 *
 *  - connections: past its connection limit (root's own, --max-root-connections, here) a new
 *    client is turned away, the ones already in keep working, and a slot frees when a client
 *    leaves (the limits of other uids: test-admission);
 *  - writers: past vssd's writer limit Subscribe fails with VSS_E_WRITER_STATUS_NOT_AVAILABLE;
 *  - components: past VSS_MAX_COMPONENTS in one backup AddComponent fails with
 *    E_OUTOFMEMORY ("out of memory or other system resources");
 *  - several writers in this very process (as vss-writer.h allows) each get the whole event
 *    sequence, on libvss's threads, never on the caller's.
 *
 * The writers here live inside the test process, so what is counted is exact.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "vss-bus.h"

/* The writer limit of vssd (src/vssd/manager.h: VSSD_MAX_WRITERS). */
#define VSSD_WRITER_LIMIT 256U

typedef struct InProcWriter {
        vss_writer *w;
        unsigned n_components;
        atomic_uint events;
        atomic_uint freezes;
        atomic_uint thaws;
        atomic_bool on_main_thread;
} InProcWriter;

static pthread_t main_thread;

static void note_event(InProcWriter *iw) {
        atomic_fetch_add(&iw->events, 1);
        if (pthread_equal(pthread_self(), main_thread))
                atomic_store(&iw->on_main_thread, true);
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        InProcWriter *iw = userdata;

        note_event(iw);
        for (unsigned i = 0; i < iw->n_components; i++) {
                char name[32];

                snprintf(name, sizeof name, "c%u", i);
                if (vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "limits", name, NULL, false,
                                                             false, false, false, 0) != S_OK)
                        return false;
        }
        return true;
}

static bool on_event(vss_writer *w, void *userdata) {
        note_event(userdata);
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        InProcWriter *iw = userdata;

        atomic_fetch_add(&iw->freezes, 1);
        note_event(iw);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        InProcWriter *iw = userdata;

        atomic_fetch_add(&iw->thaws, 1);
        note_event(iw);
        return true;
}

static bool on_components_event(vss_writer *w, vss_writer_components *c, void *userdata) {
        note_event(userdata);
        return true;
}

static bool on_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        note_event(userdata);
        return true;
}

static const vss_writer_callbacks callbacks = {
        .version = VSS_WRITER_CALLBACKS_VERSION,
        .on_identify = on_identify,
        .on_prepare_backup = on_components_event,
        .on_prepare_snapshot = on_event,
        .on_freeze = on_freeze,
        .on_thaw = on_thaw,
        .on_post_snapshot = on_components_event,
        .on_abort = on_event,
        .on_backup_complete = on_components_event,
        .on_backup_shutdown = on_shutdown,
};

/* Subscribe one in-process writer; returns the HRESULT of Subscribe. */
static vss_hr inproc_writer_start(InProcWriter *iw, const char *name, unsigned n_components) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_hr hr;

        iw->n_components = n_components;
        vss_id_generate(&opts.writer_id);
        opts.writer_name = name;
        hr = vss_writer_new(&iw->w, &opts, &callbacks, iw);
        if (hr != S_OK)
                return hr;
        return vss_writer_subscribe(iw->w, VSS_SM_BACKUP_EVENTS_FLAG);
}

static void inproc_writer_stop(InProcWriter *iw) {
        vss_writer_free(iw->w);
        iw->w = NULL;
}

/* A requester that has reached vssd: InitializeForBackup answered. */
static vss_hr requester_try(vss_requester **ret) {
        vss_requester *r = NULL;
        vss_hr hr;

        hr = vss_requester_new(&r, NULL);
        if (hr == S_OK)
                hr = vss_requester_initialize_for_backup(r, NULL);
        if (hr != S_OK) {
                vss_requester_release(r);
                return hr;
        }
        *ret = r;
        return S_OK;
}

static void test_connection_limit(void **state) {
        HarnessOptions opts = { .allow_writer_uid = -1,
                                .extra_args = (const char *const[]) { "--max-root-connections=3", NULL } };
        vss_requester *r[3] = {}, *extra = NULL;
        Harness *h = NULL;
        vss_hr hr = S_OK;

        assert_ok0(harness_new(&opts, &h));

        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                assert_hr(requester_try(&r[i]), S_OK);

        /* The fourth is turned away at the door; vssd cannot speak D-Bus to it yet. */
        assert_hr(requester_try(&extra), VSS_E_WRITER_INFRASTRUCTURE);
        assert_null(extra);

        /* Those already in are unaffected. */
        assert_hr(vss_requester_set_backup_state(r[0], true, false, VSS_BT_FULL, false), S_OK);

        /* A client leaving frees its slot (vssd sees the close asynchronously). */
        vss_requester_release(r[2]);
        r[2] = NULL;
        for (unsigned i = 0; i < 200; i++) {
                hr = requester_try(&r[2]);
                if (hr == S_OK)
                        break;
                (void) usleep(10 * 1000);
        }
        assert_hr(hr, S_OK);

        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                vss_requester_release(r[i]);
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

static void test_writer_limit(void **state) {
        HarnessOptions opts = { .allow_writer_uid = -1 };
        InProcWriter *writers;
        InProcWriter extra = {};
        Harness *h = NULL;

        writers = calloc(VSSD_WRITER_LIMIT, sizeof(*writers));
        assert_non_null(writers);
        assert_ok0(harness_new(&opts, &h));

        for (unsigned i = 0; i < VSSD_WRITER_LIMIT; i++)
                assert_hr(inproc_writer_start(&writers[i], "limit-writer", 1), S_OK);

        assert_hr(inproc_writer_start(&extra, "one-too-many", 1), VSS_E_WRITER_STATUS_NOT_AVAILABLE);
        inproc_writer_stop(&extra);

        /* One leaves, another may come in. */
        inproc_writer_stop(&writers[0]);
        {
                vss_hr hr = S_OK;

                for (unsigned i = 0; i < 200; i++) {
                        InProcWriter again = {};

                        hr = inproc_writer_start(&again, "latecomer", 1);
                        if (hr == S_OK) {
                                writers[0] = again;
                                break;
                        }
                        inproc_writer_stop(&again);
                        (void) usleep(10 * 1000);
                }
                assert_hr(hr, S_OK);
        }

        for (unsigned i = 0; i < VSSD_WRITER_LIMIT; i++)
                inproc_writer_stop(&writers[i]);
        free(writers);
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

/* Adds every component of every gathered writer; returns the first failure, or S_OK. */
static vss_hr add_all_components(vss_requester *r, unsigned *ret_added) {
        unsigned n = 0, added = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(r, &n);
        for (unsigned i = 0; hr == S_OK && i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;
                unsigned ncomp = 0;

                hr = vss_requester_get_writer_metadata(r, i, &inst, &m);
                if (hr == S_OK)
                        hr = vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL);
                if (hr == S_OK)
                        hr = vss_examine_writer_metadata_get_file_counts(m, NULL, NULL, &ncomp);
                for (unsigned c = 0; hr == S_OK && c < ncomp; c++) {
                        vss_wm_component *comp;
                        vss_component_info info;

                        hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                        if (hr == S_OK)
                                hr = vss_wm_component_get_info(comp, &info);
                        if (hr == S_OK)
                                hr = vss_requester_add_component(r, &inst, &wid, info.type, info.logical_path,
                                                                 info.component_name);
                        if (hr == S_OK)
                                added++;
                }
        }
        *ret_added = added;
        return hr;
}

static void test_component_limit(void **state) {
        HarnessOptions opts = { .allow_writer_uid = -1 };
        InProcWriter a = {}, b = {};
        vss_async *async = NULL;
        vss_requester *r = NULL;
        Harness *h = NULL;
        unsigned added = 0;
        vss_hr hr;

        assert_ok0(harness_new(&opts, &h));
        /* Two writers, each within the per-writer limit, together past the per-backup one. */
        assert_hr(inproc_writer_start(&a, "many-components-a", 600), S_OK);
        assert_hr(inproc_writer_start(&b, "many-components-b", 600), S_OK);

        assert_hr(requester_try(&r), S_OK);
        assert_hr(vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false), S_OK);
        hr = vss_requester_gather_writer_metadata(r, &async);
        assert_hr(async_finish(hr, &async), VSS_S_ASYNC_FINISHED);

        assert_hr(add_all_components(r, &added), E_OUTOFMEMORY);
        assert_int_equal(added, VSS_MAX_COMPONENTS);

        vss_requester_release(r);
        inproc_writer_stop(&a);
        inproc_writer_stop(&b);
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

static void test_writers_in_one_process(void **state) {
        HarnessOptions opts = { .allow_writer_uid = -1 };
        _cleanup_free_ char *vol = NULL;
        InProcWriter w[2] = {};
        BackupRun run = {};
        vss_requester *r = NULL;
        Harness *h = NULL;

        main_thread = pthread_self();
        assert_ok0(harness_new(&opts, &h));
        assert_ok0(harness_make_volume(h, "in-process", &vol));
        assert_hr(inproc_writer_start(&w[0], "in-process-a", 1), S_OK);
        assert_hr(inproc_writer_start(&w[1], "in-process-b", 1), S_OK);

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, vol, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run), S_OK);
        assert_int_equal(run.n_writers, 2);
        vss_requester_release(r);

        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                /* Identify, PrepareForBackup, PrepareForSnapshot, Freeze, Thaw, PostSnapshot,
                 * BackupComplete, and BackupShutdown once the requester is gone. */
                for (unsigned k = 0; k < 500 && atomic_load(&w[i].events) < 8; k++)
                        (void) usleep(10 * 1000);
                assert_int_equal(atomic_load(&w[i].events), 8);
                assert_int_equal(atomic_load(&w[i].freezes), 1);
                assert_int_equal(atomic_load(&w[i].thaws), 1);
                assert_false(atomic_load(&w[i].on_main_thread));
                inproc_writer_stop(&w[i]);
        }
        harness_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_connection_limit),
                cmocka_unit_test(test_writer_limit),
                cmocka_unit_test(test_component_limit),
                cmocka_unit_test(test_writers_in_one_process),
        };

        main_thread = pthread_self();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

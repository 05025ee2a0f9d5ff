/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fake-vssd.c: libvss against an in-test vssd stand-in (fake-vssd.c).
 *
 * Writer side: the Freeze safety net (a Freeze never followed by Thaw makes libvss call
 * on_abort itself after the freeze timeout, also when on_freeze is stuck past it; losing the
 * connection while frozen does it at once; vssd's late Thaw/Abort are then answered without
 * running callbacks twice), the helper windows (GetCurrentSnapshotSetId in Freeze but not in
 * BackupShutdown, seed 002), the components view, Identify's document, vetoes, and a
 * blocked callback not keeping the connection from being served (a Thaw accepted on time).
 * Requester side: a deferred call vssd never answers, Wait with a timeout, Cancel (honoured
 * and too late), release and server loss with an operation in flight, error mapping, and the
 * Gather caches.
 *
 * No assertion depends on timing: the tests wait for conditions (with a safety limit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake-vssd.h"
#include "vss-bus.h"
#include "vss/vss.h"

#define WAIT_LIMIT_SEC 30

/* ------------------------------------------------------------------------------------------ */
/* A test writer that records what its callbacks saw                                            */
/* ------------------------------------------------------------------------------------------ */

typedef struct TestWriter {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        vss_writer *w;

        unsigned n_identify, n_prepare_backup, n_prepare_snapshot, n_freeze, n_thaw, n_post, n_abort,
                n_complete, n_shutdown;
        char log[64];                   /* one letter per callback, in order */

        bool gate_freeze;               /* on_freeze blocks while set */
        bool in_freeze;
        bool veto_prepare_snapshot;

        vss_hr freeze_set_id_hr;
        vss_id freeze_set_id;
        vss_hr abort_set_id_hr;
        vss_hr abort_instance_hr;
        vss_hr abort_subscribe_hr;
        vss_hr abort_backup_type_hr;
        vss_backup_type abort_backup_type;
        vss_hr shutdown_set_id_hr;
        vss_id shutdown_arg;

        /* Captured in on_prepare_backup. */
        vss_hr pb_set_id_hr, pb_succeeded_hr, pb_builder_hr;
        unsigned pb_components;
        char pb_component_name[32];
        bool pb_selected;
        bool pb_affected[4];
        vss_hr pb_affected_hr[4];

        /* Captured in on_prepare_snapshot / on_post_snapshot / on_backup_complete. */
        unsigned ps_volumes;
        char ps_volume0[32];
        vss_hr post_unsubscribe_hr;
        vss_hr complete_succeeded_hr;
        bool complete_succeeded;
        vss_hr complete_set_id_hr;
        vss_hr identify_failure_hr;
} TestWriter;

static void tw_log(TestWriter *t, char c, unsigned *counter) {
        size_t n;

        pthread_mutex_lock(&t->lock);
        n = strlen(t->log);
        if (n + 1 < sizeof(t->log))
                t->log[n] = c;
        (*counter)++;
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);
}

/* Wait until *counter reaches value; false after the safety limit. */
static bool tw_wait(TestWriter *t, const unsigned *counter, unsigned value) {
        struct timespec ts;
        bool reached;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += WAIT_LIMIT_SEC;
        pthread_mutex_lock(&t->lock);
        while (*counter < value)
                if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) != 0)
                        break;
        reached = *counter >= value;
        pthread_mutex_unlock(&t->lock);
        return reached;
}

static unsigned tw_get(TestWriter *t, const unsigned *counter) {
        unsigned v;

        pthread_mutex_lock(&t->lock);
        v = *counter;
        pthread_mutex_unlock(&t->lock);
        return v;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        TestWriter *t = userdata;

        t->identify_failure_hr = vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
        (void) vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "data", "Data", false, true,
                                                        true, true, 0);
        (void) vss_create_writer_metadata_add_files_to_file_group(md, NULL, "data", "/srv/data", "*", true, NULL,
                                                                  VSS_FSBT_ALL_BACKUP_REQUIRED);
        tw_log(t, 'I', &t->n_identify);
        return true;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        static const char *const paths[4] = {
                "/mnt/data/file", "/mnt/database", "${VSS_TEST_DATA}/x/../y", "/mnt/data/*.db",
        };
        TestWriter *t = userdata;
        vss_component *comp;
        const char *name = "";
        vss_id id;
        bool b;

        t->pb_set_id_hr = vss_writer_get_current_snapshot_set_id(w, &id);
        t->pb_builder_hr = vss_create_writer_metadata_set_backup_schema((vss_create_writer_metadata *) t, 0);
        (void) vss_writer_are_components_selected(w, &t->pb_selected);
        if (c && vss_writer_components_get_count(c, &t->pb_components) == S_OK && t->pb_components > 0 &&
            vss_writer_components_get_component(c, 0, &comp) == S_OK) {
                (void) vss_component_get_component_name(comp, &name);
                t->pb_succeeded_hr = vss_component_get_backup_succeeded(comp, &b);
        }
        strncpy(t->pb_component_name, name, sizeof(t->pb_component_name) - 1);
        for (size_t i = 0; i < 4; i++)
                t->pb_affected_hr[i] = vss_writer_is_path_affected(w, paths[i], &t->pb_affected[i]);

        tw_log(t, 'B', &t->n_prepare_backup);
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        TestWriter *t = userdata;
        const char *const *volumes;

        if (vss_writer_get_current_volume_array(w, &t->ps_volumes, &volumes) == S_OK && t->ps_volumes > 0)
                strncpy(t->ps_volume0, volumes[0], sizeof(t->ps_volume0) - 1);
        tw_log(t, 'P', &t->n_prepare_snapshot);
        if (t->veto_prepare_snapshot) {
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                return false;
        }
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        TestWriter *t = userdata;

        t->freeze_set_id_hr = vss_writer_get_current_snapshot_set_id(w, &t->freeze_set_id);

        pthread_mutex_lock(&t->lock);
        t->in_freeze = true;
        pthread_cond_broadcast(&t->cond);
        while (t->gate_freeze)
                pthread_cond_wait(&t->cond, &t->lock);
        t->in_freeze = false;
        pthread_mutex_unlock(&t->lock);

        tw_log(t, 'F', &t->n_freeze);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        TestWriter *t = userdata;

        tw_log(t, 'T', &t->n_thaw);
        return true;
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        TestWriter *t = userdata;

        t->post_unsubscribe_hr = vss_writer_unsubscribe(w);
        tw_log(t, 'S', &t->n_post);
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        TestWriter *t = userdata;
        vss_id id;

        t->abort_set_id_hr = vss_writer_get_current_snapshot_set_id(w, &id);
        t->abort_instance_hr = vss_writer_get_instance_id(w, &id);
        t->abort_subscribe_hr = vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG);
        t->abort_backup_type_hr = vss_writer_get_backup_type(w, &t->abort_backup_type);
        tw_log(t, 'A', &t->n_abort);
        return true;
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        TestWriter *t = userdata;
        vss_component *comp;
        vss_id id;

        t->complete_set_id_hr = vss_writer_get_current_snapshot_set_id(w, &id);
        if (c && vss_writer_components_get_component(c, 0, &comp) == S_OK)
                t->complete_succeeded_hr = vss_component_get_backup_succeeded(comp, &t->complete_succeeded);
        tw_log(t, 'C', &t->n_complete);
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        TestWriter *t = userdata;
        vss_id id;

        t->shutdown_arg = *set_id;
        t->shutdown_set_id_hr = vss_writer_get_current_snapshot_set_id(w, &id);
        tw_log(t, 'D', &t->n_shutdown);
        return true;
}

static const vss_writer_callbacks test_callbacks = {
        .version = VSS_WRITER_CALLBACKS_VERSION,
        .on_identify = on_identify,
        .on_prepare_backup = on_prepare_backup,
        .on_prepare_snapshot = on_prepare_snapshot,
        .on_freeze = on_freeze,
        .on_thaw = on_thaw,
        .on_post_snapshot = on_post_snapshot,
        .on_abort = on_abort,
        .on_backup_complete = on_backup_complete,
        .on_backup_shutdown = on_backup_shutdown,
};

static TestWriter *tw_new(FakeVssd *f, uint32_t freeze_timeout_ms) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        TestWriter *t;

        t = calloc(1, sizeof(*t));
        assert_non_null(t);
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->cond, NULL);

        vss_id_generate(&opts.writer_id);
        opts.writer_name = "fake-test writer";
        opts.freeze_timeout_ms = freeze_timeout_ms;
        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_writer_new(&t->w, &opts, &test_callbacks, t), S_OK);
        assert_int_equal(vss_writer_subscribe(t->w, VSS_SM_BACKUP_EVENTS_FLAG), S_OK);
        assert_true(fake_vssd_wait_subscribed(f));
        return t;
}

static void tw_free(TestWriter *t) {
        vss_writer_free(t->w);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

static FakeEventReply send_and_wait(FakeVssd *f, const char *member, const vss_id *set_id) {
        static const char *const volumes[] = { "/mnt/data", NULL };
        FakeEventReply reply = {};
        int h;

        h = fake_vssd_send_event(f, member, set_id, volumes, true);
        assert_true(h >= 0);
        assert_true(fake_vssd_wait_reply(f, h, &reply));
        return reply;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer tests                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void test_freeze_without_thaw(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        TestWriter *t;
        vss_id set;

        assert_non_null(f);
        t = tw_new(f, 300);
        vss_id_generate(&set);

        reply = send_and_wait(f, "Freeze", &set);
        assert_false(reply.is_error);
        assert_true(reply.ok);
        assert_int_equal(t->freeze_set_id_hr, S_OK);
        assert_true(vss_id_equal(&t->freeze_set_id, &set));

        /* vssd says nothing more; libvss thaws the writer by itself. */
        assert_true(tw_wait(t, &t->n_abort, 1));
        assert_string_equal(t->log, "FA");
        /* The local Abort carries the Freeze's context (backup type) but is no snapshot window. */
        assert_int_equal(t->abort_backup_type_hr, S_OK);
        assert_int_equal(t->abort_backup_type, VSS_BT_INCREMENTAL);
        assert_int_equal(t->abort_set_id_hr, VSS_E_BAD_STATE);

        /* A late Thaw is the freeze timeout it was; vssd's Abort does not run on_abort twice. */
        reply = send_and_wait(f, "Thaw", &set);
        assert_false(reply.ok);
        assert_int_equal(reply.failure, VSS_E_WRITERERROR_TIMEOUT);
        reply = send_and_wait(f, "Abort", &set);
        assert_true(reply.ok);
        assert_int_equal(reply.failure, S_OK);
        assert_int_equal(tw_get(t, &t->n_thaw), 0);
        assert_int_equal(tw_get(t, &t->n_abort), 1);

        /* BackupShutdown gets the set id as its argument, but GetCurrentSnapshotSetId is refused. */
        reply = send_and_wait(f, "BackupShutdown", &set);
        assert_true(reply.ok);
        assert_true(vss_id_equal(&t->shutdown_arg, &set));
        assert_int_equal(t->shutdown_set_id_hr, VSS_E_BAD_STATE);
        assert_string_equal(t->log, "FAD");

        assert_int_equal(vss_writer_unsubscribe(t->w), S_OK);
        assert_true(fake_vssd_unsubscribed(f));
        tw_free(t);
        fake_vssd_free(f);
}

static void test_stuck_freeze(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        TestWriter *t;
        int h_freeze, h_thaw;
        vss_id set;

        assert_non_null(f);
        t = tw_new(f, 300);
        vss_id_generate(&set);
        t->gate_freeze = true;

        h_freeze = fake_vssd_send_event(f, "Freeze", &set, NULL, false);
        assert_true(h_freeze >= 0);
        pthread_mutex_lock(&t->lock);
        while (!t->in_freeze)
                pthread_cond_wait(&t->cond, &t->lock);
        pthread_mutex_unlock(&t->lock);

        /* Well past the 300 ms deadline, the Thaw arrives while on_freeze is still stuck. */
        usleep(700 * 1000);
        h_thaw = fake_vssd_send_event(f, "Thaw", &set, NULL, false);
        assert_true(h_thaw >= 0);
        /* The Thaw reply cannot come before the stuck callback returns: callbacks are serial.
         * Give the Thaw time to reach the writer, then release on_freeze. */
        usleep(100 * 1000);

        pthread_mutex_lock(&t->lock);
        t->gate_freeze = false;
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);

        assert_true(fake_vssd_wait_reply(f, h_freeze, &reply));
        assert_true(reply.ok);
        assert_true(tw_wait(t, &t->n_abort, 1));
        assert_true(fake_vssd_wait_reply(f, h_thaw, &reply));
        assert_false(reply.ok);
        assert_int_equal(reply.failure, VSS_E_WRITERERROR_TIMEOUT);
        assert_string_equal(t->log, "FA");

        tw_free(t);
        fake_vssd_free(f);
}

/*
 * A callback runs on the connection's own thread as a rule; one that blocks must still not
 * stop the connection being served: a Thaw for another set that arrives meanwhile, within
 * that set's freeze deadline, is accepted on time (on_thaw, not libvss's own Abort), even
 * though the blocked callback returns only after the deadline.
 */
static void test_thaw_during_stuck_callback(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        TestWriter *t;
        int h_freeze, h_thaw;
        vss_id a, b;

        assert_non_null(f);
        t = tw_new(f, 1000);
        vss_id_generate(&a);
        vss_id_generate(&b);

        reply = send_and_wait(f, "Freeze", &a);
        assert_true(reply.ok);

        t->gate_freeze = true;
        h_freeze = fake_vssd_send_event(f, "Freeze", &b, NULL, false);
        assert_true(h_freeze >= 0);
        pthread_mutex_lock(&t->lock);
        while (!t->in_freeze)
                pthread_cond_wait(&t->cond, &t->lock);
        pthread_mutex_unlock(&t->lock);

        /* Sent at once, well within set a's 1000 ms; on_freeze(b) is released only after it. */
        h_thaw = fake_vssd_send_event(f, "Thaw", &a, NULL, false);
        assert_true(h_thaw >= 0);
        usleep(1500 * 1000);
        pthread_mutex_lock(&t->lock);
        t->gate_freeze = false;
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);

        assert_true(fake_vssd_wait_reply(f, h_freeze, &reply));
        assert_true(reply.ok);
        assert_true(fake_vssd_wait_reply(f, h_thaw, &reply));
        assert_false(reply.is_error);
        assert_true(reply.ok);
        assert_int_equal(reply.failure, S_OK);
        assert_int_equal(tw_get(t, &t->n_thaw), 1);
        /* Set b stayed frozen past its own deadline (its callback was stuck): libvss aborts it. */
        assert_true(tw_wait(t, &t->n_abort, 1));
        assert_int_equal(tw_get(t, &t->n_abort), 1);

        tw_free(t);
        fake_vssd_free(f);
}

static bool on_freeze_only(vss_writer *w, void *userdata) {
        return true;
}

/* An event the writer has no callback for is answered as done without building anything
 * for it: even a components slice that would not load is not parsed. */
static void test_event_without_callback(void **state) {
        static const vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_freeze = on_freeze_only,
        };
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        vss_writer *w = NULL;
        vss_id set;

        assert_non_null(f);
        vss_id_generate(&opts.writer_id);
        opts.writer_name = "no-callback writer";
        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), S_OK);
        assert_int_equal(vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG), S_OK);
        assert_true(fake_vssd_wait_subscribed(f));
        vss_id_generate(&set);

        fake_vssd_set_components_xml(f, "<not-a-document");
        reply = send_and_wait(f, "PostSnapshot", &set);
        assert_false(reply.is_error);
        assert_true(reply.ok);
        assert_int_equal(reply.failure, S_OK);
        assert_null(reply.components_xml);

        reply = send_and_wait(f, "Freeze", &set);
        assert_true(reply.ok);
        reply = send_and_wait(f, "Thaw", &set);
        assert_true(reply.ok);

        vss_writer_free(w);
        fake_vssd_free(f);
}

static void test_disconnect_while_frozen(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        TestWriter *t;
        vss_id set;

        assert_non_null(f);
        /* A long freeze timeout: only the lost connection can explain an Abort. */
        t = tw_new(f, 600000);
        vss_id_generate(&set);

        reply = send_and_wait(f, "Freeze", &set);
        assert_true(reply.ok);
        assert_int_equal(tw_get(t, &t->n_abort), 0);

        fake_vssd_disconnect(f);
        assert_true(tw_wait(t, &t->n_abort, 1));
        assert_string_equal(t->log, "FA");

        assert_int_equal(vss_writer_unsubscribe(t->w), S_OK);
        assert_int_equal(tw_get(t, &t->n_abort), 1);
        tw_free(t);
        fake_vssd_free(f);
}

static void test_unsubscribe_thaws(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        TestWriter *t;
        vss_id set;

        assert_non_null(f);
        t = tw_new(f, 600000);
        vss_id_generate(&set);

        reply = send_and_wait(f, "Freeze", &set);
        assert_true(reply.ok);

        /* Leaving while frozen runs on_abort first, before vssd hears Unsubscribe; the writer
         * API stays usable from that callback. */
        assert_int_equal(vss_writer_unsubscribe(t->w), S_OK);
        assert_int_equal(tw_get(t, &t->n_abort), 1);
        assert_int_equal(t->abort_instance_hr, S_OK);
        assert_int_equal(t->abort_subscribe_hr, VSS_E_WRITER_ALREADY_SUBSCRIBED);
        assert_true(fake_vssd_unsubscribed(f));
        tw_free(t);
        fake_vssd_free(f);
}

static void test_backup_sequence(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        const WmComponent *c;
        TestWriter *t;
        vss_id set, instance, expected_instance = fake_vssd_instance_id();

        assert_non_null(f);
        assert_int_equal(setenv("VSS_TEST_DATA", "/mnt/data", 1), 0);
        t = tw_new(f, 0);
        vss_id_generate(&set);

        assert_int_equal(vss_writer_get_instance_id(t->w, &instance), S_OK);
        assert_true(vss_id_equal(&instance, &expected_instance));
        assert_int_equal(vss_writer_subscribe(t->w, VSS_SM_BACKUP_EVENTS_FLAG), VSS_E_WRITER_ALREADY_SUBSCRIBED);

        /* Identify: the document is built by on_identify and carries the writer's identity. */
        reply = send_and_wait(f, "Identify", NULL);
        assert_false(reply.is_error);
        assert_true(reply.ok);
        assert_non_null(reply.md);
        assert_true(vss_id_equal(&reply.md->instance_id, &expected_instance));
        assert_string_equal(reply.md->writer_name, "fake-test writer");
        assert_int_equal(reply.md->freeze_timeout_ms, 60000);
        c = writer_metadata_find_component(reply.md, NULL, "data");
        assert_non_null(c);
        assert_int_equal(writer_metadata_count_filesets(reply.md, c, FILESET_FILE_GROUP), 1);
        assert_int_equal(t->identify_failure_hr, VSS_E_BAD_STATE);

        /* PrepareForBackup: components, selection, IsPathAffected; no set id yet. */
        reply = send_and_wait(f, "PrepareForBackup", &set);
        assert_true(reply.ok);
        assert_int_equal(t->pb_set_id_hr, VSS_E_BAD_STATE);
        assert_int_equal(t->pb_builder_hr, VSS_E_BAD_STATE);
        assert_true(t->pb_selected);
        assert_int_equal(t->pb_components, 1);
        assert_string_equal(t->pb_component_name, "data");
        assert_int_equal(t->pb_succeeded_hr, VSS_E_BAD_STATE);
        assert_int_equal(t->pb_affected_hr[0], S_OK);
        assert_true(t->pb_affected[0]);
        assert_int_equal(t->pb_affected_hr[1], S_OK);
        assert_false(t->pb_affected[1]);
        assert_int_equal(t->pb_affected_hr[2], S_OK);
        assert_true(t->pb_affected[2]);
        assert_int_equal(t->pb_affected_hr[3], E_INVALIDARG);

        reply = send_and_wait(f, "PrepareForSnapshot", &set);
        assert_true(reply.ok);
        assert_int_equal(t->ps_volumes, 1);
        assert_string_equal(t->ps_volume0, "/mnt/data");

        reply = send_and_wait(f, "Freeze", &set);
        assert_true(reply.ok);
        reply = send_and_wait(f, "Thaw", &set);
        assert_true(reply.ok);
        assert_int_equal(reply.failure, S_OK);

        /* Unsubscribe from inside a callback is refused. */
        reply = send_and_wait(f, "PostSnapshot", &set);
        assert_true(reply.ok);
        assert_int_equal(t->post_unsubscribe_hr, VSS_E_BAD_STATE);

        reply = send_and_wait(f, "BackupComplete", &set);
        assert_true(reply.ok);
        assert_int_equal(t->complete_succeeded_hr, S_OK);
        assert_true(t->complete_succeeded);
        assert_int_equal(t->complete_set_id_hr, VSS_E_BAD_STATE);

        reply = send_and_wait(f, "BackupShutdown", &set);
        assert_true(reply.ok);
        assert_int_equal(t->shutdown_set_id_hr, VSS_E_BAD_STATE);

        /* A veto carries the writer's code. */
        t->veto_prepare_snapshot = true;
        reply = send_and_wait(f, "PrepareForSnapshot", &set);
        assert_false(reply.ok);
        assert_int_equal(reply.failure, VSS_E_WRITERERROR_RETRYABLE);

        assert_string_equal(t->log, "IBPFTSCDP");
        assert_int_equal(tw_get(t, &t->n_abort), 0);

        tw_free(t);
        fake_vssd_free(f);
        assert_int_equal(unsetenv("VSS_TEST_DATA"), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Requester tests                                                                              */
/* ------------------------------------------------------------------------------------------ */

static vss_requester *requester_new(FakeVssd *f) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;

        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_requester_new(&r, &opts), S_OK);
        return r;
}

static void test_requester_cancel(void **state) {
        FakeVssd *f = fake_vssd_new();
        vss_async *a = NULL, *b = NULL;
        vss_requester *r;
        unsigned n;
        vss_hr hr;

        assert_non_null(f);
        r = requester_new(f);

        /* A deferred call vssd never answers. */
        assert_int_equal(vss_requester_gather_writer_metadata(r, &a), S_OK);
        assert_true(fake_vssd_wait_deferred(f));
        assert_int_equal(vss_async_wait(a, 20), VSS_S_ASYNC_PENDING);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        assert_int_equal(hr, VSS_S_ASYNC_PENDING);
        assert_int_equal(vss_requester_prepare_for_backup(r, &b), VSS_E_BAD_STATE);
        assert_null(b);
        assert_int_equal(vss_requester_get_writer_metadata_count(r, &n), VSS_E_BAD_STATE);

        assert_int_equal(vss_async_cancel(a), S_OK);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        assert_int_equal(hr, VSS_S_ASYNC_CANCELLED);
        assert_int_equal(vss_async_cancel(a), VSS_S_ASYNC_CANCELLED);
        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_wait_result(a), VSS_S_ASYNC_CANCELLED);
        vss_async_release(a);

        /* A cancel that comes too late reports the real result. */
        fake_vssd_set_cancel_mode(f, FAKE_CANCEL_TOO_LATE);
        assert_int_equal(vss_requester_prepare_for_backup(r, &b), S_OK);
        assert_true(fake_vssd_wait_deferred(f));
        assert_int_equal(vss_async_cancel(b), VSS_S_ASYNC_FINISHED);
        assert_int_equal(vss_async_query_status(b, &hr), S_OK);
        assert_int_equal(hr, VSS_S_ASYNC_FINISHED);
        assert_int_equal(vss_async_cancel(b), VSS_S_ASYNC_FINISHED);
        assert_int_equal(vss_async_wait_result(b), S_OK);
        vss_async_release(b);

        vss_requester_release(r);
        fake_vssd_free(f);
}

static void test_requester_gather(void **state) {
        FakeVssd *f = fake_vssd_new();
        vss_examine_writer_metadata *md;
        vss_wm_component *comp;
        vss_component_info info;
        vss_wm_filedesc fd;
        vss_id instance, expected = fake_vssd_instance_id();
        vss_writer_state ws;
        const char *name;
        vss_requester *r;
        unsigned n, inc, exc, ncomp;
        vss_async *a;
        vss_hr hr, failure;

        assert_non_null(f);
        fake_vssd_set_deferred_mode(f, FAKE_DEFERRED_ANSWER);
        r = requester_new(f);

        assert_int_equal(vss_requester_gather_writer_metadata(r, &a), S_OK);
        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        assert_int_equal(hr, VSS_S_ASYNC_FINISHED);
        vss_async_release(a);

        assert_int_equal(vss_requester_get_writer_metadata_count(r, &n), S_OK);
        assert_int_equal(n, 1);
        assert_int_equal(vss_requester_get_writer_metadata(r, 1, &instance, &md), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_requester_get_writer_metadata(r, 0, &instance, &md), S_OK);
        assert_true(vss_id_equal(&instance, &expected));
        assert_int_equal(vss_examine_writer_metadata_get_identity(md, NULL, NULL, &name, NULL, NULL, NULL), S_OK);
        assert_string_equal(name, "fake writer");
        assert_int_equal(vss_examine_writer_metadata_get_file_counts(md, &inc, &exc, &ncomp), S_OK);
        assert_int_equal(inc, 0);
        assert_int_equal(exc, 1);
        assert_int_equal(ncomp, 1);
        assert_int_equal(vss_examine_writer_metadata_get_component(md, 1, &comp), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_examine_writer_metadata_get_component(md, 0, &comp), S_OK);
        assert_int_equal(vss_wm_component_get_info(comp, &info), S_OK);
        assert_string_equal(info.component_name, "data");
        assert_string_equal(info.logical_path, "");
        assert_int_equal(info.file_count, 1);
        assert_int_equal(info.database_count, 0);
        assert_int_equal(vss_wm_component_get_file(comp, 0, &fd), S_OK);
        assert_string_equal(fd.path, "/srv/data");
        assert_string_equal(fd.filespec, "*.db");
        assert_true(fd.recursive);
        assert_null(fd.alternate_location);
        assert_int_equal(vss_wm_component_get_file(comp, 1, &fd), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(md, 0, &fd), S_OK);
        assert_string_equal(fd.filespec, "*.tmp");

        assert_int_equal(vss_requester_free_writer_metadata(r), S_OK);
        assert_int_equal(vss_requester_get_writer_metadata_count(r, &n), VSS_E_BAD_STATE);

        assert_int_equal(vss_requester_gather_writer_status(r, &a), S_OK);
        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        vss_async_release(a);
        assert_int_equal(vss_requester_get_writer_status_count(r, &n), S_OK);
        assert_int_equal(n, 1);
        assert_int_equal(vss_requester_get_writer_status(r, 0, NULL, NULL, &name, &ws, &failure), S_OK);
        assert_string_equal(name, "fake writer");
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_int_equal(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_int_equal(vss_requester_get_writer_status(r, 1, NULL, NULL, NULL, NULL, NULL), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_requester_free_writer_status(r), S_OK);

        vss_requester_release(r);
        fake_vssd_free(f);
}

static void test_requester_error_mapping(void **state) {
        FakeVssd *f = fake_vssd_new();
        vss_requester *r;
        vss_id id;

        assert_non_null(f);
        r = requester_new(f);

        assert_int_equal(vss_requester_start_snapshot_set(r, &id), VSS_E_SNAPSHOT_SET_IN_PROGRESS);
        assert_non_null(strstr(vss_requester_get_error_message(r), "requester 42"));

        vss_requester_release(r);
        fake_vssd_free(f);
}

static void test_requester_release_pending(void **state) {
        FakeVssd *f = fake_vssd_new();
        vss_requester *r;
        vss_async *a;
        vss_hr hr;

        assert_non_null(f);
        r = requester_new(f);

        assert_int_equal(vss_requester_do_snapshot_set(r, &a), S_OK);
        assert_true(fake_vssd_wait_deferred(f));
        vss_requester_release(r);

        /* The async outlives the requester and reports that the operation never finished. */
        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        assert_int_equal(hr, VSS_E_UNEXPECTED);
        assert_int_equal(vss_async_cancel(a), VSS_E_UNEXPECTED);
        vss_async_release(a);
        fake_vssd_free(f);
}

static void test_requester_server_gone(void **state) {
        FakeVssd *f = fake_vssd_new();
        vss_requester *r;
        vss_async *a;
        vss_hr hr;

        assert_non_null(f);
        r = requester_new(f);

        assert_int_equal(vss_requester_backup_complete(r, &a), S_OK);
        assert_true(fake_vssd_wait_deferred(f));
        fake_vssd_disconnect(f);

        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        assert_int_equal(hr, VSS_E_UNEXPECTED);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), VSS_E_WRITER_INFRASTRUCTURE);

        vss_async_release(a);
        vss_requester_release(r);
        fake_vssd_free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_freeze_without_thaw),
                cmocka_unit_test(test_stuck_freeze),
                cmocka_unit_test(test_thaw_during_stuck_callback),
                cmocka_unit_test(test_event_without_callback),
                cmocka_unit_test(test_disconnect_while_frozen),
                cmocka_unit_test(test_unsubscribe_thaws),
                cmocka_unit_test(test_backup_sequence),
                cmocka_unit_test(test_requester_cancel),
                cmocka_unit_test(test_requester_gather),
                cmocka_unit_test(test_requester_error_mapping),
                cmocka_unit_test(test_requester_release_pending),
                cmocka_unit_test(test_requester_server_gone),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

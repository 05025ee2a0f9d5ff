/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-api.c: the writer API without a vssd: vss_writer_new's validation, the
 * protected helpers refusing outside a callback, and subscribing to a socket nobody listens on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vss-bus.h"
#include "vss/vss.h"

static const vss_writer_callbacks callbacks = { .version = VSS_WRITER_CALLBACKS_VERSION };

static vss_writer_options good_options(void) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;

        vss_id_generate(&opts.writer_id);
        opts.writer_name = "test writer";
        return opts;
}

static void test_new_validation(void **state) {
        vss_writer_options opts = good_options();
        vss_writer_callbacks cb = callbacks;
        vss_writer *w = NULL;
        char *huge;

        assert_int_equal(vss_writer_new(NULL, &opts, &cb, NULL), E_INVALIDARG);
        assert_int_equal(vss_writer_new(&w, NULL, &cb, NULL), E_INVALIDARG);
        assert_int_equal(vss_writer_new(&w, &opts, NULL, NULL), E_INVALIDARG);

        opts.version = 2;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        opts = good_options();
        cb.version = 0;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        cb.version = VSS_WRITER_CALLBACKS_VERSION + 1;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        assert_null(w);
        /* A version 1 table (before the restore callbacks) is still accepted. */
        cb.version = VSS_WRITER_CALLBACKS_VERSION_1;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), S_OK);
        assert_non_null(w);
        vss_writer_free(w);
        w = NULL;
        cb = callbacks;

        opts.writer_id = VSS_ID_NULL;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        opts = good_options();
        opts.writer_name = NULL;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        opts.writer_name = "";
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);

        huge = malloc(VSS_MAX_STRING + 2);
        assert_non_null(huge);
        memset(huge, 'n', VSS_MAX_STRING + 1);
        huge[VSS_MAX_STRING + 1] = 0;
        opts = good_options();
        opts.instance_name = huge;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        free(huge);

        opts = good_options();
        opts.usage_type = (vss_usage_type) 42;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        opts = good_options();
        opts.source_type = (vss_source_type) -3;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        opts = good_options();
        opts.level = (vss_application_level) 9;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), E_INVALIDARG);
        assert_null(w);

        /* freeze_timeout_ms 0 means the default; the writer is created. */
        opts = good_options();
        opts.freeze_timeout_ms = 0;
        assert_int_equal(vss_writer_new(&w, &opts, &cb, NULL), S_OK);
        assert_non_null(w);
        vss_writer_free(w);
        vss_writer_free(NULL);
}

static void test_helpers_outside_callback(void **state) {
        vss_writer_options opts = good_options();
        vss_create_writer_metadata *md = (vss_create_writer_metadata *) &opts;
        const char *const *volumes;
        vss_snapshot_context ctx;
        vss_backup_type bt;
        vss_restore_type rtype;
        vss_writer *w = NULL;
        unsigned n;
        bool b;
        vss_id id;

        assert_int_equal(vss_writer_new(&w, &opts, &callbacks, NULL), S_OK);

        assert_int_equal(vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_current_snapshot_set_id(w, &id), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_current_volume_array(w, &n, &volumes), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_is_path_affected(w, "/", &b), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_backup_type(w, &bt), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_are_components_selected(w, &b), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_context(w, &ctx), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_instance_id(w, &id), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_restore_type(w, &rtype), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_restore_type(w, NULL), E_INVALIDARG);
        assert_int_equal(vss_component_is_selected_for_restore(NULL, &b), E_INVALIDARG);
        assert_int_equal(vss_component_set_restore_target(NULL, VSS_RT_ORIGINAL), E_INVALIDARG);
        assert_int_equal(vss_component_get_new_target(NULL, 0, NULL, NULL, NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_component_set_pre_restore_failure_msg(NULL, "m"), E_INVALIDARG);

        /* A builder is usable only inside on_identify; the pointer is never touched. */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "c", NULL, false,
                                                                  false, true, true, 0), VSS_E_BAD_STATE);
        assert_int_equal(vss_create_writer_metadata_set_backup_schema(md, 0), VSS_E_BAD_STATE);

        /* NULL arguments come before the state. */
        assert_int_equal(vss_writer_set_writer_failure(NULL, VSS_E_WRITERERROR_RETRYABLE), E_INVALIDARG);
        assert_int_equal(vss_writer_set_writer_failure(w, S_FALSE), E_INVALIDARG);
        assert_int_equal(vss_writer_get_current_snapshot_set_id(w, NULL), E_INVALIDARG);
        assert_int_equal(vss_writer_get_current_volume_array(w, NULL, &volumes), E_INVALIDARG);
        assert_int_equal(vss_writer_is_path_affected(w, NULL, &b), E_INVALIDARG);
        assert_int_equal(vss_writer_get_backup_type(NULL, &bt), E_INVALIDARG);
        assert_int_equal(vss_writer_get_context(w, NULL), E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(NULL, VSS_CT_FILEGROUP, NULL, "c", NULL, false,
                                                                  false, true, true, 0), E_INVALIDARG);
        assert_int_equal(vss_writer_components_get_count(NULL, &n), E_INVALIDARG);
        assert_int_equal(vss_component_get_backup_succeeded(NULL, &b), E_INVALIDARG);
        assert_int_equal(vss_writer_subscribe(NULL, VSS_SM_BACKUP_EVENTS_FLAG), E_INVALIDARG);
        assert_int_equal(vss_writer_unsubscribe(NULL), E_INVALIDARG);

        vss_writer_free(w);
}

static void test_subscribe_missing_socket(void **state) {
        char dir[] = "/tmp/test-libvss-XXXXXX", path[64];
        vss_writer_options opts = good_options();
        vss_writer *w = NULL;
        vss_id id;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/missing.sock", dir);
        opts.socket_path = path;

        assert_int_equal(vss_writer_new(&w, &opts, &callbacks, NULL), S_OK);
        assert_int_equal(vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_writer_get_instance_id(w, &id), VSS_E_BAD_STATE);
        /* A failed subscribe leaves the writer reusable: same answer again, and nothing to undo. */
        assert_int_equal(vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_writer_unsubscribe(w), S_OK);
        vss_writer_free(w);

        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_validation),
                cmocka_unit_test(test_helpers_outside_callback),
                cmocka_unit_test(test_subscribe_missing_socket),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-requester-args.c: the requester API refuses bad arguments before any I/O.
 *
 * Every public requester function gets a NULL handle and, on a live handle connected to the
 * in-test fake vssd, NULL out pointers, over-long strings and over-long lists: each must be
 * E_INVALIDARG, and the fake must have received no call at all. A missing socket must give
 * VSS_E_WRITER_INFRASTRUCTURE, the code VSS uses for "the service is not there"; an
 * operation in flight when the connection breaks ends as VSS_E_UNEXPECTED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-vssd.h"
#include "vss-bus.h"
#include "vss/vss.h"

/* xml-util.h's XML_MAX_DOCUMENT_SIZE, restated: the test does not pull in libxml2's headers. */
#define XML_DOCUMENT_LIMIT (16U * 1024U * 1024U)

static void test_null_handle(void **state) {
        vss_async *a = NULL;
        vss_id id = VSS_ID_NULL;
        unsigned n;
        bool b;
        vss_snapshot_prop prop;
        vss_enum_object *e = NULL;
        int32_t deleted;
        vss_hr hr;
        vss_examine_writer_metadata *md;

        assert_int_equal(vss_requester_initialize_for_backup(NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_set_context(NULL, VSS_CTX_BACKUP), E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_state(NULL, true, false, VSS_BT_FULL, false), E_INVALIDARG);
        assert_int_equal(vss_requester_gather_writer_metadata(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_metadata_count(NULL, &n), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_metadata(NULL, 0, &id, &md), E_INVALIDARG);
        assert_int_equal(vss_requester_free_writer_metadata(NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(NULL, &id, &id, VSS_CT_FILEGROUP, NULL, "c"), E_INVALIDARG);
        assert_int_equal(vss_requester_enable_writer_classes(NULL, &id, 1), E_INVALIDARG);
        assert_int_equal(vss_requester_disable_writer_classes(NULL, &id, 1), E_INVALIDARG);
        assert_int_equal(vss_requester_disable_writer_instances(NULL, &id, 1), E_INVALIDARG);
        assert_int_equal(vss_requester_start_snapshot_set(NULL, &id), E_INVALIDARG);
        assert_int_equal(vss_requester_add_to_snapshot_set(NULL, "/", NULL, &id), E_INVALIDARG);
        assert_int_equal(vss_requester_is_volume_supported(NULL, NULL, "/", &b), E_INVALIDARG);
        assert_int_equal(vss_requester_prepare_for_backup(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_do_snapshot_set(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_get_snapshot_properties(NULL, &id, &prop), E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_succeeded(NULL, &id, &id, VSS_CT_FILEGROUP, NULL, "c", true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_backup_complete(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_gather_writer_status(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_status_count(NULL, &n), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_status(NULL, 0, NULL, NULL, NULL, NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_free_writer_status(NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_abort_backup(NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_initialize_for_restore(NULL, "<x/>"), E_INVALIDARG);
        assert_int_equal(vss_requester_set_restore_state(NULL, VSS_RTYPE_BY_COPY), E_INVALIDARG);
        assert_int_equal(vss_requester_set_selected_for_restore(NULL, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_pre_restore(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_post_restore(NULL, &a), E_INVALIDARG);
        assert_int_equal(vss_requester_query(NULL, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e), E_INVALIDARG);
        assert_int_equal(vss_requester_delete_snapshots(NULL, &id, VSS_OBJECT_SNAPSHOT, false, &deleted, &id),
                         E_INVALIDARG);
        assert_null(a);
        assert_null(e);

        assert_int_equal(vss_async_wait(NULL, 0), E_INVALIDARG);
        assert_int_equal(vss_async_query_status(NULL, &hr), E_INVALIDARG);
        assert_int_equal(vss_async_wait_result(NULL), E_INVALIDARG);
        assert_int_equal(vss_async_cancel(NULL), E_INVALIDARG);
        assert_int_equal(vss_enum_object_next(NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_identity(NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                         E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_file_counts(NULL, &n, &n, &n), E_INVALIDARG);
        assert_int_equal(vss_wm_component_get_info(NULL, NULL), E_INVALIDARG);

        /* The no-op forms must not crash, and the message getter never returns NULL. */
        vss_requester_release(NULL);
        vss_async_release(NULL);
        vss_enum_object_free(NULL);
        vss_enum_object_reset(NULL);
        vss_snapshot_prop_free(NULL);
        assert_non_null(vss_requester_get_error_message(NULL));
}

static void test_missing_socket(void **state) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        char dir[] = "/tmp/test-libvss-XXXXXX", path[64];
        vss_requester *r = NULL;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/missing.sock", dir);

        assert_int_equal(vss_requester_new(NULL, NULL), E_INVALIDARG);
        opts.version = 99;
        assert_int_equal(vss_requester_new(&r, &opts), E_INVALIDARG);
        assert_null(r);

        /* Through $VSS_SOCKET, and through the explicit option. */
        assert_int_equal(setenv("VSS_SOCKET", path, 1), 0);
        assert_int_equal(vss_requester_new(&r, NULL), VSS_E_WRITER_INFRASTRUCTURE);
        assert_null(r);
        assert_int_equal(unsetenv("VSS_SOCKET"), 0);

        opts.version = VSS_REQUESTER_OPTIONS_VERSION;
        opts.socket_path = path;
        assert_int_equal(vss_requester_new(&r, &opts), VSS_E_WRITER_INFRASTRUCTURE);
        assert_null(r);

        assert_int_equal(rmdir(dir), 0);
}

static void test_null_out_pointers(void **state) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_id id, ids[2];
        vss_id *many;
        vss_requester *r = NULL;
        vss_snapshot_prop prop;
        int32_t deleted;
        unsigned n;
        char *huge, *hugedoc, *xml;
        vss_writer_components_ext *ext;
        FakeVssd *f;

        vss_id_generate(&id);
        ids[0] = ids[1] = id;

        f = fake_vssd_new();
        assert_non_null(f);
        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_requester_new(&r, &opts), S_OK);

        huge = malloc(VSS_MAX_STRING + 2);
        assert_non_null(huge);
        memset(huge, 'a', VSS_MAX_STRING + 1);
        huge[0] = '/';
        huge[VSS_MAX_STRING + 1] = 0;
        many = calloc(VSS_MAX_ID_LIST + 1, sizeof(vss_id));
        assert_non_null(many);

        /* A document may be long (the BCD), but not longer than any document may be. */
        hugedoc = malloc(XML_DOCUMENT_LIMIT + 2);
        assert_non_null(hugedoc);
        memset(hugedoc, '<', XML_DOCUMENT_LIMIT + 1);
        hugedoc[XML_DOCUMENT_LIMIT + 1] = 0;
        assert_int_equal(vss_requester_initialize_for_backup(r, hugedoc), E_INVALIDARG);
        free(hugedoc);
        assert_int_equal(vss_requester_set_backup_state(r, true, false, (vss_backup_type) 77, false), E_INVALIDARG);
        assert_int_equal(vss_requester_gather_writer_metadata(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_metadata_count(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_metadata(r, 0, NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c"), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(r, &id, NULL, VSS_CT_FILEGROUP, NULL, "c"), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(r, &id, &id, VSS_CT_FILEGROUP, NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(r, &id, &id, VSS_CT_FILEGROUP, huge, "c"), E_INVALIDARG);
        assert_int_equal(vss_requester_add_component(r, &id, &id, (vss_component_type) 9, NULL, "c"), E_INVALIDARG);
        assert_int_equal(vss_requester_enable_writer_classes(r, NULL, 1), E_INVALIDARG);
        assert_int_equal(vss_requester_enable_writer_classes(r, many, VSS_MAX_ID_LIST + 1), E_INVALIDARG);
        assert_int_equal(vss_requester_disable_writer_classes(r, NULL, 2), E_INVALIDARG);
        assert_int_equal(vss_requester_disable_writer_instances(r, many, VSS_MAX_ID_LIST + 1), E_INVALIDARG);
        assert_int_equal(vss_requester_start_snapshot_set(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_add_to_snapshot_set(r, NULL, NULL, &id), E_INVALIDARG);
        assert_int_equal(vss_requester_add_to_snapshot_set(r, "/mnt", NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_add_to_snapshot_set(r, huge, NULL, &id), E_INVALIDARG);
        assert_int_equal(vss_requester_is_volume_supported(r, NULL, "/mnt", NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_is_volume_supported(r, NULL, NULL, (bool[1]) {}), E_INVALIDARG);
        assert_int_equal(vss_requester_prepare_for_backup(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_do_snapshot_set(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_snapshot_properties(r, NULL, &prop), E_INVALIDARG);
        assert_int_equal(vss_requester_get_snapshot_properties(r, &id, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_succeeded(r, &id, &id, VSS_CT_FILEGROUP, NULL, NULL, true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_options(r, &id, &id, VSS_CT_FILEGROUP, NULL, "c", NULL),
                         E_INVALIDARG);

        /* Restore calls: the document is mandatory, values in range, the writer class named. */
        assert_int_equal(vss_requester_initialize_for_restore(r, NULL), VSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(vss_requester_initialize_for_restore(r, ""), VSS_E_INVALID_XML_DOCUMENT);
        assert_int_equal(vss_requester_set_restore_state(r, (vss_restore_type) 4), E_INVALIDARG);
        assert_int_equal(vss_requester_set_selected_for_restore(r, NULL, NULL, VSS_CT_FILEGROUP, NULL, "c", true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_selected_for_restore(r, NULL, &VSS_ID_NULL, VSS_CT_FILEGROUP, NULL, "c",
                                                                true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_selected_for_restore(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "", true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_add_restore_subcomponent(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", NULL, NULL,
                                                                false),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_restore_options(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", NULL),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_additional_restores(r, NULL, &id, (vss_component_type) 9, NULL, "c", true),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_add_new_target(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", NULL, "*", true, "/a"),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_add_new_target(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", "/d", "*", true, NULL),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_add_new_target(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", huge, "*", true, "/a"),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_file_restore_status(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c",
                                                               (vss_file_restore_status) 4),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_pre_restore(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_post_restore(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_options(r, &id, &id, VSS_CT_FILEGROUP, NULL, "c", huge),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_backup_options(r, NULL, &id, VSS_CT_FILEGROUP, NULL, "c", "o"),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_previous_backup_stamp(r, &id, &id, VSS_CT_FILEGROUP, NULL, NULL, "s"),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_previous_backup_stamp(r, &id, &id, VSS_CT_DATABASE, NULL, "c", NULL),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_set_previous_backup_stamp(r, &id, &id, (vss_component_type) 0, NULL, "c",
                                                                 "s"),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_save_as_xml(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_save_as_xml(NULL, &xml), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_components_count(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_components(r, 0, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_components(NULL, 0, &ext), E_INVALIDARG);
        assert_int_equal(vss_requester_backup_complete(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_gather_writer_status(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_get_writer_status_count(r, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_query(r, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, NULL), E_INVALIDARG);
        assert_int_equal(vss_requester_query(r, &id, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT,
                                             (vss_enum_object *[1]) {}), E_INVALIDARG);
        assert_int_equal(vss_requester_query(r, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT_SET,
                                             (vss_enum_object *[1]) {}), E_INVALIDARG);
        assert_int_equal(vss_requester_delete_snapshots(r, NULL, VSS_OBJECT_SNAPSHOT, false, &deleted, &id),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_delete_snapshots(r, &id, VSS_OBJECT_SNAPSHOT, false, NULL, &id),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_delete_snapshots(r, &id, VSS_OBJECT_SNAPSHOT, false, &deleted, NULL),
                         E_INVALIDARG);
        assert_int_equal(vss_requester_delete_snapshots(r, &id, VSS_OBJECT_PROVIDER, false, &deleted, &id),
                         E_INVALIDARG);

        /* Nothing gathered yet: the cached views refuse locally. */
        assert_int_equal(vss_requester_get_writer_metadata_count(r, &n), VSS_E_BAD_STATE);
        assert_int_equal(vss_requester_get_writer_status_count(r, &n), VSS_E_BAD_STATE);
        assert_int_equal(vss_requester_free_writer_metadata(r), VSS_E_BAD_STATE);
        assert_string_not_equal(vss_requester_get_error_message(r), "");

        /* None of the above reached vssd... */
        assert_int_equal(fake_vssd_requester_calls(f), 0);

        /* ...while a good call does, so the count above means something. */
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_enable_writer_classes(r, ids, 2), S_OK);
        assert_int_equal(fake_vssd_requester_calls(f), 2);

        free(many);
        free(huge);
        vss_requester_release(r);
        fake_vssd_free(f);
}

/* An operation in flight when vssd's connection breaks ends as VSS_E_UNEXPECTED. */
static vss_hr pending_then_lost(FakeVssd *f, vss_hr (*start)(vss_requester *, vss_async **)) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;
        vss_async *a = NULL;
        vss_hr hr = S_OK;

        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_requester_new(&r, &opts), S_OK);
        assert_int_equal(start(r, &a), S_OK);
        assert_true(fake_vssd_wait_deferred(f));
        fake_vssd_disconnect(f);

        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_query_status(a, &hr), S_OK);
        /* The one-call form reports the same ending. */
        assert_int_equal(vss_async_wait_result(a), hr);
        /* A new call cannot even start: the service is gone for this handle. */
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_BACKUP), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_requester_gather_writer_status(r, &a), VSS_E_WRITER_INFRASTRUCTURE);

        vss_async_release(a);
        vss_requester_release(r);
        return hr;
}

static void test_connection_lost(void **state) {
        FakeVssd *f = fake_vssd_new();

        assert_non_null(f);
        assert_int_equal(pending_then_lost(f, vss_requester_do_snapshot_set), VSS_E_UNEXPECTED);
        assert_int_equal(pending_then_lost(f, vss_requester_backup_complete), VSS_E_UNEXPECTED);
        fake_vssd_free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_null_handle),
                cmocka_unit_test(test_missing_socket),
                cmocka_unit_test(test_null_out_pointers),
                cmocka_unit_test(test_connection_lost),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

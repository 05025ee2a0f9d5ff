/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-documents.c: the writer's IVssComponent calls against fake-vssd: arguments,
 * windows (edits in PrepareForBackup/PostSnapshot only, reads in the three component events,
 * GetBackupSucceeded in BackupComplete only, a kept component refused later), and what goes
 * back on the wire: the edited slice in the answer's `out` dictionary, only when edited.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "backup-components.h"
#include "bcd-xml.h"
#include "fake-vssd.h"
#include "vss/vss.h"

typedef struct Results {
        vss_id class_id;
        vss_component *kept;

        /* on_post_snapshot */
        unsigned ps_count;
        const char *ps_prev;
        vss_hr ps_stamp_hr, ps_null_stamp_hr, ps_diff_hr, ps_diff_wild_hr, ps_diff_null_hr, ps_partial_hr;
        vss_hr ps_partial_bad_hr, ps_succeeded_hr, ps_null_ret_hr, ps_index_hr;
        char ps_stamp[32];

        /* on_backup_complete */
        vss_hr bc_stamp_hr, bc_diff_hr, bc_partial_hr, bc_succeeded_hr, bc_read_hr;
        bool bc_succeeded;
        char bc_stamp[32];

        /* on_prepare_snapshot, with the component kept from before */
        vss_hr pss_read_hr, pss_diff_hr;
} Results;

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        (void) vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "data", "Data", false, true,
                                                        true, false, 0);
        (void) vss_create_writer_metadata_add_files_to_file_group(md, NULL, "data", "/srv/data", "*", true, NULL,
                                                                  VSS_FSBT_ALL_BACKUP_REQUIRED);
        (void) vss_create_writer_metadata_set_backup_schema(md, VSS_BS_INCREMENTAL | VSS_BS_LAST_MODIFY);
        return true;
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        Results *res = userdata;
        vss_component *comp = NULL, *none = NULL;
        const char *stamp = NULL;
        bool b;

        (void) vss_writer_components_get_count(c, &res->ps_count);
        if (vss_writer_components_get_component(c, 0, &comp) != S_OK)
                return false;
        res->ps_index_hr = vss_writer_components_get_component(c, 5, &none);
        res->kept = comp;
        (void) vss_component_get_previous_backup_stamp(comp, &res->ps_prev);
        res->ps_prev = res->ps_prev ? strdup(res->ps_prev) : NULL;

        res->ps_null_stamp_hr = vss_component_set_backup_stamp(comp, NULL);
        res->ps_stamp_hr = vss_component_set_backup_stamp(comp, "lsn:7");
        res->ps_diff_hr = vss_component_add_differenced_files_by_last_modify_time(comp, "/srv/data", "*", true, 0);
        res->ps_diff_wild_hr = vss_component_add_differenced_files_by_last_modify_time(comp, "/srv/d?ta", "*", true,
                                                                                      0);
        res->ps_diff_null_hr = vss_component_add_differenced_files_by_last_modify_time(comp, NULL, "*", true, 0);
        res->ps_partial_hr = vss_component_add_partial_file(comp, "/srv/other", "f.bin", "0:10", "m");
        res->ps_partial_bad_hr = vss_component_add_partial_file(comp, "/srv/other", "*.bin", "0:10", NULL);
        res->ps_succeeded_hr = vss_component_get_backup_succeeded(comp, &b);
        res->ps_null_ret_hr = vss_component_get_backup_stamp(comp, NULL);
        if (vss_component_get_backup_stamp(comp, &stamp) == S_OK && stamp)
                snprintf(res->ps_stamp, sizeof res->ps_stamp, "%s", stamp);
        return true;
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        Results *res = userdata;
        vss_component *comp = NULL;
        const char *stamp = NULL;

        if (vss_writer_components_get_component(c, 0, &comp) != S_OK)
                return false;
        res->kept = comp;
        res->bc_stamp_hr = vss_component_set_backup_stamp(comp, "late");
        res->bc_diff_hr = vss_component_add_differenced_files_by_last_modify_time(comp, "/srv/new", "*", false, 0);
        res->bc_partial_hr = vss_component_add_partial_file(comp, "/srv/other", "g.bin", "0:10", NULL);
        res->bc_succeeded_hr = vss_component_get_backup_succeeded(comp, &res->bc_succeeded);
        res->bc_read_hr = vss_component_get_backup_stamp(comp, &stamp);
        if (stamp)
                snprintf(res->bc_stamp, sizeof res->bc_stamp, "%s", stamp);
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        Results *res = userdata;
        const char *s;

        /* A component kept from an earlier callback is refused, not dereferenced freely. */
        res->pss_read_hr = vss_component_get_backup_stamp(res->kept, &s);
        res->pss_diff_hr = vss_component_add_differenced_files_by_last_modify_time(res->kept, "/srv/new", "*", false,
                                                                                   0);
        return true;
}

static const vss_writer_callbacks callbacks = {
        .version = VSS_WRITER_CALLBACKS_VERSION,
        .on_identify = on_identify,
        .on_prepare_snapshot = on_prepare_snapshot,
        .on_post_snapshot = on_post_snapshot,
        .on_backup_complete = on_backup_complete,
};

static FakeEventReply send_and_wait(FakeVssd *f, const char *member) {
        FakeEventReply reply = {};
        int h;

        h = fake_vssd_send_event(f, member, NULL, NULL, true);
        assert_true(h >= 0);
        assert_true(fake_vssd_wait_reply(f, h, &reply));
        assert_false(reply.is_error);
        return reply;
}

/* The slice vssd would send: the writer's one component, with a previous stamp. */
static char *slice_xml(const vss_id *class_id, bool succeeded) {
        BackupComponents *b = backup_components_new();
        vss_id instance = fake_vssd_instance_id();
        BcdComponent *c = NULL;
        char *xml = NULL;

        assert_non_null(b);
        assert_int_equal(backup_components_set_backup_state(b, true, false, VSS_BT_INCREMENTAL, false), S_OK);
        assert_int_equal(backup_components_add_component(b, &instance, class_id, VSS_CT_FILEGROUP, "", "data", &c),
                         S_OK);
        assert_int_equal(bcd_component_set_string(c, BCD_STRING_PREVIOUS_BACKUP_STAMP, "lsn:6"), S_OK);
        assert_int_equal(bcd_component_set_backup_succeeded(c, succeeded), S_OK);
        assert_int_equal(backup_components_to_xml(b, &xml), S_OK);
        backup_components_free(b);
        return xml;
}

static vss_writer *writer_new(FakeVssd *f, Results *res) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer *w = NULL;

        vss_id_generate(&res->class_id);
        opts.writer_id = res->class_id;
        opts.writer_name = "documents";
        opts.socket_path = fake_vssd_socket_path(f);
        assert_int_equal(vss_writer_new(&w, &opts, &callbacks, res), S_OK);
        assert_int_equal(vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG), S_OK);
        assert_true(fake_vssd_wait_subscribed(f));
        return w;
}

static void test_component_windows(void **state) {
        FakeVssd *f = fake_vssd_new();
        BackupComponents *edited = NULL;
        const BcdWriter *bw;
        vss_id instance = fake_vssd_instance_id();
        FakeEventReply reply;
        Results res = {};
        const char *s;
        vss_writer *w;
        char *xml;

        assert_non_null(f);
        w = writer_new(f, &res);

        /* Identify first: the differenced-file rules need the writer's own metadata. */
        reply = send_and_wait(f, "Identify");
        assert_true(reply.ok);

        xml = slice_xml(&res.class_id, false);
        fake_vssd_set_components_xml(f, xml);
        free(xml);

        reply = send_and_wait(f, "PostSnapshot");
        assert_true(reply.ok);
        assert_int_equal(res.ps_count, 1);
        assert_int_equal(res.ps_index_hr, VSS_E_OBJECT_NOT_FOUND);
        assert_string_equal(res.ps_prev, "lsn:6");
        assert_int_equal(res.ps_null_stamp_hr, E_INVALIDARG);
        assert_int_equal(res.ps_stamp_hr, S_OK);
        assert_int_equal(res.ps_diff_hr, S_OK);
        assert_int_equal(res.ps_diff_wild_hr, E_INVALIDARG);
        assert_int_equal(res.ps_diff_null_hr, E_INVALIDARG);
        assert_int_equal(res.ps_partial_hr, S_OK);
        assert_int_equal(res.ps_partial_bad_hr, E_INVALIDARG);
        assert_int_equal(res.ps_succeeded_hr, VSS_E_BAD_STATE);
        assert_int_equal(res.ps_null_ret_hr, E_INVALIDARG);
        assert_string_equal(res.ps_stamp, "lsn:7");

        /* The edited slice came back with the answer, and holds the edits. */
        assert_non_null(reply.components_xml);
        assert_int_equal(backup_components_from_xml(reply.components_xml, strlen(reply.components_xml), &edited,
                                                    NULL),
                         S_OK);
        bw = backup_components_find_writer(edited, &instance);
        assert_non_null(bw);
        assert_int_equal(bw->n_components, 1);
        assert_string_equal(bcd_component_get_string(bw->components[0], BCD_STRING_BACKUP_STAMP), "lsn:7");
        assert_string_equal(bcd_component_get_string(bw->components[0], BCD_STRING_PREVIOUS_BACKUP_STAMP), "lsn:6");
        assert_int_equal(bw->components[0]->n_differenced_files, 1);
        assert_int_equal(bw->components[0]->n_partial_files, 1);
        backup_components_free(edited);

        /* BackupComplete: read-only; GetBackupSucceeded allowed; no slice goes back. */
        xml = slice_xml(&res.class_id, true);
        fake_vssd_set_components_xml(f, xml);
        free(xml);
        reply = send_and_wait(f, "BackupComplete");
        assert_true(reply.ok);
        assert_int_equal(res.bc_stamp_hr, VSS_E_BAD_STATE);
        assert_int_equal(res.bc_diff_hr, VSS_E_BAD_STATE);
        assert_int_equal(res.bc_partial_hr, VSS_E_BAD_STATE);
        assert_int_equal(res.bc_succeeded_hr, S_OK);
        assert_true(res.bc_succeeded);
        assert_int_equal(res.bc_read_hr, S_OK);
        assert_null(reply.components_xml);

        /* A component kept past its callback: refused in another callback and outside. */
        reply = send_and_wait(f, "PrepareForSnapshot");
        assert_true(reply.ok);
        assert_int_equal(res.pss_read_hr, VSS_E_BAD_STATE);
        assert_int_equal(res.pss_diff_hr, VSS_E_BAD_STATE);
        assert_int_equal(vss_component_get_backup_stamp(res.kept, &s), VSS_E_BAD_STATE);
        assert_int_equal(vss_component_set_backup_metadata(res.kept, "x"), VSS_E_BAD_STATE);
        assert_int_equal(vss_component_add_differenced_files_by_last_modify_time(res.kept, "/srv/new", "*", false, 0),
                         VSS_E_BAD_STATE);

        /* NULL components everywhere. */
        assert_int_equal(vss_component_set_backup_stamp(NULL, "x"), E_INVALIDARG);
        assert_int_equal(vss_component_get_differenced_files_count(NULL, NULL), E_INVALIDARG);
        assert_int_equal(vss_component_add_differenced_files_by_last_modify_time(NULL, "/a", "*", false, 0),
                         E_INVALIDARG);
        assert_int_equal(vss_component_get_partial_file(NULL, 0, NULL, NULL, NULL, NULL), E_INVALIDARG);

        vss_writer_free(w);
        free((char *) res.ps_prev);
        fake_vssd_free(f);
}

/* An older vssd sends only the `components` summary: the view is built from it and edits work. */
static void test_summary_only(void **state) {
        FakeVssd *f = fake_vssd_new();
        FakeEventReply reply;
        Results res = {};
        vss_writer *w;

        assert_non_null(f);
        w = writer_new(f, &res);
        reply = send_and_wait(f, "Identify");
        assert_true(reply.ok);

        reply = send_and_wait(f, "PostSnapshot");
        assert_true(reply.ok);
        assert_int_equal(res.ps_count, 1);
        assert_null(res.ps_prev);
        assert_int_equal(res.ps_stamp_hr, S_OK);
        assert_int_equal(res.ps_diff_hr, S_OK);
        assert_non_null(reply.components_xml);
        assert_non_null(strstr(reply.components_xml, "backupStamp=\"lsn:7\""));

        vss_writer_free(w);
        fake_vssd_free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_component_windows),
                cmocka_unit_test(test_summary_only),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-wmd-extras.c: alternate location mappings and component dependencies of the Writer
 * Metadata Document, end to end (issue 4): a real writer process declares them in
 * OnIdentify through libvss, they cross vssd on D-Bus, and the requester sees them in its
 * IVssExamineWriterMetadata view, in SaveAsXML, and again after a save -> load round trip.
 * The builder refusals a writer can hit (a mapping for a file set it never declared, a
 * dependency on a component it does not have) come back as the documented codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "macro.h"

#define OTHER_CLASS "6c1f7e2a-93d4-4b8e-a1f0-5d2c3b4a6e71"
#define ALT_DEST "/srv/restore-elsewhere"

static char *make_dir(Harness *h, const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", h->dir, name) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

/* The view's only component must carry the declared dependency; so must its mapping list. */
static void assert_extras_in_view(vss_examine_writer_metadata *m, const char *data) {
        vss_wm_component *c = NULL;
        vss_component_info info;
        vss_wm_dependency dep;
        vss_wm_filedesc fd;
        vss_id other;
        unsigned n = 99;

        assert_hr(vss_id_parse(OTHER_CLASS, &other), S_OK);

        assert_hr(vss_examine_writer_metadata_get_alternate_location_mapping_count(m, &n), S_OK);
        assert_int_equal(n, 1);
        assert_hr(vss_examine_writer_metadata_get_alternate_location_mapping(m, 0, &fd), S_OK);
        assert_string_equal(fd.path, data);
        assert_string_equal(fd.filespec, "*");
        assert_true(fd.recursive);
        assert_string_equal(fd.alternate_location, ALT_DEST);
        assert_hr(vss_examine_writer_metadata_get_alternate_location_mapping(m, 1, &fd), VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_examine_writer_metadata_get_alternate_location_mapping(m, 0, NULL), E_INVALIDARG);

        assert_hr(vss_examine_writer_metadata_get_component(m, 0, &c), S_OK);
        assert_hr(vss_wm_component_get_info(c, &info), S_OK);
        assert_string_equal(info.component_name, "data");
        assert_int_equal(info.dependencies, 1);
        assert_hr(vss_wm_component_get_dependency(c, 0, &dep), S_OK);
        assert_true(vss_id_equal(&dep.writer_id, &other));
        assert_string_equal(dep.logical_path, "logs");
        assert_string_equal(dep.component_name, "journal");
        assert_hr(vss_wm_component_get_dependency(c, 1, &dep), VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_wm_component_get_dependency(NULL, 0, &dep), E_INVALIDARG);
}

static void test_extras_reach_requester(void **state) {
        _cleanup_free_ char *data = NULL, *wmd = NULL, *wmd2 = NULL;
        vss_examine_writer_metadata *m = NULL, *loaded = NULL;
        char needle[512];
        vss_requester *r;
        vss_id instance;
        TestWriter *w;
        BackupRun run = {};
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        data = make_dir(h, "data");
        assert_ok0(harness_add_writer(h, "extras",
                                      (const char *const[]) { "--file", data, "--alternate-location", ALT_DEST,
                                                              "--dependency", OTHER_CLASS ":logs:journal", NULL },
                                      &w));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_int_equal(writer_log_count(w, "identify-error"), 0);

        assert_hr(vss_requester_get_writer_metadata(r, 0, &instance, &m), S_OK);
        assert_true(vss_id_equal(&instance, &w->instance_id));
        assert_extras_in_view(m, data);

        /* SaveAsXML carries both, and a document loaded from it reads the same. */
        assert_hr(vss_examine_writer_metadata_save_as_xml(m, &wmd), S_OK);
        assert_non_null(strstr(wmd, "<ALTERNATE_LOCATION_MAPPING"));
        snprintf(needle, sizeof needle, "alternatePath=\"%s\"", ALT_DEST);
        assert_non_null(strstr(wmd, needle));
        assert_non_null(strstr(wmd, "<DEPENDENCY"));
        assert_non_null(strstr(wmd, "onWriterId=\"" OTHER_CLASS "\""));
        assert_non_null(strstr(wmd, "onComponentName=\"journal\""));

        assert_hr(vss_examine_writer_metadata_new_from_xml(wmd, &loaded, NULL), S_OK);
        assert_extras_in_view(loaded, data);
        assert_hr(vss_examine_writer_metadata_save_as_xml(loaded, &wmd2), S_OK);
        assert_string_equal(wmd, wmd2);
        vss_examine_writer_metadata_free(loaded);

        vss_requester_release(r);
        harness_free(h);
}

/* A writer's refused declarations get the builder's codes and the rest of its metadata stays. */
static void test_refused_declarations(void **state) {
        vss_examine_writer_metadata *m = NULL;
        vss_wm_component *c = NULL;
        vss_component_info info;
        vss_requester *r;
        vss_id instance;
        unsigned n = 99;
        TestWriter *w;
        BackupRun run = {};
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        /* A relative mapping destination and a dependency on a name holding '\' are both
         * E_INVALIDARG; the file set itself is still declared. */
        assert_ok0(harness_add_writer(h, "refused",
                                      (const char *const[]) { "--file", "/nonexistent-but-declared",
                                                              "--alternate-location", "relative/dest",
                                                              "--dependency", OTHER_CLASS ":logs:a\\b", NULL },
                                      &w));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_int_equal(writer_log_count(w, "identify-error alternate_location=relative/dest hr=E_INVALIDARG"), 1);
        assert_int_equal(writer_log_count(w, "identify-error dependency=a\\b hr=E_INVALIDARG"), 1);

        assert_hr(vss_requester_get_writer_metadata(r, 0, &instance, &m), S_OK);
        assert_hr(vss_examine_writer_metadata_get_alternate_location_mapping_count(m, &n), S_OK);
        assert_int_equal(n, 0);
        assert_hr(vss_examine_writer_metadata_get_component(m, 0, &c), S_OK);
        assert_hr(vss_wm_component_get_info(c, &info), S_OK);
        assert_int_equal(info.dependencies, 0);
        assert_int_equal(info.file_count, 1);

        vss_requester_release(r);
        harness_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_extras_reach_requester),
                cmocka_unit_test(test_refused_declarations),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

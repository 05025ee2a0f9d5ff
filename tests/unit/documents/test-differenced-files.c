/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-differenced-files: IVssComponent::AddDifferencedFilesByLastModifyTime, every rule of
 * seed 003 with the code it returns: who may call and when (VSS_E_BAD_STATE), path and file
 * spec syntax with $VAR expansion, the backup schema, exact match for existing file sets and
 * no trespassing for new ones, the partial-file conflict, repeats and limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup-components.h"
#include "macro.h"
#include "writer-metadata.h"

#define WRITER_ID "a1b2c3d4-0000-4000-8000-000000000001"
#define INSTANCE_ID "a1b2c3d4-0000-4000-8000-000000000011"
#define OTHER_WRITER_ID "a1b2c3d4-0000-4000-8000-000000000002"
#define SCHEMA_ALL (VSS_BS_LAST_MODIFY | VSS_BS_INCREMENTAL | VSS_BS_DIFFERENTIAL)

typedef struct Fixture {
        WriterMetadata *wmd;
        WriterMetadata *other;
        BackupComponents *bcd;
        BcdComponent *files, *db, *req, *stray;
        BcdEventWindow window;
} Fixture;

static vss_id id(const char *s) {
        vss_id r;

        assert_int_equal(vss_id_parse(s, &r), S_OK);
        return r;
}

/*
 * The writer's metadata:
 *   db      (database, selectable)  /data/db main.db, log files /data/db *.log
 *   files   (file group, selectable) /data/files * recursive, $VSS_TEST_CFG *.cfg
 *   files\sub (not selectable: a subcomponent of files) /data/sub *
 *   other   (file group, selectable) /data/other *.txt
 *   uni     (file group, selectable) /data/u é
 *   req     (not selectable) and req\child (not selectable, so not part of req) /data/req/child *
 * Another writer manages /srv/o/... recursively.
 */
static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        vss_id wid = id(WRITER_ID), iid = id(INSTANCE_ID), oid = id(OTHER_WRITER_ID);
        WriterMetadata *m;

        assert_non_null(f);
        assert_int_equal(setenv("VSS_TEST_CFG", "/data/cfg", 1), 0);
        assert_int_equal(setenv("VSS_TEST_WILD", "/data/*", 1), 0);
        assert_int_equal(unsetenv("VSS_TEST_UNSET"), 0);

        m = f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0), S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(m, SCHEMA_ALL), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_DATABASE, "", "db", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "files", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "files", "sub", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "other", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "uni", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "req", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "req", "child", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "", "db", "/data/db", "main.db", 0, NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "", "db", "/data/db", "*.log", 0, NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "files", "/data/files", "*", 1, NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "files", "$VSS_TEST_CFG", "*.cfg", 0,
                                                     NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "files", "sub", "/data/sub", "*", 0, NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "other", "/data/other", "*.txt", 0,
                                                     NULL, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "uni", "/data/u", "é", 0, NULL, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "req", "child", "/data/req/child", "*", 0,
                                                     NULL, 0),
                         S_OK);

        m = f->other = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(m, NULL, &oid, "o", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "o", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "o", "/srv/o", "*", 1, NULL, 0), S_OK);

        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_INCREMENTAL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "files", &f->files),
                         S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_DATABASE, "", "db", &f->db), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "req", &f->req), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "stray", &f->stray),
                         S_OK);

        f->window = (BcdEventWindow) {
                .caller_is_writer = true,
                .operation = BCD_OPERATION_BACKUP,
                .event = BCD_EVENT_POST_SNAPSHOT,
                .backup_type = VSS_BT_INCREMENTAL,
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        backup_components_free(f->bcd);
        writer_metadata_free(f->wmd);
        writer_metadata_free(f->other);
        free(f);
        return 0;
}

static vss_hr add(Fixture *f, BcdComponent *c, const char *path, const char *filespec, bool recursive,
                  vss_timestamp t) {
        return bcd_component_add_differenced_files_by_last_modify_time(c, f->wmd, &f->window, path, filespec, recursive,
                                                                       t);
}

/* The state rules: only a writer, only during a backup, never in BackupComplete/BackupShutdown. */
static void test_state(void **state) {
        Fixture *f = *state;
        static const BcdEvent refused[] = { BCD_EVENT_NONE, BCD_EVENT_IDENTIFY, BCD_EVENT_ABORT,
                                            BCD_EVENT_BACKUP_COMPLETE, BCD_EVENT_BACKUP_SHUTDOWN,
                                            BCD_EVENT_PRE_RESTORE, BCD_EVENT_POST_RESTORE };

        f->window.caller_is_writer = false;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), VSS_E_BAD_STATE);
        /* The state is judged before the arguments. */
        assert_int_equal(add(f, f->files, "/data/*", "a/b", true, 1), VSS_E_BAD_STATE);
        f->window.caller_is_writer = true;

        f->window.operation = BCD_OPERATION_RESTORE;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), VSS_E_BAD_STATE);
        f->window.operation = BCD_OPERATION_NONE;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), VSS_E_BAD_STATE);
        f->window.operation = BCD_OPERATION_BACKUP;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                f->window.event = refused[i];
                assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), VSS_E_BAD_STATE);
        }
        assert_int_equal(f->files->n_differenced_files, 0);

        f->window.event = BCD_EVENT_PREPARE_BACKUP;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), S_OK);
        f->window.event = BCD_EVENT_POST_SNAPSHOT;
        assert_int_equal(add(f, f->files, "$VSS_TEST_CFG", "*.cfg", false, 1), S_OK);
        assert_int_equal(f->files->n_differenced_files, 2);

        assert_int_equal(bcd_event_window_check_edit(NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_files_by_last_modify_time(NULL, f->wmd, &f->window, "/x", "*",
                                                                                 false, 0),
                         E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_files_by_last_modify_time(f->files, NULL, &f->window, "/x", "*",
                                                                                 false, 0),
                         E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_files_by_last_modify_time(f->files, f->wmd, NULL, "/x", "*",
                                                                                 false, 0),
                         E_INVALIDARG);
}

/* Path: variables yes, wildcards no. File spec: wildcards yes, directories no. */
static void test_syntax(void **state) {
        Fixture *f = *state;

        assert_int_equal(add(f, f->files, "/data/fil*", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/file?", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "$VSS_TEST_WILD", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, NULL, "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "data/files", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/x/../files", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "$VSS_TEST_UNSET/x", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "${VSS_TEST_CFG", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "${1BAD}", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "$", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/new\x01", "*", true, 1), E_INVALIDARG);

        assert_int_equal(add(f, f->files, "/data/files", "sub/*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/files", "", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/files", NULL, true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/files", "*", true, -1), E_INVALIDARG);
        assert_int_equal(f->files->n_differenced_files, 0);

        /* ${VAR} and $VAR expand, and the path is stored expanded and normalized. */
        assert_int_equal(add(f, f->files, "${VSS_TEST_CFG}/", "*.cfg", false, 7), S_OK);
        assert_string_equal(f->files->differenced_files[0].path, "/data/cfg");
        assert_string_equal(f->files->differenced_files[0].filespec, "*.cfg");
        assert_false(f->files->differenced_files[0].recursive);
        assert_int_equal(f->files->differenced_files[0].last_modify_time, 7);
        /* The same set again, spelled differently, is a repeat. */
        assert_int_equal(add(f, f->files, "$VSS_TEST_CFG", "*.cfg", false, 8), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "//data/./files/", "*", true, 0), S_OK);
        assert_string_equal(f->files->differenced_files[1].path, "/data/files");
        /* Zero: "use your own records". */
        assert_int_equal(f->files->differenced_files[1].last_modify_time, 0);
}

static void test_schema(void **state) {
        Fixture *f = *state;

        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_INCREMENTAL | VSS_BS_DIFFERENTIAL), S_OK);
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), E_INVALIDARG);

        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_LAST_MODIFY | VSS_BS_DIFFERENTIAL), S_OK);
        f->window.backup_type = VSS_BT_INCREMENTAL;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), E_INVALIDARG);

        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_LAST_MODIFY | VSS_BS_INCREMENTAL), S_OK);
        f->window.backup_type = VSS_BT_DIFFERENTIAL;
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), E_INVALIDARG);
        assert_int_equal(f->files->n_differenced_files, 0);

        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_LAST_MODIFY | VSS_BS_DIFFERENTIAL), S_OK);
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), S_OK);

        /* A full backup needs only the last-modify schema (the requester copies everything anyway). */
        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_LAST_MODIFY), S_OK);
        f->window.backup_type = VSS_BT_FULL;
        assert_int_equal(add(f, f->files, "$VSS_TEST_CFG", "*.cfg", false, 1), S_OK);
        assert_int_equal(f->files->n_differenced_files, 2);
}

/* Existing files: exactly a declared set of the component or its subcomponents. */
static void test_existing_sets(void **state) {
        Fixture *f = *state;

        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), S_OK);
        assert_int_equal(add(f, f->files, "/data/sub", "*", false, 1), S_OK); /* subcomponent files\sub */
        assert_int_equal(add(f, f->files, "/data/files", "*", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/files/deep", "*.x", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/files", "*.x", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/cfg", "a*", false, 1), E_INVALIDARG); /* inside $VSS_TEST_CFG *.cfg */

        assert_int_equal(add(f, f->db, "/data/db", "main.db", false, 1), S_OK);
        assert_int_equal(add(f, f->db, "/data/db", "*.log", false, 1), S_OK);
        assert_int_equal(add(f, f->db, "/data/db", "*", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->db, "/data/db", "main.d?", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->db, "/data", "*", true, 1), E_INVALIDARG);
        assert_int_equal(f->db->n_differenced_files, 2);
}

/* New files: allowed, as long as no other component or writer manages them. */
static void test_new_files(void **state) {
        Fixture *f = *state;
        const WriterMetadata *others[] = { f->other };

        assert_int_equal(add(f, f->files, "/data/new", "*.dat", true, 1), S_OK);
        assert_int_equal(add(f, f->db, "/data/db", "*.tmp", false, 1), S_OK);

        /* Another component of the same writer. */
        assert_int_equal(add(f, f->files, "/data/other", "*.txt", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/other", "a*", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/other", "*.bin", false, 1), S_OK);
        assert_int_equal(add(f, f->files, "/data/other", "?.tx", false, 1), S_OK);
        /* '?' is one character, not one byte: "?" can be "é". */
        assert_int_equal(add(f, f->files, "/data/u", "?", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/data/u", "??", false, 1), S_OK);

        /* A non-selectable component does not own its children: req\child is someone else. */
        assert_int_equal(add(f, f->req, "/data/req/child", "*", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->req, "/data/req", "*", false, 1), S_OK);

        /* Another writer's files, when the caller knows the other writers. */
        assert_int_equal(add(f, f->files, "/srv/o/x", "*", false, 1), S_OK);
        f->window.other_writers = others;
        f->window.n_other_writers = 1;
        assert_int_equal(add(f, f->files, "/srv/o/y", "*", false, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/srv", "*", true, 1), E_INVALIDARG);
        assert_int_equal(add(f, f->files, "/srv", "*", false, 1), S_OK);
}

static void test_component_not_declared(void **state) {
        Fixture *f = *state;

        /* The requester put a component in the document the writer never declared. */
        assert_int_equal(add(f, f->stray, "/data/new", "*", false, 1), VSS_E_UNEXPECTED);
        assert_int_equal(f->stray->n_differenced_files, 0);
}

/* The same file may not be differenced and partial, whichever comes first. */
static void test_partial_conflict(void **state) {
        Fixture *f = *state;

        assert_int_equal(bcd_component_add_partial_file(f->files, "/data/files/deep", "big.log", "0:100", NULL), S_OK);
        assert_int_equal(add(f, f->files, "/data/files", "*", true, 1), E_INVALIDARG);
        assert_int_equal(f->files->n_differenced_files, 0);

        assert_int_equal(add(f, f->db, "/data/db", "*.log", false, 1), S_OK);
        assert_int_equal(bcd_component_add_partial_file(f->db, "/data/db", "x.log", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(f->db, "/data/db/sub", "x.log", "0:1", NULL), S_OK);
        assert_int_equal(bcd_component_add_partial_file(f->db, "/data/db", "x.dat", "0:1", NULL), S_OK);
        assert_int_equal(f->db->n_partial_files, 2);
}

static void test_limit(void **state) {
        Fixture *f = *state;
        char path[64];

        for (unsigned i = 0; i < BCD_MAX_ENTRIES_PER_LIST; i++) {
                snprintf(path, sizeof(path), "/new/d%u", i);
                assert_int_equal(add(f, f->files, path, "*", false, i), S_OK);
        }
        assert_int_equal(add(f, f->files, "/new/one-more", "*", false, 1), E_INVALIDARG);
        assert_int_equal(f->files->n_differenced_files, BCD_MAX_ENTRIES_PER_LIST);
}

static void test_filespec_match(void **state) {
        assert_true(bcd_filespec_match("*", "anything"));
        assert_true(bcd_filespec_match("*", ".hidden"));
        assert_true(bcd_filespec_match("*.log", "a.log"));
        assert_false(bcd_filespec_match("*.log", "a.log.1"));
        assert_true(bcd_filespec_match("a?c", "abc"));
        assert_true(bcd_filespec_match("a?c", "aéc"));
        assert_false(bcd_filespec_match("a?c", "ac"));
        assert_true(bcd_filespec_match("*a*b*", "xxaxxbxx"));
        assert_false(bcd_filespec_match("*a*b*", "xxbxxaxx"));
        assert_true(bcd_filespec_match("[x]", "[x]"));
        assert_false(bcd_filespec_match("[x]", "x"));
        assert_false(bcd_filespec_match(NULL, "x"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
                cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_existing_sets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_new_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_component_not_declared, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_conflict, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
                cmocka_unit_test(test_filespec_match),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

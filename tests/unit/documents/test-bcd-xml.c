/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bcd-xml: the Backup Components Document model and its XML. The model's rules and
 * limits (duplicates, unknown components, list and document limits, partial file syntax);
 * a document with every field saves, loads and saves again to the same bytes; hostile or
 * broken input is VSS_E_INVALID_XML_DOCUMENT with a reason, returns nothing, prints nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup-components.h"
#include "bcd-xml.h"
#include "doc-test.h"
#include "macro.h"
#include "vss-bus.h"
#include "xml-util.h"

#define WRITER_A "a1b2c3d4-0000-4000-8000-00000000000a"
#define INSTANCE_A "a1b2c3d4-0000-4000-8000-0000000000a1"
#define WRITER_B "a1b2c3d4-0000-4000-8000-00000000000b"
#define INSTANCE_B "a1b2c3d4-0000-4000-8000-0000000000b1"

static vss_id id(const char *s) {
        vss_id r;

        assert_int_equal(vss_id_parse(s, &r), S_OK);
        return r;
}

static BackupComponents *full_document(void) {
        BackupComponents *b = backup_components_new();
        vss_id wa = id(WRITER_A), ia = id(INSTANCE_A), wb = id(WRITER_B), ib = id(INSTANCE_B);
        BcdComponent *c, *d, *e;

        assert_non_null(b);
        assert_int_equal(backup_components_set_backup_state(b, true, true, VSS_BT_INCREMENTAL, true), S_OK);
        assert_int_equal(backup_components_set_context(b, VSS_CTX_APP_ROLLBACK | VSS_VOLSNAP_ATTR_PERSISTENT), S_OK);
        assert_int_equal(backup_components_set_restore_type(b, BCD_RESTORE_TYPE_IMPORT), S_OK);

        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_DATABASE, "sql\\main", "db1", &c), S_OK);
        assert_int_equal(backup_components_add_component(b, &ib, &wb, VSS_CT_FILEGROUP, NULL, "Dateien «ü» 文件", &d),
                         S_OK);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", "conf", &e), S_OK);

        assert_int_equal(bcd_component_set_backup_succeeded(c, true), S_OK);
        assert_int_equal(bcd_component_set_selected_for_restore(c, true), S_OK);
        assert_int_equal(bcd_component_set_additional_restores(c, true), S_OK);
        assert_int_equal(bcd_component_set_restore_target(c, BCD_RESTORE_TARGET_DIRECTED), S_OK);
        assert_int_equal(bcd_component_set_file_restore_status(c, BCD_FILE_RESTORE_FAILED), S_OK);
        for (unsigned i = 0; i < _BCD_STRING_MAX; i++) {
                char v[64];

                snprintf(v, sizeof(v), "value %u <&\"'>\n\t\r end", i);
                assert_int_equal(bcd_component_set_string(c, (BcdString) i, v), S_OK);
        }
        /* Set to "" is not the same as never set. */
        assert_int_equal(bcd_component_set_string(d, BCD_STRING_BACKUP_STAMP, ""), S_OK);
        assert_int_equal(bcd_component_set_failure(c, VSS_E_WRITERERROR_RETRYABLE, E_ACCESSDENIED, "no ✓"), S_OK);
        assert_int_equal(bcd_component_set_failure(e, S_OK, VSS_HRESULT(0x80000001u), NULL), S_OK);

        assert_int_equal(bcd_component_add_differenced_file(c, "/var/lib/db", "*.db", false, 132000000000000000LL),
                         S_OK);
        assert_int_equal(bcd_component_add_differenced_file(c, "/var/lib/ü", "?", true, 0), S_OK);
        assert_int_equal(bcd_component_add_partial_file(c, "/var/lib/db", "main.log", "0:4096,0x1000:0x200", "meta"),
                         S_OK);
        assert_int_equal(bcd_component_add_partial_file(c, "/var/lib/db", "other.log", "/var/lib/db/ranges.bin", NULL),
                         S_OK);
        assert_int_equal(bcd_component_add_directed_target(c, "/var/lib/db", "a.db", "0:10", "/restore", "b.db", "5:10"),
                         S_OK);
        assert_int_equal(bcd_component_add_new_target(c, "/var/lib/db", "*.db", false, "/new/place"), S_OK);
        assert_int_equal(bcd_component_add_alternate_location_mapping(c, "/var/lib/db", "*", true, "/went/here"), S_OK);
        assert_int_equal(bcd_component_add_restore_subcomponent(c, "sql\\main\\db1", "part", true), S_OK);
        assert_int_equal(bcd_component_add_restore_subcomponent(c, NULL, "top", false), S_OK);
        return b;
}

static void test_round_trip_every_field(void **state) {
        BackupComponents *b = full_document(), *back = NULL;
        _cleanup_free_ char *xml = NULL, *again = NULL, *reason = NULL;
        vss_id ia = id(INSTANCE_A), ib = id(INSTANCE_B);
        BcdComponent *c, *d, *e;

        assert_int_equal(backup_components_to_xml(b, &xml), S_OK);
        assert_int_equal(backup_components_from_xml(xml, strlen(xml), &back, &reason), S_OK);
        assert_null(reason);
        assert_int_equal(backup_components_to_xml(back, &again), S_OK);
        assert_string_equal(xml, again);

        assert_int_equal(back->backup_type, VSS_BT_INCREMENTAL);
        assert_true(back->select_components && back->bootable_system_state && back->partial_file_support);
        assert_int_equal(back->context, VSS_CTX_APP_ROLLBACK | VSS_VOLSNAP_ATTR_PERSISTENT);
        assert_int_equal(back->restore_type, BCD_RESTORE_TYPE_IMPORT);
        assert_int_equal(back->n_writers, 2);
        assert_int_equal(back->n_components, 3);

        assert_int_equal(backup_components_get_component(back, &ia, VSS_CT_DATABASE, "sql\\main", "db1", &c), S_OK);
        assert_true(c->backup_succeeded && c->selected_for_restore && c->additional_restores);
        assert_int_equal(c->restore_target, BCD_RESTORE_TARGET_DIRECTED);
        assert_int_equal(c->file_restore_status, BCD_FILE_RESTORE_FAILED);
        assert_string_equal(bcd_component_get_string(c, BCD_STRING_POST_RESTORE_FAILURE_MSG),
                            "value 9 <&\"'>\n\t\r end");
        assert_int_equal(c->failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_int_equal(c->application_failure, E_ACCESSDENIED);
        assert_string_equal(c->failure_message, "no ✓");
        assert_int_equal(c->n_differenced_files, 2);
        assert_int_equal(c->differenced_files[0].last_modify_time, 132000000000000000LL);
        assert_true(c->differenced_files[1].recursive);
        assert_int_equal(c->n_partial_files, 2);
        assert_string_equal(c->partial_files[0].ranges, "0:4096,0x1000:0x200");
        assert_string_equal(c->partial_files[1].metadata, "");
        assert_int_equal(c->n_directed_targets, 1);
        assert_string_equal(c->directed_targets[0].destination_ranges, "5:10");
        assert_string_equal(c->new_targets[0].destination, "/new/place");
        assert_string_equal(c->alternate_mappings[0].destination, "/went/here");
        assert_int_equal(c->n_restore_subcomponents, 2);
        assert_true(c->restore_subcomponents[0].repair);
        assert_string_equal(c->restore_subcomponents[1].logical_path, "");

        assert_int_equal(backup_components_get_component(back, &ib, VSS_CT_FILEGROUP, "", "Dateien «ü» 文件", &d),
                         S_OK);
        assert_string_equal(bcd_component_get_string(d, BCD_STRING_BACKUP_STAMP), "");
        assert_null(bcd_component_get_string(d, BCD_STRING_PREVIOUS_BACKUP_STAMP));
        assert_int_equal(d->failure, S_OK);
        assert_null(d->failure_message);

        assert_int_equal(backup_components_get_component(back, &ia, VSS_CT_UNDEFINED, NULL, "conf", &e), S_OK);
        assert_int_equal(e->application_failure, VSS_HRESULT(0x80000001u));

        backup_components_free(back);
        backup_components_free(b);
}

static void test_round_trip_empty(void **state) {
        BackupComponents *b = backup_components_new(), *back = NULL;
        _cleanup_free_ char *a = NULL, *again = NULL;

        assert_int_equal(backup_components_to_xml(b, &a), S_OK);
        assert_int_equal(backup_components_from_xml(a, strlen(a), &back, NULL), S_OK);
        assert_int_equal(back->n_writers, 0);
        assert_int_equal(back->backup_type, VSS_BT_UNDEFINED);
        assert_int_equal(backup_components_to_xml(back, &again), S_OK);
        assert_string_equal(a, again);
        backup_components_free(back);
        backup_components_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Model rules                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void test_component_rules(void **state) {
        BackupComponents *b = backup_components_new();
        vss_id wa = id(WRITER_A), ia = id(INSTANCE_A), wb = id(WRITER_B), ib = id(INSTANCE_B);
        BcdComponent *c = NULL, *first = NULL;

        assert_int_equal(backup_components_set_backup_state(b, true, false, (vss_backup_type) 7, false), E_INVALIDARG);
        assert_int_equal(backup_components_set_restore_type(b, _BCD_RESTORE_TYPE_MAX), E_INVALIDARG);

        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "lp", "n", &first), S_OK);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_DATABASE, "lp", "n", &c),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        /* Same name under another instance is another component. */
        assert_int_equal(backup_components_add_component(b, &ib, &wb, VSS_CT_DATABASE, "lp", "n", &c), S_OK);
        /* An instance keeps its writer class. */
        assert_int_equal(backup_components_add_component(b, &ia, &wb, VSS_CT_DATABASE, "", "x", &c), E_INVALIDARG);
        assert_int_equal(backup_components_add_component(b, &VSS_ID_NULL, &wa, VSS_CT_DATABASE, "", "x", &c),
                         E_INVALIDARG);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_UNDEFINED, "", "x", &c), E_INVALIDARG);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_DATABASE, "", "", &c), E_INVALIDARG);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_DATABASE, "", "a\\b", &c), E_INVALIDARG);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_DATABASE, "\x01", "x", &c), E_INVALIDARG);

        assert_int_equal(backup_components_get_component(b, &ia, VSS_CT_FILEGROUP, "lp", "n", &c), S_OK);
        assert_ptr_equal(c, first);
        assert_int_equal(backup_components_get_component(b, &ia, VSS_CT_DATABASE, "lp", "n", &c),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(backup_components_get_component(b, &ia, VSS_CT_FILEGROUP, "", "n", &c),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(backup_components_get_component(b, &wa, VSS_CT_FILEGROUP, "lp", "n", &c),
                         VSS_E_OBJECT_NOT_FOUND);

        /* Pointers survive later additions. */
        for (unsigned i = 0; i < 100; i++) {
                char name[16];

                snprintf(name, sizeof(name), "c%u", i);
                assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", name, NULL), S_OK);
        }
        assert_int_equal(backup_components_get_component(b, &ia, VSS_CT_FILEGROUP, "lp", "n", &c), S_OK);
        assert_ptr_equal(c, first);
        assert_string_equal(first->name, "n");

        /* Scalars and strings. */
        assert_int_equal(bcd_component_set_restore_target(c, _BCD_RESTORE_TARGET_MAX), E_INVALIDARG);
        assert_int_equal(bcd_component_set_file_restore_status(c, _BCD_FILE_RESTORE_MAX), E_INVALIDARG);
        assert_int_equal(bcd_component_set_string(c, _BCD_STRING_MAX, "x"), E_INVALIDARG);
        assert_int_equal(bcd_component_set_string(c, BCD_STRING_BACKUP_STAMP, "s1"), S_OK);
        assert_int_equal(bcd_component_set_string(c, BCD_STRING_BACKUP_STAMP, "bad\x02"), E_INVALIDARG);
        assert_string_equal(bcd_component_get_string(c, BCD_STRING_BACKUP_STAMP), "s1");
        assert_int_equal(bcd_component_set_string(c, BCD_STRING_BACKUP_STAMP, NULL), S_OK);
        assert_null(bcd_component_get_string(c, BCD_STRING_BACKUP_STAMP));
        assert_int_equal(bcd_component_set_backup_succeeded(NULL, true), E_INVALIDARG);
        backup_components_free(b);
}

static void test_component_limit(void **state) {
        BackupComponents *b = backup_components_new();
        vss_id wa = id(WRITER_A), ia = id(INSTANCE_A);

        for (unsigned i = 0; i < VSS_MAX_COMPONENTS; i++) {
                char name[16];

                snprintf(name, sizeof(name), "c%u", i);
                assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", name, NULL), S_OK);
        }
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", "one more", NULL),
                         E_INVALIDARG);
        backup_components_free(b);
}

static void test_list_rules(void **state) {
        BackupComponents *b = backup_components_new();
        vss_id wa = id(WRITER_A), ia = id(INSTANCE_A);
        BcdComponent *c;

        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", "c", &c), S_OK);

        /* Partial files: syntax. */
        assert_int_equal(bcd_component_add_partial_file(c, "relative", "f", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "*.log", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "a?", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "a/b", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "0", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "0:1,", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "0:1;2:3", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "x:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "18446744073709551615:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "99999999999999999999:1", NULL), E_INVALIDARG);
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "f", "relative/ranges", NULL), E_INVALIDARG);
        assert_int_equal(c->n_partial_files, 0);
        assert_int_equal(bcd_component_add_partial_file(c, "$DATA", "f", "0x10:0X20,30:40", "m"), S_OK);
        assert_int_equal(bcd_component_add_partial_file(c, "$DATA", "f", "0:1", NULL), VSS_E_OBJECT_ALREADY_EXISTS);

        /* Directed targets, new targets, mappings, subcomponents. */
        assert_int_equal(bcd_component_add_directed_target(c, "/a", "f", "0:1", "/b", "g", "bad"), E_INVALIDARG);
        assert_int_equal(bcd_component_add_directed_target(c, "/a", "f*", "0:1", "/b", "g", "0:1"), E_INVALIDARG);
        assert_int_equal(bcd_component_add_directed_target(c, "/a", "f", "0:1", "/b", "g", "0:1"), S_OK);
        assert_int_equal(bcd_component_add_new_target(c, "/a", "*", true, "relative"), E_INVALIDARG);
        assert_int_equal(bcd_component_add_new_target(c, "/a", "*", true, "/x"), S_OK);
        assert_int_equal(bcd_component_add_new_target(c, "/a", "*", true, "/y"), VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(bcd_component_add_new_target(c, "/a", "*", false, "/y"), S_OK);
        assert_int_equal(bcd_component_add_alternate_location_mapping(c, "/a", "a/b", true, "/x"), E_INVALIDARG);
        assert_int_equal(bcd_component_add_alternate_location_mapping(c, "/a", "*", true, "/x"), S_OK);
        assert_int_equal(bcd_component_add_alternate_location_mapping(c, "/a", "*", true, "/z"),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(bcd_component_add_restore_subcomponent(c, "c", "", false), E_INVALIDARG);
        assert_int_equal(bcd_component_add_restore_subcomponent(c, "c", "s", false), S_OK);
        assert_int_equal(bcd_component_add_restore_subcomponent(c, "c", "s", true), VSS_E_OBJECT_ALREADY_EXISTS);

        /* Differenced files as stored: expanded, normalized paths only. */
        assert_int_equal(bcd_component_add_differenced_file(c, "$DATA", "*", false, 0), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d/", "*", false, 0), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d/../e", "*", false, 0), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d*", "*", false, 0), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d", "*", false, -1), E_INVALIDARG);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d", "*", false, 5), S_OK);
        assert_int_equal(bcd_component_add_differenced_file(c, "/d", "*", false, 6), E_INVALIDARG);
        backup_components_free(b);
}

static void test_list_limits(void **state) {
        BackupComponents *b = backup_components_new();
        vss_id wa = id(WRITER_A), ia = id(INSTANCE_A);
        BcdComponent *c;
        char name[32];
        unsigned added = 0;

        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", "c0", &c), S_OK);
        for (unsigned i = 0; i < BCD_MAX_ENTRIES_PER_LIST; i++) {
                snprintf(name, sizeof(name), "f%u", i);
                assert_int_equal(bcd_component_add_partial_file(c, "/d", name, "0:1", NULL), S_OK);
        }
        assert_int_equal(bcd_component_add_partial_file(c, "/d", "last", "0:1", NULL), E_INVALIDARG);
        assert_int_equal(c->n_partial_files, BCD_MAX_ENTRIES_PER_LIST);
        added += BCD_MAX_ENTRIES_PER_LIST;

        /* The document-wide bound holds across components. */
        for (unsigned k = 1; added < BCD_MAX_ENTRIES; k++) {
                snprintf(name, sizeof(name), "c%u", k);
                assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", name, &c), S_OK);
                for (unsigned i = 0; i < BCD_MAX_ENTRIES_PER_LIST && added < BCD_MAX_ENTRIES; i++, added++) {
                        snprintf(name, sizeof(name), "s%u", i);
                        assert_int_equal(bcd_component_add_restore_subcomponent(c, "", name, false), S_OK);
                }
        }
        assert_int_equal(b->n_entries, BCD_MAX_ENTRIES);
        assert_int_equal(backup_components_add_component(b, &ia, &wa, VSS_CT_FILEGROUP, "", "more", &c), S_OK);
        assert_int_equal(bcd_component_add_new_target(c, "/a", "*", true, "/x"), E_INVALIDARG);
        backup_components_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile and broken input                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BACKUP_COMPONENTS version=\"1\" backupType=\"FULL\">"
#define TAIL "</BACKUP_COMPONENTS>"
#define WRITER(body) "<WRITER_COMPONENTS instanceId=\"" INSTANCE_A "\" writerId=\"" WRITER_A "\">" body "</WRITER_COMPONENTS>"
#define COMP(attrs, body) "<COMPONENT componentType=\"FILE_GROUP\" componentName=\"c\" " attrs ">" body "</COMPONENT>"

static void expect_refused_len(const char *xml, size_t len, const char *needle) {
        BackupComponents *sentinel = (BackupComponents *) 0x1, *b = sentinel;
        char *reason = NULL;
        StderrCapture cap = stderr_begin();
        vss_hr hr;

        hr = backup_components_from_xml(xml, len, &b, &reason);
        assert_int_equal(stderr_end(&cap), 0);
        assert_int_equal(hr, VSS_E_INVALID_XML_DOCUMENT);
        assert_ptr_equal(b, sentinel);
        assert_non_null(reason);
        if (needle && !strstr(reason, needle))
                fail_msg("reason \"%s\" does not mention \"%s\"", reason, needle);
        free(reason);
}

static void expect_refused(const char *xml, const char *needle) {
        expect_refused_len(xml, strlen(xml), needle);
}

static void expect_loads(const char *xml) {
        BackupComponents *b = NULL;
        char *reason = NULL;

        if (backup_components_from_xml(xml, strlen(xml), &b, &reason) != S_OK)
                fail_msg("refused: %s", reason);
        backup_components_free(b);
}

static void test_controls_load(void **state) {
        expect_loads(HEAD TAIL);
        expect_loads(HEAD WRITER(COMP("", "")) TAIL);
        expect_loads(HEAD WRITER(COMP("backupStamp=\"s\"", "<DIFFERENCED_FILE path=\"/d\" filespec=\"*\"/>"
                                                         "<PARTIAL_FILE path=\"/e\" filename=\"f\" ranges=\"0:1\"/>"))
                             TAIL);
}

static void test_not_well_formed(void **state) {
        expect_refused("", "empty");
        expect_refused("<BACKUP_COMPONENTS", NULL);
        expect_refused(HEAD WRITER(COMP("", "")), NULL);
        expect_refused(HEAD "<WRITER_COMPONENTS>" TAIL, NULL);
        expect_refused("<WRITER_METADATA version=\"1\"/>", "root element");
        expect_refused_len(HEAD "\0" TAIL, sizeof(HEAD "\0" TAIL) - 1, "byte");
}

static void test_entities_refused(void **state) {
        char *dir, *fifo, *xml;

        expect_refused(BILLION_LAUGHS("BACKUP_COMPONENTS"), "DOCTYPE");
        fifo_make(&dir, &fifo);
        alarm(20);
        assert_true(asprintf(&xml, "<!DOCTYPE BACKUP_COMPONENTS [<!ENTITY xxe SYSTEM \"file://%s\">]>"
                                   "<BACKUP_COMPONENTS version=\"1\" backupType=\"&xxe;\"/>", fifo) > 0);
        expect_refused(xml, "DOCTYPE");
        free(xml);
        assert_true(asprintf(&xml, "<!DOCTYPE BACKUP_COMPONENTS SYSTEM \"%s\"><BACKUP_COMPONENTS/>", fifo) > 0);
        expect_refused(xml, "DOCTYPE");
        free(xml);
        expect_refused("<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
                       "<BACKUP_COMPONENTS version=\"1\" backupType=\"FULL\">&xxe;</BACKUP_COMPONENTS>",
                       "DOCTYPE");
        alarm(0);
        fifo_done(dir, fifo);
}

static void test_limits(void **state) {
        char *deep, *big, *many, *value, *xml;

        deep = repeat(HEAD, "<WRITER_COMPONENTS>", XML_MAX_DEPTH + 2, TAIL);
        expect_refused(deep, "deep");
        free(deep);

        big = repeat(HEAD, "\n", XML_MAX_DOCUMENT_SIZE, TAIL);
        expect_refused(big, "larger");
        free(big);

        /* More components than a document may hold. */
        many = malloc((VSS_MAX_COMPONENTS + 1) * 64 + 1024);
        assert_non_null(many);
        strcpy(many, HEAD "<WRITER_COMPONENTS instanceId=\"" INSTANCE_A "\" writerId=\"" WRITER_A "\">");
        for (unsigned i = 0; i <= VSS_MAX_COMPONENTS; i++)
                sprintf(many + strlen(many), "<COMPONENT componentType=\"DATABASE\" componentName=\"c%u\"/>", i);
        strcat(many, "</WRITER_COMPONENTS>" TAIL);
        expect_refused(many, "rule or limit");
        free(many);

        value = repeat("", "s", VSS_MAX_STRING + 1, "");
        assert_true(asprintf(&xml, HEAD WRITER(COMP("backupMetadata=\"%s\"", "")) TAIL, value) > 0);
        expect_refused(xml, "longer than");
        free(xml);
        free(value);
}

static void test_bad_values(void **state) {
        expect_refused("<BACKUP_COMPONENTS version=\"1\" backupType=\"WEEKLY\"/>", "backupType");
        expect_refused("<BACKUP_COMPONENTS version=\"1\"/>", "backupType");
        expect_refused("<BACKUP_COMPONENTS version=\"0\" backupType=\"FULL\"/>", "version");
        expect_refused("<BACKUP_COMPONENTS version=\"1\" backupType=\"FULL\" restoreType=\"MAGIC\"/>", "restoreType");
        expect_refused("<BACKUP_COMPONENTS version=\"1\" backupType=\"FULL\" context=\"ten\"/>", "context");
        expect_refused(HEAD "<WRITER_COMPONENTS instanceId=\"x\" writerId=\"" WRITER_A "\">" COMP("", "")
                            "</WRITER_COMPONENTS>" TAIL,
                       "instanceId");
        expect_refused(HEAD WRITER("") TAIL, "without components");
        expect_refused(HEAD WRITER("<COMPONENT componentType=\"UNDEFINED\" componentName=\"c\"/>") TAIL,
                       "componentType");
        expect_refused(HEAD WRITER(COMP("restoreTarget=\"SOMEWHERE\"", "")) TAIL, "restoreTarget");
        expect_refused(HEAD WRITER(COMP("fileRestoreStatus=\"MOST\"", "")) TAIL, "fileRestoreStatus");
        expect_refused(HEAD WRITER(COMP("backupSucceeded=\"true\"", "")) TAIL, "backupSucceeded");
        expect_refused(HEAD WRITER(COMP("failure=\"0x100000000\"", "")) TAIL, "failure");
        expect_refused(HEAD WRITER(COMP("bogus=\"1\"", "")) TAIL, "unknown attribute");
        expect_refused(HEAD WRITER(COMP("", "<DIFFERENCED_FILE path=\"/d\" filespec=\"*\" lastModifyTime=\"-5\"/>"))
                               TAIL,
                       "rule");
        expect_refused(HEAD WRITER(COMP("", "<DIFFERENCED_FILE path=\"/d\" filespec=\"*\" lastModifyTime=\"0x5\"/>"))
                               TAIL,
                       "lastModifyTime");
        expect_refused(HEAD WRITER(COMP("", "<DIFFERENCED_FILE path=\"/d\" filespec=\"*\" "
                                            "lastModifyTime=\"9223372036854775808\"/>")) TAIL,
                       "lastModifyTime");
        expect_refused(HEAD WRITER(COMP("", "<DIFFERENCED_FILE path=\"/d/*\" filespec=\"*\"/>")) TAIL, "rule");
        expect_refused(HEAD WRITER(COMP("", "<PARTIAL_FILE path=\"/d\" filename=\"f\" ranges=\"1-2\"/>")) TAIL, "rule");
        expect_refused(HEAD WRITER(COMP("", "<UNKNOWN/>")) TAIL, "unknown element");
        expect_refused(HEAD "<COMPONENT componentType=\"DATABASE\" componentName=\"c\"/>" TAIL, "unknown element");
        expect_refused(HEAD WRITER(COMP("", "text")) TAIL, "text");
}

static void test_rule_breaks(void **state) {
        /* Duplicate components, also split over two writer elements. */
        expect_refused(HEAD WRITER(COMP("", "") COMP("", "")) TAIL, "repeats");
        expect_refused(HEAD WRITER(COMP("", "")) WRITER(COMP("", "")) TAIL, "repeats");
        /* One instance, two writer classes. */
        expect_refused(HEAD WRITER(COMP("", ""))
                       "<WRITER_COMPONENTS instanceId=\"" INSTANCE_A "\" writerId=\"" WRITER_B "\">"
                       "<COMPONENT componentType=\"DATABASE\" componentName=\"d\"/></WRITER_COMPONENTS>" TAIL,
                       "rule");
        /* The same file differenced and partial, in either order. */
        expect_refused(HEAD WRITER(COMP("", "<DIFFERENCED_FILE path=\"/d\" filespec=\"*.log\"/>"
                                            "<PARTIAL_FILE path=\"/d\" filename=\"a.log\" ranges=\"0:1\"/>")) TAIL,
                       "rule");
        expect_refused(HEAD WRITER(COMP("", "<PARTIAL_FILE path=\"/d/sub\" filename=\"a.log\" ranges=\"0:1\"/>"
                                            "<DIFFERENCED_FILE path=\"/d\" filespec=\"*\" recursive=\"yes\"/>")) TAIL,
                       "rule");
        expect_refused(HEAD WRITER(COMP("", "<NEW_TARGET path=\"/d\" filespec=\"*\" alternatePath=\"/x\"/>"
                                            "<NEW_TARGET path=\"/d\" filespec=\"*\" alternatePath=\"/y\"/>")) TAIL,
                       "repeats");
        expect_refused(HEAD WRITER(COMP("", "<RESTORE_SUBCOMPONENT componentName=\"s\"/>"
                                            "<RESTORE_SUBCOMPONENT logicalPath=\"\" componentName=\"s\"/>")) TAIL,
                       "repeats");
}

static void test_bad_utf8(void **state) {
        expect_refused(HEAD WRITER(COMP("backupStamp=\"\xC3\x28\"", "")) TAIL, "UTF-8");
        expect_refused(HEAD WRITER(COMP("backupStamp=\"\xE0\x80\x80\"", "")) TAIL, "UTF-8");
        expect_refused(HEAD WRITER(COMP("backupStamp=\"\xFF\"", "")) TAIL, "UTF-8");
        expect_refused("<?xml version=\"1.0\" encoding=\"UTF-16\"?><BACKUP_COMPONENTS version=\"1\" backupType=\"FULL\"/>",
                       NULL);
}

static void test_null_arguments(void **state) {
        BackupComponents *b = NULL;
        char *xml = NULL;

        assert_int_equal(backup_components_to_xml(NULL, &xml), E_INVALIDARG);
        assert_int_equal(backup_components_from_xml(NULL, 0, &b, NULL), E_INVALIDARG);
        assert_int_equal(backup_components_from_xml(HEAD TAIL, strlen(HEAD TAIL), NULL, NULL), E_INVALIDARG);
        assert_null(b);
        assert_null(xml);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_every_field),
                cmocka_unit_test(test_round_trip_empty),
                cmocka_unit_test(test_component_rules),
                cmocka_unit_test(test_component_limit),
                cmocka_unit_test(test_list_rules),
                cmocka_unit_test(test_list_limits),
                cmocka_unit_test(test_controls_load),
                cmocka_unit_test(test_not_well_formed),
                cmocka_unit_test(test_entities_refused),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_rule_breaks),
                cmocka_unit_test(test_bad_utf8),
                cmocka_unit_test(test_null_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

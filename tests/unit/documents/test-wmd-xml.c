/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-wmd-xml: the Writer Metadata Document in XML. A document with every field (unicode,
 * markup characters, whitespace) saves, loads and saves again to the same bytes; hostile or
 * broken input (not well-formed, entity bombs, external entities, too deep, too large, bad
 * values, rule breaks, bad UTF-8) is VSS_E_INVALID_XML_DOCUMENT with a reason, returns
 * nothing and prints nothing. Also the two builder additions (mappings, dependencies).
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

#include "doc-test.h"
#include "macro.h"
#include "vss-bus.h"
#include "wmd-xml.h"
#include "writer-metadata.h"
#include "xml-util.h"

#define WRITER_ID "a1b2c3d4-0000-4000-8000-000000000001"
#define INSTANCE_ID "a1b2c3d4-0000-4000-8000-0000000000ff"
#define OTHER_WRITER_ID "a1b2c3d4-0000-4000-8000-000000000002"
#define ALL_FSBT (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)

/* Every field set, names in several scripts, and every character XML has to escape. */
static WriterMetadata *full_document(void) {
        WriterMetadata *m = writer_metadata_new();
        vss_id wid, iid, other;

        assert_non_null(m);
        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        assert_int_equal(vss_id_parse(INSTANCE_ID, &iid), S_OK);
        assert_int_equal(vss_id_parse(OTHER_WRITER_ID, &other), S_OK);

        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "Écrivain «base» 数据库 <&\"'>", "inst\t1\r\n",
                                                      VSS_UT_SYSTEMSERVICE, VSS_ST_TRANSACTEDDB, 12345),
                         S_OK);
        assert_int_equal(writer_metadata_set_restore_method(m, VSS_RME_STOP_RESTORE_START, "db.service",
                                                            "run   this\nthen that", VSS_WRE_IF_REPLACE_FAILS, true),
                         S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(m, VSS_BS_DIFFERENTIAL | VSS_BS_INCREMENTAL |
                                                                      VSS_BS_LAST_MODIFY | VSS_BS_TIMESTAMPED),
                         S_OK);

        assert_int_equal(writer_metadata_add_component(m, VSS_CT_DATABASE, "sql\\main", "db1", "Main database 🗄",
                                                       true, true, true, false,
                                                       VSS_CF_BACKUP_RECOVERY | VSS_CF_NOT_SYSTEM_STATE),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, NULL, "conf", NULL, false, false, false,
                                                       true, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "sql\\main\\db1", "Ünterteil", "  sp  ",
                                                       false, true, true, true, VSS_CF_APP_ROLLBACK_RECOVERY),
                         S_OK);

        /* Interleaved on purpose: the XML groups by component, and must still round-trip. */
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "sql\\main", "db1", "/var/lib/db", "main.db",
                                                     false, NULL, ALL_FSBT),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "$CONFDIR", "*", true,
                                                     "/srv/restore", VSS_FSBT_FULL_BACKUP_REQUIRED),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "sql\\main", "db1", "/var/lib/db",
                                                     "*.wal", false, "", VSS_FSBT_LOG_BACKUP_REQUIRED),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "sql\\main\\db1", "Ünterteil",
                                                     "/srv/ü data", "*.ü?", false, NULL,
                                                     VSS_FSBT_CREATED_DURING_BACKUP),
                         S_OK);

        assert_int_equal(writer_metadata_add_exclude(m, "/var/lib/db", "*.tmp", true), S_OK);
        assert_int_equal(writer_metadata_add_exclude(m, "/srv/ü data", "~*", false), S_OK);
        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "$CONFDIR", "*", true, "/srv/alt"), S_OK);
        assert_int_equal(writer_metadata_add_component_dependency(m, "sql\\main", "db1", &other, "\\\\host\\logs",
                                                                  "journal"),
                         S_OK);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "conf", &other, "", "keys"), S_OK);
        return m;
}

static void test_round_trip_every_field(void **state) {
        WriterMetadata *m = full_document(), *back = NULL;
        _cleanup_free_ char *xml = NULL, *again = NULL, *reason = NULL;
        const WmComponent *c;
        const WmFileSet *f;

        assert_int_equal(writer_metadata_to_xml(m, &xml), S_OK);
        assert_int_equal(writer_metadata_from_xml(xml, strlen(xml), &back, &reason), S_OK);
        assert_null(reason);
        assert_int_equal(writer_metadata_to_xml(back, &again), S_OK);
        assert_string_equal(xml, again);

        /* Not just the same bytes: the same values. */
        assert_true(vss_id_equal(&back->writer_id, &m->writer_id));
        assert_true(vss_id_equal(&back->instance_id, &m->instance_id));
        assert_string_equal(back->writer_name, "Écrivain «base» 数据库 <&\"'>");
        assert_string_equal(back->instance_name, "inst\t1\r\n");
        assert_int_equal(back->usage_type, VSS_UT_SYSTEMSERVICE);
        assert_int_equal(back->source_type, VSS_ST_TRANSACTEDDB);
        assert_int_equal(back->freeze_timeout_ms, 12345);
        assert_int_equal(back->restore_method, VSS_RME_STOP_RESTORE_START);
        assert_string_equal(back->restore_service, "db.service");
        assert_string_equal(back->restore_user_procedure, "run   this\nthen that");
        assert_int_equal(back->writer_restore, VSS_WRE_IF_REPLACE_FAILS);
        assert_true(back->reboot_required);
        assert_int_equal(back->backup_schema, m->backup_schema);

        assert_int_equal(back->n_components, 3);
        c = writer_metadata_find_component(back, "sql\\main", "db1");
        assert_non_null(c);
        assert_int_equal(c->type, VSS_CT_DATABASE);
        assert_string_equal(c->caption, "Main database 🗄");
        assert_true(c->restore_metadata && c->notify_on_backup_complete && c->selectable && !c->selectable_for_restore);
        assert_int_equal(c->flags, VSS_CF_BACKUP_RECOVERY | VSS_CF_NOT_SYSTEM_STATE);
        assert_int_equal(writer_metadata_count_filesets(back, c, FILESET_DATABASE), 1);
        assert_int_equal(writer_metadata_count_filesets(back, c, FILESET_DATABASE_LOG), 1);
        f = writer_metadata_get_fileset(back, c, FILESET_DATABASE_LOG, 0);
        assert_string_equal(f->filespec, "*.wal");
        assert_null(f->alternate_location);
        assert_int_equal(f->backup_type_mask, VSS_FSBT_LOG_BACKUP_REQUIRED);

        c = writer_metadata_find_component(back, "sql\\main\\db1", "Ünterteil");
        assert_non_null(c);
        assert_string_equal(c->caption, "  sp  ");
        f = writer_metadata_get_fileset(back, c, FILESET_FILE_GROUP, 0);
        assert_string_equal(f->path, "/srv/ü data");
        assert_string_equal(f->filespec, "*.ü?");
        assert_int_equal(f->backup_type_mask, VSS_FSBT_CREATED_DURING_BACKUP);

        c = writer_metadata_find_component(back, "", "conf");
        f = writer_metadata_get_fileset(back, c, FILESET_FILE_GROUP, 0);
        assert_true(f->recursive);
        assert_string_equal(f->alternate_location, "/srv/restore");

        assert_int_equal(back->n_excludes, 2);
        assert_string_equal(back->excludes[1].filespec, "~*");
        assert_false(back->excludes[1].recursive);
        assert_int_equal(back->n_alternate_mappings, 1);
        assert_string_equal(back->alternate_mappings[0].destination, "/srv/alt");
        assert_int_equal(back->n_dependencies, 2);
        assert_string_equal(back->dependencies[0].on_logical_path, "\\\\host\\logs");
        assert_string_equal(back->dependencies[0].on_name, "journal");

        writer_metadata_free(back);
        writer_metadata_free(m);
}

static void test_round_trip_minimal_and_deterministic(void **state) {
        WriterMetadata *m = writer_metadata_new(), *back = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        vss_id wid;

        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_to_xml(m, &a), S_OK);
        assert_int_equal(writer_metadata_to_xml(m, &b), S_OK);
        assert_string_equal(a, b);
        assert_non_null(strstr(a, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));

        assert_int_equal(writer_metadata_from_xml(a, strlen(a), &back, NULL), S_OK);
        assert_true(vss_id_is_null(&back->instance_id));
        assert_int_equal(back->n_components, 0);
        assert_int_equal(writer_metadata_to_xml(back, &c), S_OK);
        assert_string_equal(a, c);

        writer_metadata_free(back);
        writer_metadata_free(m);
}

static void test_save_refusals(void **state) {
        WriterMetadata *m = writer_metadata_new();
        char *xml = NULL;
        vss_id wid;

        assert_int_equal(writer_metadata_to_xml(NULL, &xml), E_INVALIDARG);
        assert_int_equal(writer_metadata_to_xml(m, NULL), E_INVALIDARG);
        /* No identity: could never be loaded back. */
        assert_int_equal(writer_metadata_to_xml(m, &xml), VSS_E_INVALID_XML_DOCUMENT);
        assert_null(xml);

        /* The model allows control characters; XML 1.0 cannot carry them. */
        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "c", "bell\a", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_to_xml(m, &xml), VSS_E_INVALID_XML_DOCUMENT);
        assert_null(xml);
        writer_metadata_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile and broken input                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define HEAD                                                                                              \
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<WRITER_METADATA version=\"1\">"                     \
        "<IDENTIFICATION writerId=\"" WRITER_ID "\" writerName=\"W\" usage=\"USER_DATA\" dataSource=\"OTHER\"/>" \
        "<RESTORE_METHOD method=\"RESTORE_IF_CAN_REPLACE\" writerRestore=\"NEVER\"/>"
#define TAIL "</WRITER_METADATA>"
#define FG(attrs, body) "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"c\" " attrs ">" body "</FILE_GROUP></BACKUP_LOCATIONS>"

/* Refused with a reason containing needle (if any), nothing returned, nothing printed. */
static void expect_refused_len(const char *xml, size_t len, const char *needle) {
        WriterMetadata *sentinel = (WriterMetadata *) 0x1, *m = sentinel;
        char *reason = NULL;
        StderrCapture cap = stderr_begin();
        vss_hr hr;

        hr = writer_metadata_from_xml(xml, len, &m, &reason);
        assert_int_equal(stderr_end(&cap), 0);
        assert_int_equal(hr, VSS_E_INVALID_XML_DOCUMENT);
        assert_ptr_equal(m, sentinel);
        assert_non_null(reason);
        if (needle && !strstr(reason, needle))
                fail_msg("reason \"%s\" does not mention \"%s\"", reason, needle);
        free(reason);
}

static void expect_refused(const char *xml, const char *needle) {
        expect_refused_len(xml, strlen(xml), needle);
}

static void expect_loads(const char *xml) {
        WriterMetadata *m = NULL;
        char *reason = NULL;

        if (writer_metadata_from_xml(xml, strlen(xml), &m, &reason) != S_OK)
                fail_msg("refused: %s", reason);
        writer_metadata_free(m);
}

static void test_controls_load(void **state) {
        /* The variants below differ from these by one defect each. */
        expect_loads(HEAD TAIL);
        expect_loads(HEAD FG("", "<FILE_LIST path=\"/d\" filespec=\"*\"/>") TAIL);
        expect_loads(HEAD "<!-- a comment -->\n  " FG("caption=\"x\"", "") "<EXCLUDE_FILES path=\"/d\" filespec=\"x\"/>" TAIL);
}

static void test_not_well_formed(void **state) {
        expect_refused("", "empty");
        expect_refused("<WRITER_METADATA", NULL);
        expect_refused(HEAD, NULL);
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/d\" filespec=\"x\">" TAIL, NULL);
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/d\" path=\"/e\" filespec=\"x\"/>" TAIL, NULL);
        expect_refused("<?xml version=\"1.0\"?><OTHER version=\"1\"/>", "root element");
        expect_refused_len(HEAD "\0" TAIL, sizeof(HEAD "\0" TAIL) - 1, "byte");
        expect_refused(HEAD "&undefined;" TAIL, NULL);
}

static void test_entities_refused(void **state) {
        char *dir, *fifo, *xml;

        expect_refused(BILLION_LAUGHS("WRITER_METADATA"), "DOCTYPE");
        expect_refused("<!DOCTYPE WRITER_METADATA><WRITER_METADATA version=\"1\"/>", "DOCTYPE");
        expect_refused("<!DOCTYPE x [<!ENTITY % p \"<!ENTITY y 'z'>\"> %p;]><WRITER_METADATA/>", "DOCTYPE");

        /* External entities and DTDs pointing at a FIFO: reading them would block forever. */
        fifo_make(&dir, &fifo);
        alarm(20);
        assert_true(asprintf(&xml, "<!DOCTYPE WRITER_METADATA [<!ENTITY xxe SYSTEM \"file://%s\">]>"
                                   "<WRITER_METADATA version=\"1\">&xxe;</WRITER_METADATA>", fifo) > 0);
        expect_refused(xml, "DOCTYPE");
        free(xml);
        assert_true(asprintf(&xml, "<!DOCTYPE WRITER_METADATA SYSTEM \"%s\"><WRITER_METADATA version=\"1\"/>",
                             fifo) > 0);
        expect_refused(xml, "DOCTYPE");
        free(xml);
        expect_refused("<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><WRITER_METADATA>&xxe;</WRITER_METADATA>",
                       "DOCTYPE");
        expect_refused("<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\"><WRITER_METADATA/>", "DOCTYPE");
        alarm(0);
        fifo_done(dir, fifo);
}

static void test_limits(void **state) {
        char *deep, *many, *big, *longattr, *value;

        deep = repeat(HEAD, "<BACKUP_LOCATIONS>", XML_MAX_DEPTH + 2, TAIL);
        expect_refused(deep, "deep");
        free(deep);

        many = repeat(HEAD, "<EXCLUDE_FILES path=\"/d\" filespec=\"x\"/>", XML_MAX_ELEMENTS, TAIL);
        expect_refused(many, "too many elements");
        free(many);

        /* libxml2 compares a tag's attributes pairwise: a million of them must not reach it. */
        many = repeat(HEAD "<EXCLUDE_FILES path=\"/d\" filespec=\"x\"", " a=\"\"", 1000000, "/>" TAIL);
        expect_refused(many, "attributes");
        free(many);
        many = repeat(HEAD "<!-- a=1 a=2 --><EXCLUDE_FILES path=\"/d=\" filespec=\"x\"", "", 0, "/>" TAIL);
        expect_loads(many);
        free(many);

        big = repeat(HEAD, " ", XML_MAX_DOCUMENT_SIZE, TAIL);
        expect_refused(big, "larger");
        free(big);

        value = repeat("", "a", VSS_MAX_STRING + 1, "");
        assert_true(asprintf(&longattr, HEAD "<EXCLUDE_FILES path=\"/%s\" filespec=\"x\"/>" TAIL, value) > 0);
        expect_refused(longattr, "longer than");
        free(longattr);
        free(value);

        /* One under the limit is fine. */
        value = repeat("/", "a", VSS_MAX_STRING - 1, "");
        assert_true(asprintf(&longattr, HEAD "<EXCLUDE_FILES path=\"%s\" filespec=\"x\"/>" TAIL, value) > 0);
        expect_loads(longattr);
        free(longattr);
        free(value);
}

static void test_bad_values(void **state) {
        expect_refused("<WRITER_METADATA version=\"2\"/>", "version");
        expect_refused("<WRITER_METADATA version=\"1\" extra=\"1\"/>", "unknown attribute");
        expect_refused("<WRITER_METADATA version=\"1\"><IDENTIFICATION writerId=\"" WRITER_ID
                       "\" writerName=\"W\" usage=\"SOMETHING\" dataSource=\"OTHER\"/></WRITER_METADATA>",
                       "usage");
        expect_refused("<WRITER_METADATA version=\"1\"><IDENTIFICATION writerId=\"nope\" writerName=\"W\" "
                       "usage=\"USER_DATA\" dataSource=\"OTHER\"/></WRITER_METADATA>",
                       "writerId");
        expect_refused("<WRITER_METADATA version=\"1\"><IDENTIFICATION writerId=\"00000000-0000-0000-0000-000000000000\" "
                       "writerName=\"W\" usage=\"USER_DATA\" dataSource=\"OTHER\"/><RESTORE_METHOD method=\"CUSTOM\" "
                       "writerRestore=\"NEVER\"/></WRITER_METADATA>",
                       "rule");
        expect_refused(HEAD "<BACKUP_SCHEMA mask=\"0x1ffffffff\"/>" TAIL, "mask");
        expect_refused(HEAD "<BACKUP_SCHEMA mask=\"-1\"/>" TAIL, "mask");
        expect_refused(HEAD "<BACKUP_SCHEMA mask=\"0x80000000\"/>" TAIL, "rule");
        expect_refused(HEAD FG("selectable=\"maybe\"", "") TAIL, "selectable");
        expect_refused(HEAD FG("componentFlags=\"0x10\"", "") TAIL, "rule");
        expect_refused(HEAD FG("", "<FILE_LIST path=\"relative\" filespec=\"*\"/>") TAIL, "rule");
        expect_refused(HEAD FG("", "<FILE_LIST path=\"/d\" filespec=\"a/b\"/>") TAIL, "rule");
        expect_refused(HEAD FG("", "<FILE_LIST path=\"/d\" filespec=\"*\" filespecBackupType=\"0x80\"/>") TAIL, "rule");
        expect_refused(HEAD "<RESTORE_METHOD method=\"CUSTOM\" writerRestore=\"NEVER\"/>" TAIL, "out of order");
        expect_refused("<WRITER_METADATA version=\"1\"><RESTORE_METHOD method=\"CUSTOM\" writerRestore=\"NEVER\"/>"
                       "<IDENTIFICATION writerId=\"" WRITER_ID "\" writerName=\"W\" usage=\"USER_DATA\" "
                       "dataSource=\"OTHER\"/></WRITER_METADATA>",
                       "out of order");
        expect_refused("<WRITER_METADATA version=\"1\"><IDENTIFICATION writerId=\"" WRITER_ID "\" writerName=\"W\" "
                       "usage=\"USER_DATA\" dataSource=\"OTHER\"/></WRITER_METADATA>",
                       "RESTORE_METHOD");
        expect_refused(HEAD "<SURPRISE/>" TAIL, "unknown element");
        expect_refused(HEAD "some text" TAIL, "text");
        expect_refused(HEAD "<![CDATA[cdata]]>" TAIL, "text");
        expect_refused(HEAD "<BACKUP_LOCATIONS xmlns=\"urn:x\"/>" TAIL, "namespace");
        expect_refused(HEAD "<x:BACKUP_LOCATIONS xmlns:x=\"urn:x\"/>" TAIL, "namespace");
        expect_refused(HEAD FG("", "<FILE_LIST path=\"/d\" filespec=\"*\"><FILE_LIST path=\"/d\" filespec=\"*\"/></FILE_LIST>")
                               TAIL,
                       "child");
}

static void test_rule_breaks(void **state) {
        /* Duplicate components. */
        expect_refused(HEAD "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"c\"/><DATABASE componentName=\"c\"/>"
                            "</BACKUP_LOCATIONS>" TAIL,
                       "declared twice");
        /* Database files inside a file group, and recursion for database files. */
        expect_refused(HEAD FG("", "<DATABASE_FILES path=\"/d\" filespec=\"x\"/>") TAIL, "rule");
        expect_refused(HEAD "<BACKUP_LOCATIONS><DATABASE componentName=\"d\"><FILE_LIST path=\"/d\" filespec=\"x\"/>"
                            "</DATABASE></BACKUP_LOCATIONS>" TAIL,
                       "rule");
        expect_refused(HEAD "<BACKUP_LOCATIONS><DATABASE componentName=\"d\"><DATABASE_FILES path=\"/d\" filespec=\"x\" "
                            "recursive=\"yes\"/></DATABASE></BACKUP_LOCATIONS>" TAIL,
                       "unknown attribute");
        /* A mapping for a file set nobody declared. */
        expect_refused(HEAD FG("", "<FILE_LIST path=\"/d\" filespec=\"*\"/>")
                               "<ALTERNATE_LOCATION_MAPPING path=\"/e\" filespec=\"*\" alternatePath=\"/alt\"/>" TAIL,
                       "does not declare");
        /* A dependency on the writer itself. */
        expect_refused(HEAD FG("", "<DEPENDENCY onWriterId=\"" WRITER_ID "\" onComponentName=\"x\"/>") TAIL, "rule");
        expect_refused(HEAD FG("", "<DEPENDENCY onWriterId=\"" OTHER_WRITER_ID "\" onComponentName=\"x\"/>"
                                   "<DEPENDENCY onWriterId=\"" OTHER_WRITER_ID "\" onComponentName=\"x\"/>") TAIL,
                       "declared twice");
        expect_refused(HEAD "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"a\\b\"/></BACKUP_LOCATIONS>" TAIL, "rule");
}

static void test_bad_utf8(void **state) {
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/\xC3\x28\" filespec=\"x\"/>" TAIL, "UTF-8");
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/\xC0\xAF\" filespec=\"x\"/>" TAIL, "UTF-8");
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/\xED\xA0\x80\" filespec=\"x\"/>" TAIL, "UTF-8");
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/\xF4\x90\x80\x80\" filespec=\"x\"/>" TAIL, "UTF-8");
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/\x01\" filespec=\"x\"/>" TAIL, "XML character");
        expect_refused(HEAD "<EXCLUDE_FILES path=\"/&#1;\" filespec=\"x\"/>" TAIL, NULL);
        expect_refused("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><WRITER_METADATA version=\"1\"/>", "UTF-8");
}

static void test_null_arguments(void **state) {
        WriterMetadata *m = NULL;

        assert_int_equal(writer_metadata_from_xml(NULL, 0, &m, NULL), E_INVALIDARG);
        assert_int_equal(writer_metadata_from_xml(HEAD TAIL, strlen(HEAD TAIL), NULL, NULL), E_INVALIDARG);
        assert_null(m);
        /* A NULL reason pointer is allowed on failure. */
        assert_int_equal(writer_metadata_from_xml("<x", 2, &m, NULL), VSS_E_INVALID_XML_DOCUMENT);
        assert_null(m);
}

/* ------------------------------------------------------------------------------------------ */
/* The two builder additions                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_mapping_and_dependency_rules(void **state) {
        WriterMetadata *m = writer_metadata_new();
        vss_id wid, other;

        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        assert_int_equal(vss_id_parse(OTHER_WRITER_ID, &other), S_OK);
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "c", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "c", "/d", "*", true, NULL, 0), S_OK);

        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "/d", "*", false, "/alt"),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "/d", "*", true, "relative"), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "/d", "*", true, "/alt"), S_OK);
        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "/d", "*", true, "/alt2"),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(m->n_alternate_mappings, 1);

        assert_int_equal(writer_metadata_add_component_dependency(m, "", "nope", &other, "", "x"),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "c", &wid, "", "x"), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "c", &VSS_ID_NULL, "", "x"), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "c", &other, "", ""), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "c", &other, "", "a\\b"), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component_dependency(m, "", "c", &other, "lp", "x"), S_OK);
        assert_int_equal(writer_metadata_add_component_dependency(m, NULL, "c", &other, "lp", "x"),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(m->n_dependencies, 1);
        writer_metadata_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_every_field),
                cmocka_unit_test(test_round_trip_minimal_and_deterministic),
                cmocka_unit_test(test_save_refusals),
                cmocka_unit_test(test_controls_load),
                cmocka_unit_test(test_not_well_formed),
                cmocka_unit_test(test_entities_refused),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_rule_breaks),
                cmocka_unit_test(test_bad_utf8),
                cmocka_unit_test(test_null_arguments),
                cmocka_unit_test(test_mapping_and_dependency_rules),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-metadata: every builder rule with its code, the append -> read round trip over a
 * real peer-to-peer connection, and hostile documents the decoder must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "bus-pair.h"
#include "macro.h"
#include "vss-bus.h"
#include "writer-metadata.h"

#define WMD_INNER "ssssiiu(ussub)ua(usssbbbbu)a(ussssbsu)a(ssb)a(sssb)a(sssss)"
#define OTHER_WRITER_ID "a1b2c3d4-0000-4000-8000-000000000002"
#define WRITER_ID "a1b2c3d4-0000-4000-8000-000000000001"
#define ALL_FSBT (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)

static WriterMetadata *sample_document(void) {
        WriterMetadata *m = writer_metadata_new();
        vss_id wid, iid;

        assert_non_null(m);
        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        vss_id_generate(&iid);
        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "Sample Writer", "inst", VSS_UT_USERDATA,
                                                      VSS_ST_TRANSACTEDDB, 60000),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_DATABASE, "sql\\main", "db1", "Main database",
                                                       false, true, true, false, VSS_CF_BACKUP_RECOVERY),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, NULL, "conf", NULL, false, false,
                                                       false, true, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "sql\\main", "db1", "/var/lib/db",
                                                     "main.db", false, NULL, ALL_FSBT),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "sql\\main", "db1", "/var/lib/db",
                                                     "*.wal", false, "", ALL_FSBT),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "$CONFDIR", "*", true,
                                                     "/srv/restore", VSS_FSBT_FULL_BACKUP_REQUIRED),
                         S_OK);
        assert_int_equal(writer_metadata_add_exclude(m, "/var/lib/db", "*.tmp", true), S_OK);
        assert_int_equal(writer_metadata_set_restore_method(m, VSS_RME_STOP_RESTORE_START, "db.service", "",
                                                            VSS_WRE_ALWAYS, false),
                         S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(m, VSS_BS_DIFFERENTIAL | VSS_BS_LAST_MODIFY), S_OK);
        return m;
}

/* The sample plus one alternate location mapping and one dependency on another writer. */
static WriterMetadata *sample_document_with_extras(void) {
        WriterMetadata *m = sample_document();
        vss_id other;

        assert_int_equal(vss_id_parse(OTHER_WRITER_ID, &other), S_OK);
        assert_int_equal(writer_metadata_add_alternate_location_mapping(m, "$CONFDIR", "*", true, "/srv/alt"),
                         S_OK);
        assert_int_equal(writer_metadata_add_component_dependency(m, "sql\\main", "db1", &other, "logs",
                                                                  "journal"),
                         S_OK);
        return m;
}

static void test_component_rules(void **state) {
        WriterMetadata *m = sample_document();
        char *big;

        /* duplicate (logical_path, name); NULL logical path equals "" */
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_DATABASE, "sql\\main", "db1", "", 0, 0, 0, 0, 0),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "conf", "", 0, 0, 0, 0, 0),
                         VSS_E_OBJECT_ALREADY_EXISTS);
        /* same name elsewhere is fine */
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "other", "conf", "", 0, 0, 0, 0, 0),
                         S_OK);

        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", NULL, "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "a\\b", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_UNDEFINED, "", "x", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, (vss_component_type) 7, "", "x", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "x", "", 0, 0, 0, 0, 0x80),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "bad\xff", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        /* overlong encoding of '/' and a UTF-16 surrogate are not UTF-8 */
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "\xc0\xaf", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "\xed\xa0\x80", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "caf\xc3\xa9", "", 0, 0, 0, 0, 0),
                         S_OK);

        big = malloc(VSS_MAX_STRING + 2);
        assert_non_null(big);
        memset(big, 'a', VSS_MAX_STRING + 1);
        big[VSS_MAX_STRING + 1] = 0;
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", big, "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        big[VSS_MAX_STRING] = 0;
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", big, "", 0, 0, 0, 0, 0), S_OK);
        free(big);

        assert_int_equal(writer_metadata_add_component(NULL, VSS_CT_FILEGROUP, "", "x", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        writer_metadata_free(m);
}

static void test_component_limit(void **state) {
        WriterMetadata *m = writer_metadata_new();
        char name[32];

        assert_non_null(m);
        for (unsigned i = 0; i < VSS_MAX_COMPONENTS; i++) {
                snprintf(name, sizeof(name), "c%u", i);
                assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", name, "", 0, 0, 0, 0, 0),
                                 S_OK);
        }
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "one-more", "", 0, 0, 0, 0, 0),
                         E_INVALIDARG);
        assert_int_equal(m->n_components, VSS_MAX_COMPONENTS);

        for (unsigned i = 0; i < VSS_MAX_FILESETS; i++)
                assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "c0", "/d", "*", 0, NULL, 0),
                                 S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "c0", "/d", "*", 0, NULL, 0),
                         E_INVALIDARG);
        writer_metadata_free(m);
}

static void test_fileset_rules(void **state) {
        WriterMetadata *m = sample_document();
        size_t n = m->n_filesets;

        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "nope", "/d", "*", 0, NULL, 0),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "sql", "db1", "/d", "*", 0, NULL, 0),
                         VSS_E_OBJECT_NOT_FOUND);
        /* kinds on the wrong component type */
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "", "conf", "/d", "a.db", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "", "conf", "/d", "a.log", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "sql\\main", "db1", "/d", "*", 0, NULL, 0),
                         E_INVALIDARG);
        /* database files: never recursive, never redirected */
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "sql\\main", "db1", "/d", "a.db", 1, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "sql\\main", "db1", "/d", "a", 0, "/alt", 0),
                         E_INVALIDARG);
        /* paths and file specs */
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "rel/dir", "*", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "", "*", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "/d", "", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "/d", "a/b", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "/d", NULL, 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "/d", "*", 0, "alt", 0),
                         E_INVALIDARG);
        /* enums and masks */
        assert_int_equal(writer_metadata_add_fileset(m, (FileSetKind) 3, "", "conf", "/d", "*", 0, NULL, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "/d", "*", 0, NULL, 0x20000),
                         E_INVALIDARG);
        assert_int_equal(m->n_filesets, n);

        assert_int_equal(writer_metadata_add_exclude(m, "relative", "*", 0), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_exclude(m, "/x", "a/b", 0), E_INVALIDARG);
        assert_int_equal(writer_metadata_add_exclude(m, "$HOME", "*.o", 1), S_OK);
        writer_metadata_free(m);
}

static void test_restore_and_identity_rules(void **state) {
        WriterMetadata *m = sample_document();
        vss_id wid;

        assert_int_equal(writer_metadata_set_restore_method(m, VSS_RME_STOP_RESTORE_START, "", "", VSS_WRE_NEVER, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_set_restore_method(m, VSS_RME_RESTORE_STOP_START, NULL, "", VSS_WRE_NEVER, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_set_restore_method(m, (vss_restore_method) 9, "", "", VSS_WRE_NEVER, 0),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_set_restore_method(m, VSS_RME_CUSTOM, "", "", (vss_writer_restore) 4, 0),
                         E_INVALIDARG);
        /* the failed calls left the earlier method alone */
        assert_int_equal(m->restore_method, VSS_RME_STOP_RESTORE_START);
        assert_string_equal(m->restore_service, "db.service");

        assert_int_equal(writer_metadata_set_backup_schema(m, 0x0800), E_INVALIDARG);
        assert_int_equal(writer_metadata_set_backup_schema(m, VSS_BS_COPY), S_OK);

        wid = VSS_ID_NULL;
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "w", "", VSS_UT_OTHER, VSS_ST_OTHER, 1),
                         E_INVALIDARG);
        vss_id_generate(&wid);
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "", "", VSS_UT_OTHER, VSS_ST_OTHER, 1),
                         E_INVALIDARG);
        assert_int_equal(writer_metadata_set_identity(m, NULL, &wid, "w", "", (vss_usage_type) 5, VSS_ST_OTHER, 1),
                         E_INVALIDARG);
        assert_string_equal(m->writer_name, "Sample Writer");
        writer_metadata_free(m);
}

static void test_queries(void **state) {
        WriterMetadata *m = sample_document();
        const WmComponent *db, *conf;
        const WmFileSet *f;

        db = writer_metadata_find_component(m, "sql\\main", "db1");
        conf = writer_metadata_find_component(m, NULL, "conf");
        assert_non_null(db);
        assert_non_null(conf);
        assert_null(writer_metadata_find_component(m, "", "db1"));

        assert_int_equal(writer_metadata_count_filesets(m, db, FILESET_DATABASE), 1);
        assert_int_equal(writer_metadata_count_filesets(m, db, FILESET_DATABASE_LOG), 1);
        assert_int_equal(writer_metadata_count_filesets(m, db, FILESET_FILE_GROUP), 0);
        assert_int_equal(writer_metadata_count_filesets(m, conf, FILESET_FILE_GROUP), 1);

        f = writer_metadata_get_fileset(m, db, FILESET_DATABASE_LOG, 0);
        assert_non_null(f);
        assert_string_equal(f->filespec, "*.wal");
        assert_null(f->alternate_location);
        assert_null(writer_metadata_get_fileset(m, db, FILESET_DATABASE_LOG, 1));
        f = writer_metadata_get_fileset(m, conf, FILESET_FILE_GROUP, 0);
        assert_string_equal(f->alternate_location, "/srv/restore");
        writer_metadata_free(m);
}

static sd_bus_message *new_call(sd_bus *bus) {
        sd_bus_message *m = NULL;

        assert_true(sd_bus_message_new_method_call(bus, &m, NULL, VSS_BUS_WRITER_PATH, VSS_BUS_IFACE_EVENTS,
                                                        "Identify") >= 0);
        return m;
}

static int transfer_and_read(BusPair *p, sd_bus_message *call, WriterMetadata **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *got = NULL;

        assert_int_equal(bus_pair_transfer(p, p->client, call, &got), 0);
        assert_string_equal(sd_bus_message_get_signature(got, true), VSS_BUS_SIG_WMD);
        return writer_metadata_read(got, ret);
}

static void test_round_trip(void **state) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        WriterMetadata *m = sample_document(), *back = NULL;
        BusPair p;

        assert_int_equal(bus_pair_open(&p), 0);
        call = new_call(p.client);
        assert_int_equal(writer_metadata_append(call, m), 0);
        assert_int_equal(transfer_and_read(&p, call, &back), 0);
        assert_non_null(back);

        assert_true(vss_id_equal(&back->instance_id, &m->instance_id));
        assert_true(vss_id_equal(&back->writer_id, &m->writer_id));
        assert_string_equal(back->writer_name, "Sample Writer");
        assert_string_equal(back->instance_name, "inst");
        assert_int_equal(back->usage_type, VSS_UT_USERDATA);
        assert_int_equal(back->source_type, VSS_ST_TRANSACTEDDB);
        assert_int_equal(back->freeze_timeout_ms, 60000);
        assert_int_equal(back->restore_method, VSS_RME_STOP_RESTORE_START);
        assert_string_equal(back->restore_service, "db.service");
        assert_int_equal(back->writer_restore, VSS_WRE_ALWAYS);
        assert_int_equal(back->backup_schema, VSS_BS_DIFFERENTIAL | VSS_BS_LAST_MODIFY);

        assert_int_equal(back->n_components, 2);
        assert_int_equal(back->components[0].type, VSS_CT_DATABASE);
        assert_string_equal(back->components[0].logical_path, "sql\\main");
        assert_string_equal(back->components[0].caption, "Main database");
        assert_true(back->components[0].notify_on_backup_complete);
        assert_true(back->components[0].selectable);
        assert_false(back->components[0].selectable_for_restore);
        assert_int_equal(back->components[0].flags, VSS_CF_BACKUP_RECOVERY);
        assert_string_equal(back->components[1].logical_path, "");
        assert_true(back->components[1].selectable_for_restore);

        assert_int_equal(back->n_filesets, 3);
        assert_int_equal(back->filesets[1].kind, FILESET_DATABASE_LOG);
        assert_null(back->filesets[1].alternate_location);
        assert_string_equal(back->filesets[2].path, "$CONFDIR");
        assert_true(back->filesets[2].recursive);
        assert_string_equal(back->filesets[2].alternate_location, "/srv/restore");
        assert_int_equal(back->filesets[2].backup_type_mask, VSS_FSBT_FULL_BACKUP_REQUIRED);

        assert_int_equal(back->n_excludes, 1);
        assert_string_equal(back->excludes[0].filespec, "*.tmp");

        writer_metadata_free(back);
        writer_metadata_free(m);
        bus_pair_close(&p);
}

static void test_round_trip_extras(void **state) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        WriterMetadata *m = sample_document_with_extras(), *back = NULL;
        vss_id other;
        BusPair p;

        assert_int_equal(vss_id_parse(OTHER_WRITER_ID, &other), S_OK);
        assert_int_equal(bus_pair_open(&p), 0);
        call = new_call(p.client);
        assert_int_equal(writer_metadata_append(call, m), 0);
        assert_int_equal(transfer_and_read(&p, call, &back), 0);
        assert_non_null(back);

        assert_int_equal(back->n_alternate_mappings, 1);
        assert_string_equal(back->alternate_mappings[0].path, "$CONFDIR");
        assert_string_equal(back->alternate_mappings[0].filespec, "*");
        assert_true(back->alternate_mappings[0].recursive);
        assert_string_equal(back->alternate_mappings[0].destination, "/srv/alt");

        assert_int_equal(back->n_dependencies, 1);
        assert_string_equal(back->dependencies[0].for_logical_path, "sql\\main");
        assert_string_equal(back->dependencies[0].for_name, "db1");
        assert_true(vss_id_equal(&back->dependencies[0].on_writer_id, &other));
        assert_string_equal(back->dependencies[0].on_logical_path, "logs");
        assert_string_equal(back->dependencies[0].on_name, "journal");

        writer_metadata_free(back);
        writer_metadata_free(m);
        bus_pair_close(&p);
}

/* Writes the fixed head of a WMD (valid identity, no restore method) into an open struct. */
static void append_head(sd_bus_message *c, const char *writer_id, int32_t usage, uint32_t method) {
        assert_true(sd_bus_message_open_container(c, 'r', WMD_INNER) >= 0);
        assert_true(sd_bus_message_append(c, "ssssiiu(ussub)u", "", writer_id, "Hostile", "", usage, 0,
                                               (uint32_t) 1000, method, "", "", (uint32_t) 0, 0, (uint32_t) 0) >= 0);
}

typedef enum Hostile {
        HOSTILE_DUPLICATE_COMPONENT,
        HOSTILE_FILESET_WITHOUT_COMPONENT,
        HOSTILE_OVERSIZED_STRING,
        HOSTILE_BAD_COMPONENT_TYPE,
        HOSTILE_BAD_USAGE,
        HOSTILE_BAD_RESTORE_METHOD,
        HOSTILE_NULL_WRITER_ID,
        HOSTILE_BAD_ID,
        HOSTILE_RELATIVE_PATH,
        HOSTILE_RECURSIVE_DATABASE,
        HOSTILE_MAPPING_UNDECLARED_FILESET,
        HOSTILE_MAPPING_RELATIVE_DESTINATION,
        HOSTILE_DEPENDENCY_SAME_WRITER,
        HOSTILE_DEPENDENCY_UNKNOWN_COMPONENT,
        HOSTILE_DEPENDENCY_BAD_ID,
        _HOSTILE_MAX,
} Hostile;

static sd_bus_message *hostile_document(sd_bus *bus, Hostile h) {
        sd_bus_message *c = new_call(bus);
        const char *name = "c";
        _cleanup_free_ char *big = NULL;

        if (h == HOSTILE_OVERSIZED_STRING) {
                big = malloc(VSS_MAX_STRING + 2);
                assert_non_null(big);
                memset(big, 'n', VSS_MAX_STRING + 1);
                big[VSS_MAX_STRING + 1] = 0;
                name = big;
        }

        append_head(c, h == HOSTILE_NULL_WRITER_ID ? "" : h == HOSTILE_BAD_ID ? "not-an-id" : WRITER_ID,
                    h == HOSTILE_BAD_USAGE ? 42 : 1, h == HOSTILE_BAD_RESTORE_METHOD ? 77 : 0);

        assert_true(sd_bus_message_open_container(c, 'a', "(usssbbbbu)") >= 0);
        assert_true(sd_bus_message_append(c, "(usssbbbbu)", h == HOSTILE_BAD_COMPONENT_TYPE ? 9 : 1, "", name,
                                               "", 0, 0, 0, 0, 0) >= 0);
        if (h == HOSTILE_DUPLICATE_COMPONENT)
                assert_true(sd_bus_message_append(c, "(usssbbbbu)", 2, "", "c", "", 0, 0, 0, 0, 0) >= 0);
        assert_true(sd_bus_message_close_container(c) >= 0);

        assert_true(sd_bus_message_open_container(c, 'a', "(ussssbsu)") >= 0);
        if (h == HOSTILE_FILESET_WITHOUT_COMPONENT)
                assert_true(sd_bus_message_append(c, "(ussssbsu)", 1, "", "ghost", "/d", "x.db", 0, "", 0) >= 0);
        if (h == HOSTILE_RELATIVE_PATH)
                assert_true(sd_bus_message_append(c, "(ussssbsu)", 1, "", "c", "d", "x.db", 0, "", 0) >= 0);
        if (h == HOSTILE_RECURSIVE_DATABASE)
                assert_true(sd_bus_message_append(c, "(ussssbsu)", 1, "", "c", "/d", "x.db", 1, "", 0) >= 0);
        assert_true(sd_bus_message_close_container(c) >= 0);

        assert_true(sd_bus_message_append(c, "a(ssb)", 0) >= 0);

        assert_true(sd_bus_message_open_container(c, 'a', "(sssb)") >= 0);
        if (h == HOSTILE_MAPPING_UNDECLARED_FILESET)
                assert_true(sd_bus_message_append(c, "(sssb)", "/nowhere", "*", "/alt", 0) >= 0);
        if (h == HOSTILE_MAPPING_RELATIVE_DESTINATION)
                assert_true(sd_bus_message_append(c, "(sssb)", "/d", "x.db", "alt", 0) >= 0);
        assert_true(sd_bus_message_close_container(c) >= 0);

        assert_true(sd_bus_message_open_container(c, 'a', "(sssss)") >= 0);
        if (h == HOSTILE_DEPENDENCY_SAME_WRITER)
                assert_true(sd_bus_message_append(c, "(sssss)", "", "c", WRITER_ID, "", "other") >= 0);
        if (h == HOSTILE_DEPENDENCY_UNKNOWN_COMPONENT)
                assert_true(sd_bus_message_append(c, "(sssss)", "", "ghost", OTHER_WRITER_ID, "", "x") >= 0);
        if (h == HOSTILE_DEPENDENCY_BAD_ID)
                assert_true(sd_bus_message_append(c, "(sssss)", "", "c", "not-an-id", "", "x") >= 0);
        assert_true(sd_bus_message_close_container(c) >= 0);

        assert_true(sd_bus_message_close_container(c) >= 0);
        return c;
}

static void test_hostile_documents(void **state) {
        BusPair p;

        assert_int_equal(bus_pair_open(&p), 0);
        for (Hostile h = 0; h < _HOSTILE_MAX; h++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = hostile_document(p.client, h);
                WriterMetadata *back = NULL;

                print_message("hostile document %d\n", (int) h);
                assert_int_equal(transfer_and_read(&p, call, &back), -EBADMSG);
                assert_null(back);
        }
        bus_pair_close(&p);
}

static void test_wrong_signature(void **state) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *got = NULL;
        WriterMetadata *back = NULL;
        BusPair p;

        assert_int_equal(bus_pair_open(&p), 0);
        call = new_call(p.client);
        assert_true(sd_bus_message_append(call, "(ss)", "a", "b") >= 0);
        assert_int_equal(bus_pair_transfer(&p, p.client, call, &got), 0);
        assert_true(writer_metadata_read(got, &back) < 0);
        assert_null(back);
        bus_pair_close(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_component_rules),
                cmocka_unit_test(test_component_limit),
                cmocka_unit_test(test_fileset_rules),
                cmocka_unit_test(test_restore_and_identity_rules),
                cmocka_unit_test(test_queries),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_round_trip_extras),
                cmocka_unit_test(test_hostile_documents),
                cmocka_unit_test(test_wrong_signature),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

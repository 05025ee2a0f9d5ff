/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-file-select: the requester's file selection (vss-semantics.md §9) on a generated tree
 * whose modification times are set around the previous backup: for each backup type ×
 * schema × FSBT mask × differenced entry (none, zero time, writer times on either side of the
 * previous backup) × partial files × excludes, the exact set of files selected and why;
 * component sets, alternate locations, volumes (nested, missing, live), the errors, hostile
 * names, and a real incremental that selects exactly what changed.
 */
#include "selection-test.h"

#include <dirent.h>

#include "backup-components.h"
#include "file-select.h"
#include "writer-metadata.h"

#define ORIG "/vsso"
#define INSTANCE_ID "a1b2c3d4-0000-4000-8000-0000000000a1"
#define WRITER_ID "a1b2c3d4-0000-4000-8000-0000000000a2"

#define M_ALL (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)
#define M_FULL (VSS_FSBT_FULL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)
#define M_LOG (VSS_FSBT_LOG_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)

typedef struct Fixture {
        char *snap;             /* stands for the snapshot of ORIG */
        vss_timestamp prev;     /* the previous backup's time */
        WriterMetadata *wmd;
        BackupComponents *bcd;
        BcdComponent *files;
        StrList got;
} Fixture;

static vss_id id(const char *s) {
        vss_id r;

        assert_int_equal(vss_id_parse(s, &r), S_OK);
        return r;
}

/*
 * The tree, times relative to the previous backup P (set an hour ahead, so every file's
 * ctime, which is "now", is older than P and only the chosen mtimes decide):
 *   data/a.db P-1000s   data/b.db P+1000s   data/c.db P-100s   data/x.tmp P+1000s
 *   data/sub/d.db P+3000s   data/part/big.bin, data/part/ranges.bin P-1000s
 *   logs/l1.log P-1000s   logs/l2.log P+1000s   logs/readme.txt P+1000s
 *   new/n0.new P-1000s    new/n1.new P+1000s
 */
static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        vss_timestamp p;

        assert_non_null(f);
        f->snap = make_scratch();
        p = f->prev = now_filetime() + 3600 * FT_SECOND;
        make_file(f->snap, "data/a.db", p - 1000 * FT_SECOND);
        make_file(f->snap, "data/b.db", p + 1000 * FT_SECOND);
        make_file(f->snap, "data/c.db", p - 100 * FT_SECOND);
        make_file(f->snap, "data/x.tmp", p + 1000 * FT_SECOND);
        make_file(f->snap, "data/sub/d.db", p + 3000 * FT_SECOND);
        make_file(f->snap, "data/part/big.bin", p - 1000 * FT_SECOND);
        make_file(f->snap, "data/part/ranges.bin", p - 1000 * FT_SECOND);
        make_file(f->snap, "logs/l1.log", p - 1000 * FT_SECOND);
        make_file(f->snap, "logs/l2.log", p + 1000 * FT_SECOND);
        make_file(f->snap, "logs/readme.txt", p + 1000 * FT_SECOND);
        make_file(f->snap, "new/n0.new", p - 1000 * FT_SECOND);
        make_file(f->snap, "new/n1.new", p + 1000 * FT_SECOND);
        make_file(f->snap, "alt/a1", p + 1000 * FT_SECOND);
        make_file(f->snap, "conf/c1", p + 1000 * FT_SECOND);
        *state = f;
        return 0;
}

static void documents_free(Fixture *f) {
        f->wmd = writer_metadata_free(f->wmd);
        f->bcd = backup_components_free(f->bcd);
        f->files = NULL;
        strlist_clear(&f->got);
}

static int teardown(void **state) {
        Fixture *f = *state;

        documents_free(f);
        remove_tree(f->snap);
        free(f->snap);
        free(f);
        return 0;
}

/*
 * The writer: "files" (file group, selectable) owns ORIG/data/ * recursively and, through its
 * non-selectable subcomponent "files\logs", ORIG/logs/ *.log; it excludes *.tmp under data.
 * The BCD names "files" explicitly; "logs" comes in implicitly.
 */
static void documents_make(Fixture *f, vss_backup_type type, uint32_t schema, uint32_t mask_data, uint32_t mask_logs) {
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        WriterMetadata *m;

        documents_free(f);
        m = f->wmd = writer_metadata_new();
        assert_non_null(m);
        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0), S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(m, schema), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "files", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "files", "logs", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "files", ORIG "/data", "*", true, NULL,
                                                     mask_data),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "files", "logs", ORIG "/logs", "*.log", false,
                                                     NULL, mask_logs),
                         S_OK);
        assert_int_equal(writer_metadata_add_exclude(m, ORIG "/data", "*.tmp", true), S_OK);

        f->bcd = backup_components_new();
        assert_non_null(f->bcd);
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, type, true), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "files", &f->files),
                         S_OK);
}

static int collect(const FileSelectFile *file, void *userdata) {
        Fixture *f = userdata;
        char source[4096];

        /* Everything of ORIG is read from its snapshot, at the same relative path. */
        assert_true(file->from_snapshot);
        assert_true(strncmp(file->original_path, ORIG "/", strlen(ORIG) + 1) == 0);
        if (!file->from_alternate_location) {
                snprintf(source, sizeof(source), "%s%s", f->snap, file->original_path + strlen(ORIG));
                assert_string_equal(file->source_path, source);
        }
        assert_non_null(file->writer_instance_id);
        assert_non_null(file->component);
        assert_non_null(file->explicit_component);

        if (file->reason == FILE_SELECT_FILE_SET)
                strlist_add(&f->got, file->original_path + strlen(ORIG) + 1);
        else
                strlist_addf(&f->got, "%s=%s", file->original_path + strlen(ORIG) + 1,
                             file_select_reason_to_string(file->reason));
        return 0;
}

static int run_select(Fixture *f, vss_backup_type type, bool chain_has_differential, char **ret_error) {
        const WriterMetadata *writers[] = { f->wmd };
        FileSelectVolume vol = { .original = ORIG, .snapshot = f->snap };
        FileSelectInput in = {
                .backup_type = type,
                .bcd = f->bcd,
                .writers = writers,
                .n_writers = 1,
                .previous_backup_time = f->prev,
                .chain_has_differential = chain_has_differential,
                .volumes = &vol,
                .n_volumes = 1,
        };

        return file_select(&in, collect, f, ret_error);
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef enum DiffKind {
        DIFF_NONE,
        DIFF_ZERO,      /* differenced data set, time 0: the requester's own records */
        DIFF_W1,        /* writer time P-500s: older than the previous backup */
        DIFF_W2,        /* writer time P+2000s: newer than the previous backup */
} DiffKind;

typedef struct Case {
        const char *name;
        vss_backup_type type;
        uint32_t schema;
        uint32_t mask_data, mask_logs;
        DiffKind diff;
        bool new_files;         /* a differenced set of new files: ORIG/new *.new, time 0 */
        bool partial;           /* partial files data/part/big.bin (ranges file) and logs/l1.log */
        bool chain_mixed;       /* a differential since the last full */
        const char *expected;
} Case;

#define DATA_ALL "data/a.db data/b.db data/c.db data/sub/d.db data/part/big.bin data/part/ranges.bin"
#define LOGS_ALL "logs/l1.log logs/l2.log"
#define S_INC VSS_BS_INCREMENTAL
#define S_DIF VSS_BS_DIFFERENTIAL
#define S_LM VSS_BS_LAST_MODIFY

static const Case cases[] = {
        { "full", VSS_BT_FULL, 0, M_ALL, M_ALL, .expected = DATA_ALL " " LOGS_ALL },
        { "copy", VSS_BT_COPY, 0, M_ALL, M_ALL, .expected = DATA_ALL " " LOGS_ALL },
        { "other", VSS_BT_OTHER, 0, M_ALL, M_ALL, .expected = DATA_ALL " " LOGS_ALL },
        { "full, log-only set contributes nothing", VSS_BT_FULL, 0, M_ALL, M_LOG, .expected = DATA_ALL },
        { "incremental, default masks: whole sets", VSS_BT_INCREMENTAL, S_INC, M_ALL, M_ALL,
          .expected = DATA_ALL " " LOGS_ALL },
        { "incremental, full-only data: changes", VSS_BT_INCREMENTAL, S_INC, M_FULL, M_ALL,
          .expected = "data/b.db data/sub/d.db " LOGS_ALL },
        { "incremental, mask 0: changes", VSS_BT_INCREMENTAL, S_INC, 0, 0,
          .expected = "data/b.db data/sub/d.db logs/l2.log" },
        { "incremental without the schema: full", VSS_BT_INCREMENTAL, S_DIF, M_FULL, M_FULL,
          .expected = DATA_ALL " " LOGS_ALL },
        { "incremental, exclusive writer after a differential: full", VSS_BT_INCREMENTAL,
          S_INC | S_DIF | VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL, M_FULL, M_FULL, .chain_mixed = true,
          .expected = DATA_ALL " " LOGS_ALL },
        { "incremental, exclusive writer, pure chain", VSS_BT_INCREMENTAL,
          S_INC | S_DIF | VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL, M_FULL, M_FULL,
          .expected = "data/b.db data/sub/d.db logs/l2.log" },
        { "incremental, non-exclusive writer after a differential", VSS_BT_INCREMENTAL, S_INC | S_DIF, M_FULL, M_FULL,
          .chain_mixed = true, .expected = "data/b.db data/sub/d.db logs/l2.log" },
        { "differential: changes", VSS_BT_DIFFERENTIAL, S_DIF, M_FULL, M_FULL,
          .expected = "data/b.db data/sub/d.db logs/l2.log" },
        { "differential, differential-required logs", VSS_BT_DIFFERENTIAL, S_DIF, M_FULL,
          VSS_FSBT_FULL_BACKUP_REQUIRED | VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED,
          .expected = "data/b.db data/sub/d.db " LOGS_ALL },
        { "differential without the schema: full", VSS_BT_DIFFERENTIAL, S_INC, M_FULL, M_FULL,
          .expected = DATA_ALL " " LOGS_ALL },
        { "log: log sets only", VSS_BT_LOG, VSS_BS_LOG, M_FULL, M_LOG, .expected = LOGS_ALL },
        { "log without the schema: full", VSS_BT_LOG, 0, M_FULL, M_LOG, .expected = DATA_ALL },
        { "incremental, differenced time 0: own records", VSS_BT_INCREMENTAL, S_INC | S_LM, M_ALL, M_ALL, DIFF_ZERO,
          .expected = "data/b.db=differenced data/sub/d.db=differenced " LOGS_ALL },
        { "incremental, writer time older than the previous backup", VSS_BT_INCREMENTAL, S_INC | S_LM, M_ALL, M_ALL,
          DIFF_W1, .expected = "data/b.db=differenced data/c.db=differenced data/sub/d.db=differenced " LOGS_ALL },
        { "incremental, writer time newer than the previous backup", VSS_BT_INCREMENTAL, S_INC | S_LM, M_ALL, M_ALL,
          DIFF_W2, .expected = "data/sub/d.db=differenced " LOGS_ALL },
        { "differential, writer time", VSS_BT_DIFFERENTIAL, S_DIF | S_LM, M_FULL, M_FULL, DIFF_W1,
          .expected = "data/b.db=differenced data/c.db=differenced data/sub/d.db=differenced logs/l2.log" },
        { "full ignores differenced entries", VSS_BT_FULL, S_INC | S_LM, M_ALL, M_ALL, DIFF_W2,
          .expected = DATA_ALL " " LOGS_ALL },
        { "incremental without the schema ignores differenced entries", VSS_BT_INCREMENTAL, S_DIF | S_LM, M_ALL,
          M_ALL, DIFF_W2, .expected = DATA_ALL " " LOGS_ALL },
        { "incremental, new files by own records", VSS_BT_INCREMENTAL, S_INC | S_LM, M_FULL, M_ALL, .new_files = true,
          .expected = "data/b.db data/sub/d.db new/n1.new=new-file " LOGS_ALL },
        { "full, partial files", VSS_BT_FULL, 0, M_ALL, M_ALL, .partial = true,
          .expected = "data/a.db data/b.db data/c.db data/sub/d.db data/part/big.bin=partial "
                      "data/part/ranges.bin=ranges-file logs/l1.log=partial logs/l2.log" },
        { "incremental, partial files whatever their times", VSS_BT_INCREMENTAL, S_INC, M_FULL, M_FULL, .partial = true,
          .expected = "data/b.db data/sub/d.db data/part/big.bin=partial data/part/ranges.bin=ranges-file "
                      "logs/l1.log=partial logs/l2.log" },
        { "log, partial log file", VSS_BT_LOG, VSS_BS_LOG, M_FULL, M_LOG, .partial = true,
          .expected = "data/part/big.bin=partial data/part/ranges.bin=ranges-file logs/l1.log=partial logs/l2.log" },
};

static void test_table(void **state) {
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                vss_timestamp t;

                documents_make(f, c->type, c->schema, c->mask_data, c->mask_logs);
                if (c->diff != DIFF_NONE) {
                        t = c->diff == DIFF_ZERO ? 0 : c->diff == DIFF_W1 ? f->prev - 500 * FT_SECOND
                                                                          : f->prev + 2000 * FT_SECOND;
                        assert_int_equal(bcd_component_add_differenced_file(f->files, ORIG "/data", "*", true, t), S_OK);
                }
                if (c->new_files)
                        assert_int_equal(bcd_component_add_differenced_file(f->files, ORIG "/new", "*.new", false, 0),
                                         S_OK);
                if (c->partial) {
                        assert_int_equal(bcd_component_add_partial_file(f->files, ORIG "/data/part", "big.bin",
                                                                        ORIG "/data/part/ranges.bin", NULL),
                                         S_OK);
                        assert_int_equal(bcd_component_add_partial_file(f->files, ORIG "/logs", "l1.log", "0:4", NULL),
                                         S_OK);
                }
                assert_int_equal(run_select(f, c->type, c->chain_mixed, NULL), 0);
                strlist_expect(&f->got, c->name, c->expected);
                strlist_clear(&f->got);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Single behaviours                                                                           */
/* ------------------------------------------------------------------------------------------ */

static int collect_ranges(const FileSelectFile *file, void *userdata) {
        StrList *l = userdata;

        strlist_addf(l, "%s:%s", strrchr(file->original_path, '/') + 1, file->ranges ?: "whole");
        return 0;
}

static void test_partial_ranges_and_excludes(void **state) {
        Fixture *f = *state;
        const WriterMetadata *writers[1];
        FileSelectVolume vol = { .original = ORIG };
        FileSelectInput in = {
                .backup_type = VSS_BT_LOG,
                .n_writers = 1,
                .volumes = &vol,
                .n_volumes = 1,
        };
        StrList l = {};

        /* A LOG backup of log files the writer only wants ranges of; x.tmp is excluded, so its
         * partial entry goes too: excludes win over everything. */
        documents_make(f, VSS_BT_LOG, VSS_BS_LOG, M_FULL, M_LOG);
        assert_int_equal(bcd_component_add_partial_file(f->files, ORIG "/logs", "l2.log", "0x10:5,100:1", "m"), S_OK);
        assert_int_equal(bcd_component_add_partial_file(f->files, ORIG "/data", "x.tmp", "0:1", NULL), S_OK);
        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vol.snapshot = f->snap;
        assert_int_equal(file_select(&in, collect_ranges, &l, NULL), 0);
        strlist_expect(&l, "partial ranges", "l1.log:whole l2.log:0x10:5,100:1");
        strlist_clear(&l);
}

/* The same partial file from two components, and a ranges file two partial files share: once each. */
static void test_partial_repeats(void **state) {
        Fixture *f = *state;
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        BcdComponent *other;

        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_ALL);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "other", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "other", &other),
                         S_OK);
        assert_int_equal(bcd_component_add_partial_file(f->files, ORIG "/data/part", "big.bin",
                                                        ORIG "/data/part/ranges.bin", NULL),
                         S_OK);
        assert_int_equal(bcd_component_add_partial_file(other, ORIG "/data/part", "big.bin", "0:1", NULL), S_OK);
        assert_int_equal(bcd_component_add_partial_file(other, ORIG "/logs", "l1.log", ORIG "/data/part/ranges.bin",
                                                        NULL),
                         S_OK);
        assert_int_equal(run_select(f, VSS_BT_FULL, false, NULL), 0);
        strlist_expect(&f->got, "partial repeats",
                       "data/a.db data/b.db data/c.db data/sub/d.db data/part/big.bin=partial "
                       "data/part/ranges.bin=ranges-file logs/l1.log=partial logs/l2.log");
}

static int collect_sources(const FileSelectFile *file, void *userdata) {
        StrList *l = userdata;

        strlist_addf(l, "%s<%s%s", file->original_path, file->source_path,
                     file->from_alternate_location ? "(alt)" : file->from_snapshot ? "" : "(live)");
        return 0;
}

static void test_alternate_location(void **state) {
        Fixture *f = *state;
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        const WriterMetadata *writers[1];
        FileSelectVolume vol = { .original = ORIG };
        FileSelectInput in = { .backup_type = VSS_BT_FULL, .n_writers = 1, .volumes = &vol, .n_volumes = 1 };
        _cleanup_free_ char *expected = NULL;
        StrList l = {};

        documents_free(f);
        f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(f->wmd, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "conf", "", 0, 0, 1, 0, 0), S_OK);
        /* Step 7: the files of ORIG/conf are read from ORIG/alt; ORIG/conf/c1 itself is not in it. */
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "conf", ORIG "/conf", "*", false,
                                                     ORIG "/alt", M_ALL),
                         S_OK);
        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_FULL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "conf", NULL), S_OK);

        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vol.snapshot = f->snap;
        assert_int_equal(file_select(&in, collect_sources, &l, NULL), 0);
        assert_true(asprintf(&expected, ORIG "/conf/a1<%s/alt/a1(alt)", f->snap) > 0);
        strlist_expect(&l, "alternate location", expected);
        strlist_clear(&l);
}

/*
 * Component sets: "app" (selectable) pulls in "app\logs" (not selectable) and "app\more"
 * (selectable, not added itself); "req" (not selectable) is added explicitly, but its child
 * "req\child" is not part of it (two non-selectable components form no set) and "other" is
 * not added at all.
 */
static void test_component_sets(void **state) {
        Fixture *f = *state;
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        WriterMetadata *m;

        documents_free(f);
        m = f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_DATABASE, "", "app", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "app", "logs", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "app\\logs", "more", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "req", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "req", "child", "", 0, 0, 0, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "other", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_DATABASE, "", "app", ORIG "/data", "*.db", false, NULL,
                                                     M_ALL),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "app", "logs", ORIG "/logs", "*", false,
                                                     NULL, M_ALL),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "app\\logs", "more", ORIG "/data/sub", "*",
                                                     false, NULL, M_ALL),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "req", ORIG "/new", "*", false, NULL,
                                                     M_ALL),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "req", "child", ORIG "/alt", "*", false,
                                                     NULL, M_ALL),
                         S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "other", ORIG "/conf", "*", false,
                                                     NULL, M_ALL),
                         S_OK);
        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_FULL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_DATABASE, "", "app", NULL), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "req", NULL), S_OK);

        assert_int_equal(run_select(f, VSS_BT_FULL, false, NULL), 0);
        strlist_expect(&f->got, "component sets",
                       "data/a.db data/b.db data/c.db data/sub/d.db logs/l1.log logs/l2.log logs/readme.txt "
                       "new/n0.new new/n1.new");
}

static void test_errors(void **state) {
        Fixture *f = *state;
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID), other = id("a1b2c3d4-0000-4000-8000-0000000000ff");
        _cleanup_free_ char *msg = NULL;
        FileSelectInput in = {};

        assert_int_equal(file_select(NULL, collect, f, NULL), -EINVAL);
        assert_int_equal(file_select(&in, collect, f, NULL), -EINVAL);     /* no BCD */

        /* A component the writer does not declare. */
        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_ALL);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "ghost", NULL), S_OK);
        assert_int_equal(run_select(f, VSS_BT_FULL, false, &msg), -EBADMSG);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "ghost"));
        free(msg);
        msg = NULL;

        /* A writer instance without metadata. */
        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_ALL);
        assert_int_equal(backup_components_add_component(f->bcd, &other, &wid, VSS_CT_FILEGROUP, "", "files", NULL),
                         S_OK);
        assert_int_equal(run_select(f, VSS_BT_FULL, false, &msg), -EBADMSG);
        assert_non_null(strstr(msg, "a1b2c3d4-0000-4000-8000-0000000000ff"));
        free(msg);
        msg = NULL;

        /* A file set path naming an unset variable. */
        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_ALL);
        assert_int_equal(unsetenv("VSS_SELECTION_UNSET"), 0);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "files", "$VSS_SELECTION_UNSET/x",
                                                     "*", false, NULL, M_ALL),
                         S_OK);
        assert_int_equal(run_select(f, VSS_BT_FULL, false, &msg), -EINVAL);
        assert_non_null(strstr(msg, "VSS_SELECTION_UNSET"));
        free(msg);
        msg = NULL;

        /* A variable that is set is expanded like the writer side does. */
        assert_int_equal(setenv("VSS_SELECTION_SET", ORIG "/new", 1), 0);
        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_LOG);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "files", "${VSS_SELECTION_SET}",
                                                     "*1.new", false, NULL, M_ALL),
                         S_OK);
        assert_int_equal(run_select(f, VSS_BT_FULL, false, NULL), 0);
        strlist_expect(&f->got, "variables", DATA_ALL " new/n1.new");
}

static int fail_second(const FileSelectFile *file, void *userdata) {
        unsigned *n = userdata;

        return ++*n == 2 ? -ECANCELED : 0;
}

static void test_callback_stops(void **state) {
        Fixture *f = *state;
        const WriterMetadata *writers[1];
        FileSelectVolume vol = { .original = ORIG };
        FileSelectInput in = { .backup_type = VSS_BT_FULL, .n_writers = 1, .volumes = &vol, .n_volumes = 1 };
        _cleanup_free_ char *msg = NULL;
        unsigned n = 0;

        documents_make(f, VSS_BT_FULL, 0, M_ALL, M_ALL);
        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vol.snapshot = f->snap;
        assert_int_equal(file_select(&in, fail_second, &n, &msg), -ECANCELED);
        assert_int_equal(n, 2);
        assert_null(msg);
}

/* Volumes: ORIG/data is its own volume with its own snapshot; a set on no volume. */
static void test_volumes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data_snap = make_scratch(), *live = make_scratch(), *expected = NULL, *msg = NULL;
        const WriterMetadata *writers[1];
        FileSelectVolume vols[2] = { { .original = ORIG "/" }, { .original = ORIG "/data" } };
        FileSelectInput in = { .backup_type = VSS_BT_FULL, .n_writers = 1, .volumes = vols, .n_volumes = 2 };
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        StrList l = {};

        make_file(data_snap, "inner/z", 0);
        make_file(live, "live.txt", 0);

        /* One recursive set over the whole of ORIG: ORIG's own snapshot holds a stale data/
         * (what lies under the mount point), which must not be read; the nested volume's
         * snapshot gives ORIG/data. */
        documents_free(f);
        f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(f->wmd, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "all", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "all", ORIG, "*", true, NULL,
                                                     M_ALL),
                         S_OK);
        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_FULL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "all", NULL), S_OK);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "all", ORIG "/data", "z", true,
                                                     NULL, M_ALL),
                         S_OK);
        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vols[0].snapshot = f->snap;
        vols[1].snapshot = data_snap;
        assert_int_equal(file_select(&in, collect_sources, &l, NULL), 0);
        assert_true(asprintf(&expected,
                             ORIG "/logs/l1.log<%1$s/logs/l1.log " ORIG "/logs/l2.log<%1$s/logs/l2.log " ORIG
                                  "/logs/readme.txt<%1$s/logs/readme.txt " ORIG "/new/n0.new<%1$s/new/n0.new " ORIG
                                  "/new/n1.new<%1$s/new/n1.new " ORIG "/alt/a1<%1$s/alt/a1 " ORIG
                                  "/conf/c1<%1$s/conf/c1 " ORIG "/data/inner/z<%2$s/inner/z",
                             f->snap, data_snap) > 0);
        strlist_expect(&l, "nested volumes", expected);
        strlist_clear(&l);

        /* A set on no volume that needs a snapshot: refused; one that does not: read live. */
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "all", live, "*", false, NULL,
                                                     M_ALL),
                         S_OK);
        assert_int_equal(file_select(&in, collect_sources, &l, &msg), -EXDEV);
        assert_non_null(strstr(msg, live));
        strlist_clear(&l);
        in.n_volumes = 0;
        writer_metadata_free(f->wmd);
        f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(f->wmd, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "all", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "all", live, "*", false, NULL,
                                                     VSS_FSBT_ALL_BACKUP_REQUIRED),
                         S_OK);
        writers[0] = f->wmd;
        assert_int_equal(file_select(&in, collect_sources, &l, NULL), 0);
        free(expected);
        assert_true(asprintf(&expected, "%1$s/live.txt<%1$s/live.txt(live)", live) > 0);
        strlist_expect(&l, "live", expected);
        strlist_clear(&l);

        remove_tree(data_snap);
        remove_tree(live);
}

static int collect_names(const FileSelectFile *file, void *userdata) {
        StrList *l = userdata;
        const char *name = strrchr(file->original_path, '/') + 1;

        /* Printable form: newlines as "\n", long names by length. */
        if (strlen(name) > 64)
                strlist_addf(l, "long%zu", strlen(name));
        else if (strchr(name, '\n'))
                strlist_add(l, "newline");
        else
                strlist_addf(l, "%s%s", name, file->type == DT_LNK ? "@" : "");
        return 0;
}

/* Hostile names are selected byte for byte; symlink loops are files, never followed. */
static void test_hostile_names(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *tree = make_scratch(), *p = NULL;
        const WriterMetadata *writers[1];
        FileSelectVolume vol = { .original = ORIG };
        FileSelectInput in = { .backup_type = VSS_BT_FULL, .n_writers = 1, .volumes = &vol, .n_volumes = 1 };
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        char longname[256];
        StrList l = {};

        memset(longname, 'L', 255);
        longname[255] = 0;
        make_file(tree, "h/a\nb", 0);
        make_file(tree, "h/*?", 0);
        make_file(tree, "h/\xff\xfe", 0);
        make_file(tree, "h/d/x", 0);
        assert_true(asprintf(&p, "h/%s", longname) > 0);
        make_file(tree, p, 0);
        free(p);
        assert_true(asprintf(&p, "%s/h/loop", tree) > 0);
        assert_int_equal(symlink(".", p), 0);
        free(p);
        assert_true(asprintf(&p, "%s/h/d/up", tree) > 0);
        assert_int_equal(symlink("..", p), 0);

        documents_free(f);
        f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(f->wmd, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "h", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "h", ORIG "/h", "*", true, NULL,
                                                     M_ALL),
                         S_OK);
        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_FULL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "h", NULL), S_OK);
        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vol.snapshot = tree;
        assert_int_equal(file_select(&in, collect_names, &l, NULL), 0);
        strlist_expect(&l, "hostile names", "newline *? \xff\xfe x long255 loop@ up@");
        strlist_clear(&l);
        remove_tree(tree);
}

static int collect_rel(const FileSelectFile *file, void *userdata) {
        StrList *l = userdata;

        strlist_add(l, file->original_path + strlen(ORIG) + 1);
        return 0;
}

/* A real incremental: the files written, created, renamed or chmod'ed after the reference. */
static void test_real_incremental(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *tree = make_scratch(), *a = NULL, *b = NULL;
        const WriterMetadata *writers[1];
        FileSelectVolume vol = { .original = ORIG };
        FileSelectInput in = { .backup_type = VSS_BT_INCREMENTAL, .n_writers = 1, .volumes = &vol, .n_volumes = 1 };
        vss_id iid = id(INSTANCE_ID), wid = id(WRITER_ID);
        struct timespec pause = { .tv_nsec = 30 * 1000 * 1000 };
        StrList l = {};
        char name[64];

        for (unsigned i = 0; i < 50; i++) {
                snprintf(name, sizeof(name), "d%u/f%02u", i % 5, i);
                make_file(tree, name, 0);
        }
        /* Coarse file system clocks: leave a gap on both sides of the reference. */
        assert_int_equal(nanosleep(&pause, NULL), 0);
        in.previous_backup_time = now_filetime();
        assert_int_equal(nanosleep(&pause, NULL), 0);

        make_file(tree, "d1/f11", 0);                          /* rewritten */
        make_file(tree, "d2/f42", 0);                          /* rewritten */
        make_file(tree, "d9/new", 0);                          /* created */
        assert_true(asprintf(&a, "%s/d3/f13", tree) > 0);
        assert_int_equal(chmod(a, 0600), 0);                   /* metadata only: ctime */
        assert_true(asprintf(&b, "%s/d3/f33", tree) > 0);
        free(a);
        assert_true(asprintf(&a, "%s/d4/renamed", tree) > 0);
        assert_int_equal(rename(b, a), 0);                     /* renamed: ctime */

        documents_free(f);
        f->wmd = writer_metadata_new();
        assert_int_equal(writer_metadata_set_identity(f->wmd, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0),
                         S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(f->wmd, VSS_BS_INCREMENTAL), S_OK);
        assert_int_equal(writer_metadata_add_component(f->wmd, VSS_CT_FILEGROUP, "", "t", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(f->wmd, FILESET_FILE_GROUP, "", "t", ORIG, "*", true, NULL, M_FULL),
                         S_OK);
        f->bcd = backup_components_new();
        assert_int_equal(backup_components_set_backup_state(f->bcd, true, false, VSS_BT_INCREMENTAL, false), S_OK);
        assert_int_equal(backup_components_add_component(f->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "t", NULL), S_OK);
        writers[0] = f->wmd;
        in.writers = writers;
        in.bcd = f->bcd;
        vol.snapshot = tree;
        assert_int_equal(file_select(&in, collect_rel, &l, NULL), 0);
        strlist_expect(&l, "real incremental", "d1/f11 d2/f42 d9/new d3/f13 d4/renamed");
        strlist_clear(&l);

        /* The same backup as a full copies all 51. */
        in.backup_type = VSS_BT_FULL;
        assert_int_equal(file_select(&in, collect_rel, &l, NULL), 0);
        assert_int_equal(l.n, 51);
        strlist_clear(&l);
        remove_tree(tree);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_partial_ranges_and_excludes),
                cmocka_unit_test(test_partial_repeats),
                cmocka_unit_test(test_alternate_location),
                cmocka_unit_test(test_component_sets),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_callback_stops),
                cmocka_unit_test(test_volumes),
                cmocka_unit_test(test_hostile_names),
                cmocka_unit_test(test_real_incremental),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

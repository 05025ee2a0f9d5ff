/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-documents.c: the Backup Components Document through vssd, libvss and the public API
 * (vss-semantics.md §8, §9, seed 003, docs/dbus-api.md "Writer edits").
 *
 *   - a writer's stamp, backup metadata, differenced and partial files set in PostSnapshot
 *     reach the requester's SaveAsXML and its read views; save → load → save is identical;
 *   - SetPreviousBackupStamp and SetBackupOptions reach the writer in PrepareForBackup;
 *   - every error code of seed 003 provoked through the API, from a real writer process
 *     (E_INVALIDARG for the argument rules, VSS_E_BAD_STATE in BackupComplete, in
 *     BackupShutdown and for a requester);
 *   - a hostile writer (raw D-Bus, no libvss) answering with edits it may not make is
 *     refused: the document is unchanged and the writer fails PostSnapshot;
 *   - malformed documents: InitializeForBackup and CreateVssExamineWriterMetadata give
 *     VSS_E_INVALID_XML_DOCUMENT with a reason; the writer metadata round-trips too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "vss-bus.h"
#include "writer-metadata.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(WriterMetadata *, writer_metadata_free);

#define SCHEMA_INCR_DIFF_LASTMOD "0x43" /* VSS_BS_DIFFERENTIAL | VSS_BS_INCREMENTAL | VSS_BS_LAST_MODIFY */

static char *path_join(const char *a, const char *b) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

static char *make_dir(Harness *h, const char *name) {
        char *p = path_join(h->dir, name);

        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

static char *save_xml(vss_requester *r) {
        char *xml = NULL;

        assert_hr(vss_requester_save_as_xml(r, &xml), S_OK);
        assert_non_null(xml);
        return xml;
}

/* The requester through DoSnapshotSet, with the calls of mid made just before PrepareForBackup. */
typedef void (*BeforePrepareFn)(vss_requester *r, void *userdata);

static vss_requester *backup_to_snapshot(const char *volume, BeforePrepareFn mid, void *userdata, BackupRun *run) {
        vss_requester *r = requester_new_checked();

        assert_non_null(r);
        assert_hr(backup_run_steps(r, volume, STEP_INITIALIZE, STEP_ADD_VOLUME, run), S_OK);
        if (mid)
                mid(r, userdata);
        assert_hr(backup_run_steps(r, volume, STEP_PREPARE, STEP_DO_SNAPSHOT, run), S_OK);
        return r;
}

/* The writer's edit line for arg in event: its hr field. */
static void assert_edit(const TestWriter *w, const char *event, const char *op, const char *arg, const char *hr) {
        char needle[1024];

        snprintf(needle, sizeof needle, "edit in=%s op=%s arg=%s hr=%s", event, op, arg, hr);
        if (writer_log_wait(w, needle, 1) < 0) {
                print_error("writer %s never logged \"%s\"\n", w->name, needle);
                fail();
        }
}

/* ------------------------------------------------------------------------------------------ */
/* A writer's edits reach the document; the document round-trips                              */
/* ------------------------------------------------------------------------------------------ */

static void test_writer_edits_reach_document(void **state) {
        _cleanup_free_ char *volume = NULL, *data = NULL, *fresh = NULL, *xml = NULL, *xml2 = NULL, *xml3 = NULL;
        _cleanup_free_ char *declared = NULL, *newfiles = NULL, *partial = NULL;
        const char *stamp = NULL, *metadata = NULL, *path = NULL, *spec = NULL, *ranges = NULL;
        vss_writer_components_ext *ext = NULL;
        vss_component *comp = NULL;
        vss_requester *r, *r2;
        vss_timestamp t = 0;
        vss_id instance, writer;
        unsigned n = 0;
        bool recursive = false, succeeded = true;
        TestWriter *w;
        BackupRun run = {};
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        data = make_dir(h, "data");
        fresh = make_dir(h, "fresh");
        assert_true(asprintf(&declared, "%s:*:1:133500000000000000", data) > 0);
        assert_true(asprintf(&newfiles, "%s:*.log:0:0", fresh) > 0);
        assert_true(asprintf(&partial, "%s:main.wal:0:4096,0x10000:512", fresh) > 0);

        assert_ok0(harness_add_writer(h, "doc",
                                      (const char *const[]) { "--file", data, "--schema", SCHEMA_INCR_DIFF_LASTMOD,
                                                              "--stamp", "lsn:42", "--backup-metadata", "meta one",
                                                              "--differenced", declared, "--differenced", newfiles,
                                                              "--partial", partial, NULL },
                                      &w));

        r = backup_to_snapshot(volume, NULL, NULL, &run);
        assert_edit(w, "PostSnapshot", "stamp", "lsn:42", "S_OK");
        assert_edit(w, "PostSnapshot", "metadata", "meta one", "S_OK");
        assert_edit(w, "PostSnapshot", "differenced", declared, "S_OK");
        assert_edit(w, "PostSnapshot", "differenced", newfiles, "S_OK");
        assert_edit(w, "PostSnapshot", "partial", partial, "S_OK");

        /* SaveAsXML holds what the writer set. */
        xml = save_xml(r);
        assert_non_null(strstr(xml, "backupStamp=\"lsn:42\""));
        assert_non_null(strstr(xml, "backupMetadata=\"meta one\""));
        assert_non_null(strstr(xml, "lastModifyTime=\"133500000000000000\""));
        assert_non_null(strstr(xml, "filename=\"main.wal\""));

        /* The read view says the same, field by field. */
        assert_hr(vss_requester_get_writer_components_count(r, &n), S_OK);
        assert_int_equal(n, 1);
        assert_hr(vss_requester_get_writer_components(r, 1, &ext), VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_get_writer_components(r, 0, &ext), S_OK);
        assert_hr(vss_writer_components_ext_get_writer_info(ext, &instance, &writer), S_OK);
        assert_true(vss_id_equal(&instance, &w->instance_id));
        assert_true(vss_id_equal(&writer, &w->class_id));
        assert_hr(vss_writer_components_ext_get_count(ext, &n), S_OK);
        assert_int_equal(n, 1);
        assert_hr(vss_writer_components_ext_get_component(ext, 0, &comp), S_OK);
        assert_hr(vss_component_get_backup_stamp(comp, &stamp), S_OK);
        assert_string_equal(stamp, "lsn:42");
        assert_hr(vss_component_get_backup_metadata(comp, &metadata), S_OK);
        assert_string_equal(metadata, "meta one");
        assert_hr(vss_component_get_differenced_files_count(comp, &n), S_OK);
        assert_int_equal(n, 2);
        assert_hr(vss_component_get_differenced_file(comp, 0, &path, &spec, &recursive, &t), S_OK);
        assert_string_equal(path, data);
        assert_string_equal(spec, "*");
        assert_true(recursive);
        assert_int_equal(t, 133500000000000000LL);
        assert_hr(vss_component_get_differenced_file(comp, 1, &path, &spec, &recursive, &t), S_OK);
        assert_string_equal(path, fresh);
        assert_int_equal(t, 0);
        assert_hr(vss_component_get_differenced_file(comp, 2, &path, NULL, NULL, NULL), VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_component_get_partial_file_count(comp, &n), S_OK);
        assert_int_equal(n, 1);
        assert_hr(vss_component_get_partial_file(comp, 0, NULL, NULL, &ranges, NULL), S_OK);
        assert_string_equal(ranges, "0:4096,0x10000:512");
        assert_hr(vss_component_get_backup_succeeded(comp, &succeeded), S_OK);
        assert_false(succeeded);

        /* SetBackupSucceeded shows in the document, and the writer reads it in BackupComplete. */
        assert_hr(vss_requester_set_backup_succeeded(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                     true),
                  S_OK);
        assert_hr(backup_run_steps(r, volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run), S_OK);
        assert_ok0(writer_log_wait(w, "event=BackupComplete", 1));
        assert_int_equal(writer_log_count(w, "components=data:1"), 1);
        assert_ok0(writer_log_wait(w, "doc in=BackupComplete prev=- options=- stamp=lsn:42 metadata=meta one "
                                      "differenced=2 partial=1", 1));
        free(xml);
        xml = save_xml(r);
        assert_non_null(strstr(xml, "backupSucceeded=\"yes\""));

        /* The view outlives the requester that made it. */
        vss_requester_release(r);
        assert_hr(vss_component_get_backup_stamp(comp, &stamp), S_OK);
        assert_string_equal(stamp, "lsn:42");
        vss_writer_components_ext_free(ext);

        /* Save → load (a new requester) → save gives the same bytes. */
        r2 = requester_new_checked();
        assert_non_null(r2);
        assert_hr(vss_requester_initialize_for_backup(r2, xml), S_OK);
        xml2 = save_xml(r2);
        assert_string_equal(xml, xml2);
        /* The loaded document's components are there for the read views too. */
        assert_hr(vss_requester_get_writer_components_count(r2, &n), S_OK);
        assert_int_equal(n, 1);
        vss_requester_release(r2);

        /* And once more through a third requester: stable from the first save on. */
        r2 = requester_new_checked();
        assert_non_null(r2);
        assert_hr(vss_requester_initialize_for_backup(r2, xml2), S_OK);
        xml3 = save_xml(r2);
        assert_string_equal(xml2, xml3);
        vss_requester_release(r2);

        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */
/* The requester's values reach the writer                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct RequesterValues {
        TestWriter *w;
} RequesterValues;

static void set_requester_values(vss_requester *r, void *userdata) {
        RequesterValues *v = userdata;
        TestWriter *w = v->w;
        vss_id other;

        vss_id_generate(&other);
        assert_hr(vss_requester_set_previous_backup_stamp(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "",
                                                          "data", "lsn:41"),
                  S_OK);
        assert_hr(vss_requester_set_backup_options(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                   "mode=fast"),
                  S_OK);
        /* No such component, or not of that writer class or type: not found. */
        assert_hr(vss_requester_set_backup_options(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "", "nope",
                                                   "x"),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_set_backup_options(r, &w->instance_id, &other, VSS_CT_FILEGROUP, "", "data", "x"),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_set_previous_backup_stamp(r, &w->instance_id, &w->class_id, VSS_CT_DATABASE, "",
                                                          "data", "x"),
                  VSS_E_OBJECT_NOT_FOUND);
        /* A value the document cannot carry. */
        assert_hr(vss_requester_set_backup_options(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                   "bell\a"),
                  E_INVALIDARG);
}

static void test_requester_values_reach_writer(void **state) {
        _cleanup_free_ char *volume = NULL, *xml = NULL;
        RequesterValues v = {};
        vss_requester *r;
        BackupRun run = {};
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        /* The writer stamps in PrepareForBackup: the stamp goes to vssd and comes back with
         * PostSnapshot's slice. */
        assert_ok0(harness_add_writer(h, "doc",
                                      (const char *const[]) { "--stamp", "from-prepare", "--edit-in",
                                                              "prepare-backup", NULL },
                                      &v.w));

        r = backup_to_snapshot(volume, set_requester_values, &v, &run);
        assert_ok0(writer_log_wait(v.w, "doc in=PrepareForBackup prev=lsn:41 options=mode=fast stamp=- "
                                        "metadata=- differenced=0 partial=0", 1));
        assert_edit(v.w, "PrepareForBackup", "stamp", "from-prepare", "S_OK");
        assert_ok0(writer_log_wait(v.w, "doc in=PostSnapshot prev=lsn:41 options=mode=fast stamp=from-prepare", 1));

        /* After PrepareForBackup the requester may not change them any more. */
        assert_hr(vss_requester_set_previous_backup_stamp(r, &v.w->instance_id, &v.w->class_id, VSS_CT_FILEGROUP, "",
                                                          "data", "late"),
                  VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_backup_options(r, &v.w->instance_id, &v.w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                   "late"),
                  VSS_E_BAD_STATE);
        xml = save_xml(r);
        assert_non_null(strstr(xml, "backupOptions=\"mode=fast\""));
        assert_non_null(strstr(xml, "previousBackupStamp=\"lsn:41\""));

        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */
/* Seed 003 through the API                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_seed003_codes(void **state) {
        _cleanup_free_ char *volume = NULL, *data = NULL, *fresh = NULL, *wild = NULL, *slash = NULL;
        _cleanup_free_ char *mismatch = NULL, *good = NULL, *viavar = NULL, *again = NULL, *partial_in = NULL;
        _cleanup_free_ char *late = NULL, *xml = NULL;
        vss_writer_components_ext *ext = NULL;
        vss_component *comp = NULL;
        vss_requester *r;
        TestWriter *w, *noschema;
        BackupRun run = {};
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        data = make_dir(h, "data");
        fresh = make_dir(h, "fresh");
        assert_int_equal(setenv("VSS_DOC_TEST_NEW", fresh, 1), 0);

        assert_true(asprintf(&wild, "%s/*:*:0:0", data) > 0);          /* wildcard in the path */
        assert_true(asprintf(&slash, "%s:sub/x.db:0:0", data) > 0);    /* '/' in the file spec */
        assert_true(asprintf(&mismatch, "%s:*.db:0:0", data) > 0);     /* overlaps, but not the declared set */
        assert_true(asprintf(&good, "%s:*:1:0", data) > 0);            /* exactly the declared set */
        assert_true(asprintf(&viavar, "${VSS_DOC_TEST_NEW}:*.log:1:0") > 0); /* new files, via a variable */
        assert_true(asprintf(&again, "%s:*:1:5", data) > 0);           /* the same set twice */
        assert_true(asprintf(&partial_in, "%s:x.bin:0:10", data) > 0); /* a partial inside a differenced set */
        assert_true(asprintf(&late, "%s/late:*:0:0", fresh) > 0);      /* valid arguments, wrong event */

        assert_ok0(harness_add_writer(h, "doc",
                                      (const char *const[]) { "--file", data, "--schema", SCHEMA_INCR_DIFF_LASTMOD,
                                                              "--differenced", wild, "--differenced", slash,
                                                              "--differenced", mismatch, "--differenced", good,
                                                              "--differenced", viavar, "--differenced", again,
                                                              "--partial", partial_in,
                                                              "--edit-in", "post-snapshot",
                                                              NULL },
                                      &w));
        /* A writer that never declared VSS_BS_LAST_MODIFY. */
        assert_ok0(harness_add_writer(h, "noschema",
                                      (const char *const[]) { "--differenced", late, "--edit-in", "prepare-backup",
                                                              NULL },
                                      &noschema));

        r = backup_to_snapshot(volume, NULL, NULL, &run);
        assert_edit(w, "PostSnapshot", "differenced", wild, "E_INVALIDARG");
        assert_edit(w, "PostSnapshot", "differenced", slash, "E_INVALIDARG");
        assert_edit(w, "PostSnapshot", "differenced", mismatch, "E_INVALIDARG");
        assert_edit(w, "PostSnapshot", "differenced", good, "S_OK");
        assert_edit(w, "PostSnapshot", "differenced", viavar, "S_OK");
        assert_edit(w, "PostSnapshot", "differenced", again, "E_INVALIDARG");
        assert_edit(w, "PostSnapshot", "partial", partial_in, "E_INVALIDARG");
        assert_edit(noschema, "PrepareForBackup", "differenced", late, "E_INVALIDARG");

        /* Only what succeeded is in the document, with the variable expanded. */
        xml = save_xml(r);
        assert_non_null(strstr(xml, fresh));
        assert_null(strstr(xml, "VSS_DOC_TEST_NEW"));
        assert_null(strstr(xml, "x.bin"));

        /* A requester is not a writer: every writer-only call is a state error. */
        assert_hr(vss_requester_get_writer_components(r, 0, &ext), S_OK);
        assert_hr(vss_writer_components_ext_get_component(ext, 0, &comp), S_OK);
        assert_hr(vss_component_add_differenced_files_by_last_modify_time(comp, fresh, "*", false, 0),
                  VSS_E_BAD_STATE);
        assert_hr(vss_component_add_partial_file(comp, fresh, "f", "0:1", NULL), VSS_E_BAD_STATE);
        assert_hr(vss_component_set_backup_stamp(comp, "x"), VSS_E_BAD_STATE);
        assert_hr(vss_component_set_backup_metadata(comp, "x"), VSS_E_BAD_STATE);
        vss_writer_components_ext_free(ext);

        assert_hr(backup_run_steps(r, volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(w, "event=BackupShutdown", 1));
        harness_free(h);

        /* In BackupComplete and BackupShutdown the same valid call is refused as a state error. */
        assert_ok0(harness_new(NULL, &h));
        free(volume); /* the harness hands out a new path each time */
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "late",
                                      (const char *const[]) { "--file", data, "--schema", SCHEMA_INCR_DIFF_LASTMOD,
                                                              "--differenced", late, "--stamp", "s",
                                                              "--edit-in", "backup-complete",
                                                              "--edit-in", "backup-shutdown", NULL },
                                      &w));
        r = backup_to_snapshot(volume, NULL, NULL, &run);
        assert_hr(backup_run_steps(r, volume, STEP_BACKUP_COMPLETE, STEP_BACKUP_COMPLETE, &run), S_OK);
        assert_edit(w, "BackupComplete", "differenced", late, "VSS_E_BAD_STATE");
        assert_edit(w, "BackupComplete", "stamp", "s", "VSS_E_BAD_STATE");
        vss_requester_release(r);
        assert_edit(w, "BackupShutdown", "differenced", late, "VSS_E_BAD_STATE");
        assert_edit(w, "BackupShutdown", "stamp", "s", "VSS_E_BAD_STATE");
        harness_free(h);
        assert_int_equal(unsetenv("VSS_DOC_TEST_NEW"), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* A hostile writer                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum HostileMode {
        HOSTILE_OTHER_WRITER,   /* claims the victim's instance id and sets a stamp on it */
        HOSTILE_FROZEN_FIELD,   /* its own component, but changes the requester's backup options */
        HOSTILE_MALFORMED,      /* not a document at all */
} HostileMode;

typedef struct Hostile {
        const char *socket_path;
        HostileMode mode;
        vss_id victim;          /* the other writer's instance id */
        vss_id class_id;
        vss_id instance_id;     /* after Subscribe */
} Hostile;

/* s with every occurrence of from replaced by to (malloc'd). */
static char *replace_all(const char *s, const char *from, const char *to) {
        size_t n = 0, lf = strlen(from), lt = strlen(to);
        char *out, *o;

        for (const char *p = strstr(s, from); p; p = strstr(p + lf, from))
                n++;
        out = malloc(strlen(s) + n * lt + 1);
        if (!out)
                return NULL;
        o = out;
        for (const char *p = s;;) {
                const char *q = strstr(p, from);

                if (!q) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t) (q - p));
                o += q - p;
                memcpy(o, to, lt);
                o += lt;
                p = q + lf;
        }
        return out;
}

static char *hostile_edit(const Hostile *x, const char *slice) {
        switch (x->mode) {
        case HOSTILE_OTHER_WRITER: {
                _cleanup_free_ char *moved = replace_all(slice, vss_id_to_str(&x->instance_id).s,
                                                         vss_id_to_str(&x->victim).s);

                return moved ? replace_all(moved, "<COMPONENT ", "<COMPONENT backupStamp=\"evil\" ") : NULL;
        }
        case HOSTILE_FROZEN_FIELD:
                return replace_all(slice, "backupOptions=\"honest\"", "backupOptions=\"evil\"");
        default:
                return strdup("<BACKUP_COMPONENTS version=\"1\"><oops");
        }
}

static int hostile_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hostile *x = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *edited = NULL;
        const char *member = sd_bus_message_get_member(m), *key, *slice = NULL;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0 && streq(key, "components_xml"))
                        r = sd_bus_message_read(m, "v", "s", &slice);
                else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;

        if (streq(member, "Identify")) {
                _cleanup_(writer_metadata_freep) WriterMetadata *md = writer_metadata_new();

                if (!md ||
                    writer_metadata_set_identity(md, &x->instance_id, &x->class_id, "hostile", "", VSS_UT_USERDATA,
                                                 VSS_ST_OTHER, 60000) != S_OK ||
                    writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_NOT_THERE, NULL, NULL, VSS_WRE_NEVER,
                                                       false) != S_OK ||
                    writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "data", "", false, false, true, false,
                                                  0) != S_OK)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "b", 1);
                if (r >= 0)
                        r = writer_metadata_append(reply, md);
        } else {
                if (streq(member, "PostSnapshot") && slice) {
                        edited = hostile_edit(x, slice);
                        if (!edited)
                                return -ENOMEM;
                }
                r = sd_bus_message_append(reply, "bi", 1, 0);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0 && edited)
                        r = sd_bus_message_append(reply, "{sv}", "components_xml", "s", edited);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable hostile_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Identify", "a{sv}", "b" VSS_BUS_SIG_WMD, hostile_event, 0),
        SD_BUS_METHOD("PrepareForBackup", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("PrepareForSnapshot", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("Freeze", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("Thaw", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("PostSnapshot", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("Abort", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("BackupComplete", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("BackupShutdown", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_VTABLE_END
};

/* The hostile writer's process: subscribe on a raw connection, then answer events for ever. */
static int hostile_main(int report_fd, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        Hostile *x = userdata;
        const char *instance;
        sd_bus *bus = NULL;
        int r;

        if (vss_bus_connect(x->socket_path, &bus) < 0)
                return 2;
        if (sd_bus_add_object_vtable(bus, NULL, VSS_BUS_WRITER_PATH, VSS_BUS_IFACE_EVENTS, hostile_vtable, x) < 0)
                return 3;
        r = sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, "Subscribe", &error, &reply,
                               "sssiiiuu", vss_id_to_str(&x->class_id).s, "hostile", "", (int) VSS_UT_USERDATA,
                               (int) VSS_ST_OTHER, (int) VSS_APP_FRONT_END, 60000U,
                               (uint32_t) VSS_SM_BACKUP_EVENTS_FLAG);
        if (r < 0 || sd_bus_message_read(reply, "s", &instance) < 0 || vss_id_parse(instance, &x->instance_id) != S_OK)
                return 4;
        report(report_fd, "subscribed %s\n", instance);
        sd_bus_message_unref(reply);

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 0; /* vssd went away: the test is over */
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        return 0;
        }
}

static void set_honest_options(vss_requester *r, void *userdata) {
        const TestWriter *hostile = userdata;

        assert_hr(vss_requester_set_backup_options(r, &hostile->instance_id, &hostile->class_id, VSS_CT_FILEGROUP, "",
                                                   "data", "honest"),
                  S_OK);
}

static void run_hostile(HostileMode mode, const char *reason) {
        _cleanup_free_ char *volume = NULL, *before = NULL, *after = NULL;
        TestWriter hostile = { .name = (char *) "hostile" };
        char line[256];
        Hostile x = { .mode = mode };
        vss_requester *r;
        TestWriter *victim;
        BackupRun run = {};
        pid_t pid;
        Harness *h;
        int fd;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "victim", (const char *const[]) { "--stamp", "honest-stamp", NULL },
                                      &victim));

        x.socket_path = h->socket_path;
        x.victim = victim->instance_id;
        vss_id_generate(&x.class_id);
        assert_ok0(child_start(hostile_main, &x, &pid, &fd));
        assert_ok0(child_wait_report(fd, "subscribed ", line, sizeof line, HARNESS_WAIT_MS));
        line[strcspn(line, "\n")] = 0;
        assert_hr(vss_id_parse(line + strlen("subscribed "), &hostile.instance_id), S_OK);
        hostile.class_id = x.class_id;

        r = backup_to_snapshot(volume, set_honest_options, &hostile, &run);

        /* The set stands (PostSnapshot failures raise no abort); the hostile writer failed. */
        assert_writer_status(r, &hostile, VSS_WS_FAILED_AT_POST_SNAPSHOT, VSS_E_WRITERERROR_NONRETRYABLE);
        assert_writer_status(r, victim, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, S_OK);

        /* Nothing of the hostile answer is in the document; the victim's own edit is. */
        after = save_xml(r);
        assert_null(strstr(after, "evil"));
        assert_non_null(strstr(after, "backupStamp=\"honest-stamp\""));
        assert_non_null(strstr(after, "backupOptions=\"honest\""));
        assert_int_equal(log_count(h->vssd_log, "are refused"), 1);
        assert_int_equal(log_count(h->vssd_log, reason), 1);

        vss_requester_release(r);
        assert_int_equal(kill(pid, SIGKILL), 0);
        (void) child_reap(pid);
        close(fd);
        harness_free(h);
}

static void test_hostile_writer_refused(void **state) {
        run_hostile(HOSTILE_OTHER_WRITER, "the answer edits components of writer instance");
        run_hostile(HOSTILE_FROZEN_FIELD, "backupOptions may not be changed by a writer");
        run_hostile(HOSTILE_MALFORMED, "VSS_E_INVALID_XML_DOCUMENT");
}

/* ------------------------------------------------------------------------------------------ */
/* Malformed documents; the writer metadata document                                          */
/* ------------------------------------------------------------------------------------------ */

static void test_malformed_documents(void **state) {
        static const char *const bad[] = {
                "<BACKUP_COMPONENTS version=\"1\"",
                "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                "<BACKUP_COMPONENTS version=\"1\">&e;</BACKUP_COMPONENTS>",
                "<BACKUP_COMPONENTS version=\"2\"/>",
                "<WRITER_METADATA version=\"1\"/>",
                "not xml at all",
        };
        _cleanup_free_ char *wmd = NULL, *wmd2 = NULL, *reason = NULL;
        vss_examine_writer_metadata *m = NULL, *loaded = NULL;
        const char *name = NULL;
        vss_id instance, writer;
        vss_requester *r;
        TestWriter *w;
        BackupRun run = {};
        char *xml = NULL;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_add_writer(h, "doc", (const char *const[]) { "--schema", SCHEMA_INCR_DIFF_LASTMOD, NULL },
                                      &w));

        r = requester_new_checked();
        assert_non_null(r);
        /* Before InitializeForBackup there is no document to save. */
        assert_hr(vss_requester_save_as_xml(r, &xml), VSS_E_BAD_STATE);
        assert_null(xml);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_hr(vss_requester_initialize_for_backup(r, bad[i]), VSS_E_INVALID_XML_DOCUMENT);
                assert_string_not_equal(vss_requester_get_error_message(r), "");
        }
        /* A refused document leaves the requester where it was: it may still initialize. */
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), VSS_E_BAD_STATE);

        /* IVssExamineWriterMetadata::SaveAsXML and CreateVssExamineWriterMetadata round-trip. */
        assert_hr(vss_requester_get_writer_metadata(r, 0, &instance, &m), S_OK);
        assert_hr(vss_examine_writer_metadata_save_as_xml(m, &wmd), S_OK);
        assert_non_null(strstr(wmd, "mask=\"0x00000043\""));
        assert_hr(vss_examine_writer_metadata_new_from_xml(wmd, &loaded, NULL), S_OK);
        assert_hr(vss_examine_writer_metadata_get_identity(loaded, &instance, &writer, &name, NULL, NULL, NULL),
                  S_OK);
        assert_true(vss_id_equal(&instance, &w->instance_id));
        assert_true(vss_id_equal(&writer, &w->class_id));
        assert_string_equal(name, "doc");
        assert_hr(vss_examine_writer_metadata_save_as_xml(loaded, &wmd2), S_OK);
        assert_string_equal(wmd, wmd2);
        vss_examine_writer_metadata_free(loaded);
        /* A view the requester owns is not freed by the caller's free. */
        vss_examine_writer_metadata_free(m);
        assert_hr(vss_examine_writer_metadata_get_identity(m, NULL, NULL, &name, NULL, NULL, NULL), S_OK);

        assert_hr(vss_examine_writer_metadata_new_from_xml("<WRITER_METADATA version=\"1\"><IDENTIFICATION/>", &loaded,
                                                            &reason),
                  VSS_E_INVALID_XML_DOCUMENT);
        assert_non_null(reason);
        assert_hr(vss_examine_writer_metadata_new_from_xml(NULL, &loaded, NULL), E_INVALIDARG);

        vss_requester_release(r);
        harness_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_writer_edits_reach_document),
                cmocka_unit_test(test_requester_values_reach_writer),
                cmocka_unit_test(test_seed003_codes),
                cmocka_unit_test(test_hostile_writer_refused),
                cmocka_unit_test(test_malformed_documents),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

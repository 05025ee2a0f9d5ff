/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restore.c: the VSS restore sequence end to end (vss-semantics.md §3, §4, §8, seed 004):
 * a component-mode backup with a real writer process saves its Backup Components Document;
 * a second requester restores from it.
 *
 *   - InitializeForRestore(saved xml), Gather, SetSelectedForRestore, SetRestoreOptions,
 *     SetAdditionalRestores, AddNewTarget, PreRestore: the writer's OnPreRestore sees the
 *     selection, options, additional restores and new target, and sets a restore target and
 *     restore metadata the requester then reads; SetFileRestoreStatus(VSS_RS_ALL), PostRestore:
 *     OnPostRestore sees the status and the new target;
 *   - the state rules: AbortBackup during a restore, backup-only calls on a restore object and
 *     restore calls on a backup object, SetFileRestoreStatus outside PreRestore..PostRestore,
 *     AddNewTarget for a file set the writer did not declare: each with its code;
 *   - who gets the events: a writer with nothing selected and a VSS_WRE_NEVER writer get none;
 *   - a component whose writer is gone cannot be selected (VSS_E_OBJECT_NOT_FOUND), and a new
 *     instance of the same writer class takes the document's components over;
 *   - a writer vetoing PreRestore is FAILED_AT_PRE_RESTORE, its failure message reaches the
 *     requester, and it gets no PostRestore;
 *   - AddRestoreSubcomponent: only a subcomponent the writer declared below the component,
 *     once; it alone involves the writer in the restore;
 *   - a hostile writer (raw D-Bus, no libvss) answering PreRestore / PostRestore with edits a
 *     writer may not make there is refused by vssd: the document is unchanged and the writer
 *     fails that event.
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

#define SCHEMA_NEW_TARGET "0x100" /* VSS_BS_WRITER_SUPPORTS_NEW_TARGET */

static char *make_dir(Harness *h, const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", h->dir, name) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

/* A whole component-mode FULL backup of volume; returns its saved document (malloc'd). */
static char *backup_and_save(const char *volume) {
        vss_requester *r = requester_new_checked();
        BackupRun run = {};
        char *xml = NULL;

        assert_non_null(r);
        assert_hr(backup_run_steps(r, volume, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run), S_OK);
        assert_hr(vss_requester_save_as_xml(r, &xml), S_OK);
        assert_non_null(xml);
        vss_requester_release(r);
        return xml;
}

/* A restore requester from xml, metadata gathered. */
static vss_requester *restore_gathered(const char *xml) {
        vss_requester *r = requester_new_checked();
        vss_async *a = NULL;

        assert_non_null(r);
        assert_hr(vss_requester_initialize_for_restore(r, xml), S_OK);
        assert_hr(async_finish(vss_requester_gather_writer_metadata(r, &a), &a), VSS_S_ASYNC_FINISHED);
        return r;
}

static void wait_line(const TestWriter *w, const char *needle) {
        if (writer_log_wait(w, needle, 1) < 0) {
                print_error("writer %s never logged \"%s\"\n", w->name, needle);
                fail();
        }
}

/* The first component of the requester's read view of writer w (the caller frees *ret_ext). */
static vss_component *view_component(vss_requester *r, const TestWriter *w, vss_writer_components_ext **ret_ext) {
        vss_writer_components_ext *ext = NULL;
        vss_component *comp = NULL;
        vss_id instance, writer;
        unsigned n = 0;

        assert_hr(vss_requester_get_writer_components_count(r, &n), S_OK);
        for (unsigned i = 0; i < n; i++) {
                assert_hr(vss_requester_get_writer_components(r, i, &ext), S_OK);
                assert_hr(vss_writer_components_ext_get_writer_info(ext, &instance, &writer), S_OK);
                if (vss_id_equal(&writer, &w->class_id)) {
                        assert_hr(vss_writer_components_ext_get_component(ext, 0, &comp), S_OK);
                        *ret_ext = ext;
                        return comp;
                }
                vss_writer_components_ext_free(ext);
        }
        fail_msg("writer %s has no components in the document", w->name);
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */

static void test_restore_with_writer(void **state) {
        _cleanup_free_ char *volume = NULL, *data = NULL, *alt = NULL, *xml = NULL, *needle = NULL;
        const char *metadata = NULL, *options = NULL;
        vss_writer_components_ext *ext = NULL;
        vss_restore_target target = VSS_RT_UNDEFINED;
        vss_file_restore_status status = VSS_RS_UNDEFINED;
        vss_requester *r, *b;
        vss_component *comp;
        vss_async *a = NULL;
        vss_id set_id;
        bool selected = false;
        TestWriter *w;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        data = make_dir(h, "data");
        alt = make_dir(h, "alt");
        assert_ok0(harness_add_writer(h, "app",
                                      (const char *const[]) { "--file", data, "--schema", SCHEMA_NEW_TARGET,
                                                              "--restore-target", "2",
                                                              "--restore-metadata", "rmeta",
                                                              "--post-restore-msg", "late", NULL },
                                      &w));

        xml = backup_and_save(volume);
        /* Releasing the backup sent BackupShutdown; a restore never does (seed 004, §3). */
        wait_line(w, "event=BackupShutdown");

        /* Restore calls on a backup object are refused, and the other way round below. */
        b = requester_new_checked();
        assert_non_null(b);
        assert_hr(vss_requester_initialize_for_backup(b, NULL), S_OK);
        assert_hr(vss_requester_set_restore_state(b, VSS_RTYPE_BY_COPY), VSS_E_BAD_STATE);
        assert_hr(async_finish(vss_requester_pre_restore(b, &a), &a), VSS_E_BAD_STATE);
        vss_requester_release(b);

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(vss_requester_initialize_for_restore(r, NULL), VSS_E_INVALID_XML_DOCUMENT);
        assert_hr(vss_requester_initialize_for_restore(r, "<not-a-bcd/>"), VSS_E_INVALID_XML_DOCUMENT);
        assert_hr(vss_requester_initialize_for_restore(r, xml), S_OK);
        assert_hr(vss_requester_initialize_for_restore(r, xml), VSS_E_BAD_STATE);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), VSS_E_BAD_STATE);
        assert_hr(vss_requester_abort_backup(r), VSS_E_BAD_STATE);
        assert_hr(vss_requester_start_snapshot_set(r, &set_id), VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false), VSS_E_BAD_STATE);
        /* Selection needs GatherWriterMetadata (it checks the writer runs). */
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", true),
                  VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_restore_state(r, VSS_RTYPE_BY_COPY), S_OK);
        assert_hr(async_finish(vss_requester_gather_writer_metadata(r, &a), &a), VSS_S_ASYNC_FINISHED);

        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "nope", true),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_set_selected_for_restore(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "",
                                                         "data", true),
                  S_OK);
        assert_hr(vss_requester_set_restore_options(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                    "\"Roll Forward\"=\"None\""),
                  S_OK);
        assert_hr(vss_requester_set_additional_restores(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", true),
                  S_OK);
        /* A new target must name a file set the writer declared: (data, *, recursive). */
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", data, "*.db",
                                               true, alt),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", data, "*", false,
                                               alt),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", data, "*", true,
                                               alt),
                  S_OK);
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", data, "*", true,
                                               alt),
                  VSS_E_OBJECT_ALREADY_EXISTS);
        /* Not before PreRestore. */
        assert_hr(vss_requester_set_file_restore_status(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                        VSS_RS_ALL),
                  VSS_E_BAD_STATE);
        assert_hr(async_finish(vss_requester_post_restore(r, &a), &a), VSS_E_BAD_STATE);

        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);

        /* OnPreRestore saw the selection, the options, additional restores and the new target. */
        assert_true(asprintf(&needle,
                             "restore in=PreRestore selected=1 options=\"Roll Forward\"=\"None\" additional=1 "
                             "status=0 target=0 type=1 new_targets=%s:*:1:%s",
                             data, alt) > 0);
        wait_line(w, needle);
        wait_line(w, "edit in=PreRestore op=restore-target arg=2 hr=S_OK");
        wait_line(w, "edit in=PreRestore op=restore-metadata arg=rmeta hr=S_OK");
        /* The post-restore message belongs to PostRestore. */
        wait_line(w, "edit in=PreRestore op=post-restore-msg arg=late hr=VSS_E_BAD_STATE");

        /* The writer's restore target and metadata are visible to the requester. */
        comp = view_component(r, w, &ext);
        assert_hr(vss_component_get_restore_target(comp, &target), S_OK);
        assert_int_equal(target, VSS_RT_ALTERNATE);
        assert_hr(vss_component_get_restore_metadata(comp, &metadata), S_OK);
        assert_string_equal(metadata, "rmeta");
        assert_hr(vss_component_is_selected_for_restore(comp, &selected), S_OK);
        assert_true(selected);
        assert_hr(vss_component_get_restore_options(comp, &options), S_OK);
        assert_string_equal(options, "\"Roll Forward\"=\"None\"");
        /* A requester's view is read-only. */
        assert_hr(vss_component_set_restore_target(comp, VSS_RT_ORIGINAL), VSS_E_BAD_STATE);
        vss_writer_components_ext_free(ext);

        /* No aborts for restores, and nothing may be selected any more. */
        assert_hr(vss_requester_abort_backup(r), VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", false),
                  VSS_E_BAD_STATE);
        assert_hr(vss_requester_set_restore_options(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "x"),
                  VSS_E_BAD_STATE);

        assert_hr(vss_requester_set_file_restore_status(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "nope",
                                                        VSS_RS_ALL),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_set_file_restore_status(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                        VSS_RS_ALL),
                  S_OK);
        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_E_BAD_STATE);
        assert_hr(async_finish(vss_requester_post_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);

        free(needle);
        assert_true(asprintf(&needle,
                             "restore in=PostRestore selected=1 options=\"Roll Forward\"=\"None\" additional=1 "
                             "status=2 target=2 type=1 new_targets=%s:*:1:%s",
                             data, alt) > 0);
        wait_line(w, needle);
        wait_line(w, "edit in=PostRestore op=post-restore-msg arg=late hr=S_OK");
        assert_int_equal(writer_log_count(w, "event=PreRestore"), 1);
        assert_int_equal(writer_log_count(w, "event=PostRestore"), 1);

        /* After PostRestore: the status stands, no more status changes, no abort. */
        assert_hr(vss_requester_set_file_restore_status(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data",
                                                        VSS_RS_FAILED),
                  VSS_E_BAD_STATE);
        assert_hr(vss_requester_abort_backup(r), VSS_E_BAD_STATE);
        comp = view_component(r, w, &ext);
        assert_hr(vss_component_get_file_restore_status(comp, &status), S_OK);
        assert_int_equal(status, VSS_RS_ALL);
        vss_writer_components_ext_free(ext);
        assert_writer_status(r, w, VSS_WS_STABLE, S_OK);

        /* Only the backup's release raised BackupShutdown. */
        assert_int_equal(writer_log_count(w, "event=BackupShutdown"), 1);
        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */

static void test_who_gets_restore_events(void **state) {
        _cleanup_free_ char *volume = NULL, *xml = NULL;
        TestWriter *selected, *unselected, *never;
        vss_requester *r;
        vss_async *a = NULL;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "selected", NULL, &selected));
        assert_ok0(harness_add_writer(h, "unselected", NULL, &unselected));
        assert_ok0(harness_add_writer(h, "never", (const char *const[]) { "--writer-restore", "never", NULL }, &never));

        xml = backup_and_save(volume);
        r = restore_gathered(xml);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &selected->class_id, VSS_CT_FILEGROUP, "", "data",
                                                         true),
                  S_OK);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &never->class_id, VSS_CT_FILEGROUP, "", "data",
                                                         true),
                  S_OK);
        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_hr(async_finish(vss_requester_post_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);

        /* Each event is logged before the writer answers, and vssd waits for the answers. */
        assert_int_equal(writer_log_count(selected, "event=PreRestore"), 1);
        assert_int_equal(writer_log_count(selected, "event=PostRestore"), 1);
        assert_int_equal(writer_log_count(unselected, "event=PreRestore"), 0);
        assert_int_equal(writer_log_count(unselected, "event=PostRestore"), 0);
        assert_int_equal(writer_log_count(never, "event=PreRestore"), 0);
        assert_int_equal(writer_log_count(never, "event=PostRestore"), 0);

        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */

static void test_writer_gone(void **state) {
        _cleanup_free_ char *volume = NULL, *xml = NULL;
        vss_writer_components_ext *ext = NULL;
        vss_id instance, writer;
        char id_buf[VSS_ID_STRING_MAX];
        TestWriter *w, *w2;
        vss_requester *r;
        vss_async *a = NULL;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "app", (const char *const[]) { "--file", "/srv/app", NULL }, &w));
        xml = backup_and_save(volume);

        assert_ok0(writer_kill(w, SIGKILL));
        r = restore_gathered(xml);
        /* In the document, but its writer is not running: restore without the writer. */
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", true),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "/x", "*", true,
                                               "/y"),
                  VSS_E_OBJECT_NOT_FOUND);
        /* Options need no running writer. */
        assert_hr(vss_requester_set_restore_options(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "o"), S_OK);
        vss_requester_release(r);

        /* A new instance of the same writer class takes the document's components over. */
        vss_id_format(&w->class_id, id_buf);
        assert_ok0(harness_add_writer(h, "app2", (const char *const[]) { "--class", id_buf, "--file", "/srv/app", NULL },
                                      &w2));
        r = restore_gathered(xml);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", true),
                  S_OK);
        /* This writer declares the file set but not VSS_BS_WRITER_SUPPORTS_NEW_TARGET. */
        assert_hr(vss_requester_add_new_target(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "/srv/app", "*",
                                               true, "/y"),
                  E_INVALIDARG);
        assert_hr(vss_requester_get_writer_components(r, 0, &ext), S_OK);
        assert_hr(vss_writer_components_ext_get_writer_info(ext, &instance, &writer), S_OK);
        assert_true(vss_id_equal(&instance, &w2->instance_id));
        assert_true(vss_id_equal(&writer, &w->class_id));
        vss_writer_components_ext_free(ext);

        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        wait_line(w2, "restore in=PreRestore selected=1");
        assert_int_equal(writer_log_count(w2, "event=PreRestore"), 1);
        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */

static void test_pre_restore_veto(void **state) {
        _cleanup_free_ char *volume = NULL, *xml = NULL;
        vss_writer_components_ext *ext = NULL;
        const char *msg = NULL;
        vss_component *comp;
        vss_requester *r;
        vss_async *a = NULL;
        TestWriter *w;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "app",
                                      (const char *const[]) { "--veto", "pre-restore", "--pre-restore-msg",
                                                              "files are locked", NULL },
                                      &w));
        xml = backup_and_save(volume);

        r = restore_gathered(xml);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", true),
                  S_OK);
        /* Writer failures are reported through the status; the call itself succeeds. */
        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        wait_line(w, "event=PreRestore");
        wait_line(w, "edit in=PreRestore op=pre-restore-msg arg=files are locked hr=S_OK");
        assert_writer_status(r, w, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITERERROR_RETRYABLE);

        /* The failure message travels with the veto. */
        comp = view_component(r, w, &ext);
        assert_hr(vss_component_get_pre_restore_failure_msg(comp, &msg), S_OK);
        assert_non_null(msg);
        assert_string_equal(msg, "files are locked");
        vss_writer_components_ext_free(ext);

        /* A writer that failed PreRestore gets no PostRestore; its status stays. */
        assert_hr(async_finish(vss_requester_post_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_int_equal(writer_log_count(w, "event=PostRestore"), 0);
        assert_writer_status(r, w, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITERERROR_RETRYABLE);

        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */

static void test_restore_subcomponent(void **state) {
        _cleanup_free_ char *volume = NULL, *xml = NULL;
        vss_writer_components_ext *ext = NULL;
        const char *lp = NULL, *name = NULL;
        vss_component *comp;
        vss_requester *r;
        vss_async *a = NULL;
        unsigned n = 0;
        bool repair = true;
        TestWriter *w;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "app", (const char *const[]) { "--component", ":data", "--component",
                                                                         "data:sub", NULL },
                                      &w));
        xml = backup_and_save(volume);

        r = restore_gathered(xml);
        assert_hr(vss_requester_add_restore_subcomponent(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "data",
                                                         "other", false),
                  VSS_E_OBJECT_NOT_FOUND);
        assert_hr(vss_requester_add_restore_subcomponent(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "data",
                                                         "sub", false),
                  S_OK);
        assert_hr(vss_requester_add_restore_subcomponent(r, NULL, &w->class_id, VSS_CT_FILEGROUP, "", "data", "data",
                                                         "sub", false),
                  VSS_E_OBJECT_ALREADY_EXISTS);

        /* A restore subcomponent alone involves the writer. */
        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        wait_line(w, "restore in=PreRestore selected=0");

        comp = view_component(r, w, &ext);
        assert_hr(vss_component_get_restore_subcomponent_count(comp, &n), S_OK);
        assert_int_equal(n, 1);
        assert_hr(vss_component_get_restore_subcomponent(comp, 0, &lp, &name, &repair), S_OK);
        assert_string_equal(lp, "data");
        assert_string_equal(name, "sub");
        assert_false(repair);
        vss_writer_components_ext_free(ext);

        vss_requester_release(r);
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */
/* A hostile writer                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum HostileMode {
        HOSTILE_SELECTION,      /* PreRestore: unselects itself (a requester's field) */
        HOSTILE_BACKUP_FIELD,   /* PreRestore: sets a backup stamp (backup events only) */
        HOSTILE_LATE_TARGET,    /* PostRestore: changes the restore target (PreRestore only) */
} HostileMode;

typedef struct Hostile {
        const char *socket_path;
        HostileMode mode;
        vss_id class_id;
} Hostile;

/* s with the first occurrence of from replaced by to (malloc'd), or NULL. */
static char *replace_first(const char *s, const char *from, const char *to) {
        const char *q = strstr(s, from);
        char *out = NULL;

        if (!q || asprintf(&out, "%.*s%s%s", (int) (q - s), s, to, q + strlen(from)) < 0)
                return NULL;
        return out;
}

static char *hostile_edit(const Hostile *x, const char *member, const char *slice) {
        switch (x->mode) {
        case HOSTILE_SELECTION:
                return streq(member, "PreRestore")
                        ? replace_first(slice, "selectedForRestore=\"yes\"", "selectedForRestore=\"no\"") : NULL;
        case HOSTILE_BACKUP_FIELD:
                return streq(member, "PreRestore")
                        ? replace_first(slice, "<COMPONENT ", "<COMPONENT backupStamp=\"evil\" ") : NULL;
        default:
                return streq(member, "PostRestore")
                        ? replace_first(slice, "restoreTarget=\"UNDEFINED\"", "restoreTarget=\"ALTERNATE\"") : NULL;
        }
}

static int hostile_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *member = sd_bus_message_get_member(m), *key, *slice = NULL;
        _cleanup_free_ char *edited = NULL;
        Hostile *x = userdata;
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
                vss_id instance = VSS_ID_NULL;

                /* vssd takes the identity from Subscribe, whatever Identify says. */
                if (!md ||
                    writer_metadata_set_identity(md, &instance, &x->class_id, "hostile", "", VSS_UT_USERDATA,
                                                 VSS_ST_OTHER, 60000) != S_OK ||
                    writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                       VSS_WRE_ALWAYS, false) != S_OK ||
                    writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "data", "", false, false, true, true,
                                                  0) != S_OK)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "b", 1);
                if (r >= 0)
                        r = writer_metadata_append(reply, md);
        } else {
                if (slice)
                        edited = hostile_edit(x, member, slice);
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
        SD_BUS_METHOD("PreRestore", "a{sv}", "bia{sv}", hostile_event, 0),
        SD_BUS_METHOD("PostRestore", "a{sv}", "bia{sv}", hostile_event, 0),
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
                               (uint32_t) (VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG));
        if (r < 0 || sd_bus_message_read(reply, "s", &instance) < 0)
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

static void run_hostile(HostileMode mode, vss_writer_state failed_state, const char *reason) {
        _cleanup_free_ char *volume = NULL, *xml = NULL, *after = NULL;
        TestWriter hostile = { .name = (char *) "hostile" };
        Hostile x = { .mode = mode };
        vss_requester *r;
        vss_async *a = NULL;
        char line[256];
        pid_t pid;
        Harness *h;
        int fd;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        x.socket_path = h->socket_path;
        vss_id_generate(&x.class_id);
        assert_ok0(child_start(hostile_main, &x, &pid, &fd));
        assert_ok0(child_wait_report(fd, "subscribed ", line, sizeof line, HARNESS_WAIT_MS));
        line[strcspn(line, "\n")] = 0;
        assert_hr(vss_id_parse(line + strlen("subscribed "), &hostile.instance_id), S_OK);
        hostile.class_id = x.class_id;

        xml = backup_and_save(volume);
        r = restore_gathered(xml);
        assert_hr(vss_requester_set_selected_for_restore(r, NULL, &x.class_id, VSS_CT_FILEGROUP, "", "data", true),
                  S_OK);
        assert_hr(async_finish(vss_requester_pre_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        if (failed_state == VSS_WS_FAILED_AT_POST_RESTORE)
                assert_hr(async_finish(vss_requester_post_restore(r, &a), &a), VSS_S_ASYNC_FINISHED);
        assert_writer_status(r, &hostile, failed_state, VSS_E_WRITERERROR_NONRETRYABLE);

        /* Nothing of the answer is in the document. */
        assert_hr(vss_requester_save_as_xml(r, &after), S_OK);
        assert_null(strstr(after, "evil"));
        assert_non_null(strstr(after, "selectedForRestore=\"yes\""));
        assert_non_null(strstr(after, "restoreTarget=\"UNDEFINED\""));
        assert_int_equal(log_count(h->vssd_log, "are refused"), 1);
        assert_int_equal(log_count(h->vssd_log, reason), 1);

        vss_requester_release(r);
        assert_int_equal(kill(pid, SIGKILL), 0);
        (void) child_reap(pid);
        close(fd);
        harness_free(h);
}

static void test_hostile_restore_edits(void **state) {
        run_hostile(HOSTILE_SELECTION, VSS_WS_FAILED_AT_PRE_RESTORE, "selectedForRestore may not be changed by a writer");
        run_hostile(HOSTILE_BACKUP_FIELD, VSS_WS_FAILED_AT_PRE_RESTORE, "a string was set outside its event");
        run_hostile(HOSTILE_LATE_TARGET, VSS_WS_FAILED_AT_POST_RESTORE, "restore targets may change in PreRestore only");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_restore_with_writer),
                cmocka_unit_test(test_who_gets_restore_events),
                cmocka_unit_test(test_writer_gone),
                cmocka_unit_test(test_pre_restore_veto),
                cmocka_unit_test(test_restore_subcomponent),
                cmocka_unit_test(test_hostile_restore_edits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

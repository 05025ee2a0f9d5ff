/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-components.c: IVssWriterComponents and IVssComponent, the writer's view of the
 * components the requester explicitly added for it, and the IVssComponent accessors the
 * requester's read views share (component-view.h).
 *
 * vssd sends the writer's slice of the Backup Components Document in the event context of
 * PrepareForBackup, PostSnapshot and BackupComplete; the view owns a parsed copy, the writer
 * edits that copy through the calls below, and writer-events.c sends the edited slice back
 * with the answer, where vssd checks every edit again (docs/dbus-api.md "Writer edits").
 *
 * Windows (vss-semantics.md §8, seed 003): reads in the callbacks that get components, edits
 * of the backup fields only in on_prepare_backup and on_post_snapshot, GetBackupSucceeded
 * only in on_backup_complete; the restore target and the pre-restore failure message only in
 * on_pre_restore, the restore metadata in on_prepare_backup and on_pre_restore, the
 * post-restore failure message only in on_post_restore.
 * A view stays allocated until the writer's next view is made, so a component a callback
 * kept and uses later (in on_backup_shutdown, say) is refused with VSS_E_BAD_STATE rather
 * than touching freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include "bcd-xml.h"
#include "macro.h"
#include "vss-bus.h"
#include "writer-internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The view                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Without a slice (an older vssd): a document built from the `components` summary. */
static vss_hr slice_from_summary(const vss_writer *w, const EventContext *ctx, BackupComponents **ret) {
        BackupComponents *b;
        vss_hr hr;

        b = backup_components_new();
        if (!b)
                return E_OUTOFMEMORY;
        hr = backup_components_set_backup_state(b, ctx->select_components, ctx->bootable_system_state,
                                                ctx->has_backup_type ? ctx->backup_type : VSS_BT_UNDEFINED,
                                                ctx->partial_file_support);
        for (size_t i = 0; hr == S_OK && i < ctx->n_components; i++) {
                const EventComponent *ec = &ctx->components[i];
                BcdComponent *c;

                hr = backup_components_add_component(b, &w->instance_id, &w->writer_id, ec->type, ec->logical_path,
                                                     ec->name, &c);
                if (hr == S_OK)
                        hr = bcd_component_set_backup_succeeded(c, ec->backup_succeeded);
        }
        if (hr != S_OK) {
                backup_components_free(b);
                return hr;
        }
        *ret = b;
        return S_OK;
}

int writer_components_new(const vss_writer *w, const EventContext *ctx, vss_writer_components **ret) {
        vss_writer_components *c;
        const BcdWriter *bw;
        vss_hr hr;

        assert(w);
        assert(ctx);
        assert(ret);

        /* Not component mode: VSS hands the callback NULL. */
        if (!ctx->has_select_components || !ctx->select_components) {
                *ret = NULL;
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        if (ctx->components_xml)
                hr = backup_components_from_xml(ctx->components_xml, strlen(ctx->components_xml), &c->bcd, NULL);
        else
                hr = slice_from_summary(w, ctx, &c->bcd);
        if (hr != S_OK) {
                free(c);
                return hr == E_OUTOFMEMORY ? -ENOMEM : -EBADMSG;
        }

        /* Only this writer's own components, whatever else a slice might hold. */
        bw = backup_components_find_writer(c->bcd, &w->instance_id);
        if (bw && bw->n_components > 0) {
                c->items = calloc(bw->n_components, sizeof(*c->items));
                if (!c->items) {
                        writer_components_free(c);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < bw->n_components; i++)
                        c->items[i] = (vss_component) { .bcd = bw->components[i], .owner = c };
                c->n_items = bw->n_components;
        }

        *ret = c;
        return 0;
}

void writer_components_free(vss_writer_components *c) {
        if (!c)
                return;
        backup_components_free(c->bcd);
        free(c->items);
        free(c);
}

vss_hr writer_components_edits_xml(const vss_writer_components *c, char **ret) {
        assert(ret);

        if (!c || !c->dirty) {
                *ret = NULL;
                return S_OK;
        }
        return backup_components_to_xml(c->bcd, ret);
}

vss_hr vss_writer_components_get_count(vss_writer_components *c, unsigned *ret_count) {
        if (!c || !ret_count)
                return E_INVALIDARG;

        *ret_count = (unsigned) c->n_items;
        return S_OK;
}

vss_hr vss_writer_components_get_component(vss_writer_components *c, unsigned index, vss_component **ret_component) {
        if (!c || !ret_component)
                return E_INVALIDARG;
        if (index >= c->n_items)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret_component = &c->items[index];
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Windows                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static BcdEvent bcd_event_of(EventType t) {
        switch (t) {
        case EVENT_IDENTIFY:
                return BCD_EVENT_IDENTIFY;
        case EVENT_PREPARE_FOR_BACKUP:
                return BCD_EVENT_PREPARE_BACKUP;
        case EVENT_PREPARE_FOR_SNAPSHOT:
                return BCD_EVENT_PREPARE_SNAPSHOT;
        case EVENT_FREEZE:
                return BCD_EVENT_FREEZE;
        case EVENT_THAW:
                return BCD_EVENT_THAW;
        case EVENT_POST_SNAPSHOT:
                return BCD_EVENT_POST_SNAPSHOT;
        case EVENT_ABORT:
                return BCD_EVENT_ABORT;
        case EVENT_BACKUP_COMPLETE:
                return BCD_EVENT_BACKUP_COMPLETE;
        case EVENT_BACKUP_SHUTDOWN:
                return BCD_EVENT_BACKUP_SHUTDOWN;
        case EVENT_PRE_RESTORE:
                return BCD_EVENT_PRE_RESTORE;
        case EVENT_POST_RESTORE:
                return BCD_EVENT_POST_RESTORE;
        default:
                return BCD_EVENT_NONE;
        }
}

/*
 * Who is calling on c now: a writer inside the callback that got c (*ret_frame set), a writer
 * elsewhere (not a writer as far as c is concerned), or a requester with a read view.
 */
static BcdEventWindow component_window(const vss_component *c, const CallbackFrame **ret_frame) {
        const CallbackFrame *frame = writer_current_frame;

        *ret_frame = NULL;
        if (!c->owner || !frame || frame->components != c->owner)
                return (BcdEventWindow) { .caller_is_writer = false };

        *ret_frame = frame;
        return (BcdEventWindow) {
                .caller_is_writer = true,
                .operation = frame->event->type == EVENT_PRE_RESTORE || frame->event->type == EVENT_POST_RESTORE
                        ? BCD_OPERATION_RESTORE : BCD_OPERATION_BACKUP,
                .event = bcd_event_of(frame->event->type),
                .backup_type = frame->event->ctx.has_backup_type ? frame->event->ctx.backup_type : VSS_BT_UNDEFINED,
        };
}

/* May c be read now? A requester's view always; a writer's only inside its callback. */
static vss_hr component_check_read(const vss_component *c) {
        const CallbackFrame *frame;

        if (!c->owner)
                return S_OK;
        (void) component_window(c, &frame);
        return frame ? S_OK : VSS_E_BAD_STATE;
}

/* May c be edited now (stamps, metadata, partial files)? */
static vss_hr component_check_edit(const vss_component *c) {
        const CallbackFrame *frame;
        BcdEventWindow window = component_window(c, &frame);

        return bcd_event_window_check_edit(&window);
}

static void component_edited(vss_component *c) {
        c->owner->dirty = true;
}

/* ------------------------------------------------------------------------------------------ */
/* IVssComponent                                                                               */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_component_get_logical_path(vss_component *c, const char **ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = strempty(c->bcd->logical_path);
        return S_OK;
}

vss_hr vss_component_get_component_name(vss_component *c, const char **ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = c->bcd->name;
        return S_OK;
}

vss_hr vss_component_get_component_type(vss_component *c, vss_component_type *ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = c->bcd->type;
        return S_OK;
}

vss_hr vss_component_get_backup_succeeded(vss_component *c, bool *ret) {
        const CallbackFrame *frame;

        if (!c || !ret)
                return E_INVALIDARG;
        if (c->owner) {
                (void) component_window(c, &frame);
                if (!frame || frame->event->type != EVENT_BACKUP_COMPLETE)
                        return VSS_E_BAD_STATE;
        }

        *ret = c->bcd->backup_succeeded;
        return S_OK;
}

static vss_hr get_string(vss_component *c, BcdString which, const char **ret) {
        vss_hr hr;

        if (!c || !ret)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret = bcd_component_get_string(c->bcd, which);
        return S_OK;
}

static vss_hr set_string(vss_component *c, BcdString which, const char *value) {
        vss_hr hr;

        if (!c || !value)
                return E_INVALIDARG;
        hr = component_check_edit(c);
        if (hr != S_OK)
                return hr;

        hr = bcd_component_set_string(c->bcd, which, value);
        if (hr == S_OK)
                component_edited(c);
        return hr;
}

vss_hr vss_component_set_backup_stamp(vss_component *c, const char *stamp) {
        return set_string(c, BCD_STRING_BACKUP_STAMP, stamp);
}

vss_hr vss_component_get_backup_stamp(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_BACKUP_STAMP, ret);
}

vss_hr vss_component_get_previous_backup_stamp(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_PREVIOUS_BACKUP_STAMP, ret);
}

vss_hr vss_component_set_backup_metadata(vss_component *c, const char *metadata) {
        return set_string(c, BCD_STRING_BACKUP_METADATA, metadata);
}

vss_hr vss_component_get_backup_metadata(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_BACKUP_METADATA, ret);
}

vss_hr vss_component_get_backup_options(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_BACKUP_OPTIONS, ret);
}

vss_hr vss_component_add_partial_file(vss_component *c, const char *path, const char *filename, const char *ranges,
                                      const char *metadata) {
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        /* The state is judged before the arguments, as for the differenced files. */
        hr = component_check_edit(c);
        if (hr != S_OK)
                return hr;

        hr = bcd_component_add_partial_file(c->bcd, path, filename, ranges, metadata);
        if (hr == S_OK)
                component_edited(c);
        return hr;
}

vss_hr vss_component_get_partial_file_count(vss_component *c, unsigned *ret_count) {
        vss_hr hr;

        if (!c || !ret_count)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret_count = (unsigned) c->bcd->n_partial_files;
        return S_OK;
}

vss_hr vss_component_get_partial_file(vss_component *c, unsigned index, const char **ret_path,
                                      const char **ret_filename, const char **ret_ranges, const char **ret_metadata) {
        const BcdPartialFile *p;
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;
        if (index >= c->bcd->n_partial_files)
                return VSS_E_OBJECT_NOT_FOUND;

        p = &c->bcd->partial_files[index];
        if (ret_path)
                *ret_path = p->path;
        if (ret_filename)
                *ret_filename = p->filename;
        if (ret_ranges)
                *ret_ranges = p->ranges;
        if (ret_metadata)
                *ret_metadata = strempty(p->metadata);
        return S_OK;
}

vss_hr vss_component_add_differenced_files_by_last_modify_time(vss_component *c, const char *path,
                                                              const char *filespec, bool recursive,
                                                              vss_timestamp last_modify_time) {
        const CallbackFrame *frame;
        BcdEventWindow window;
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;

        window = component_window(c, &frame);
        /* Seed 003: "not called by a writer" is a state error, whatever the arguments. */
        if (!frame)
                return VSS_E_BAD_STATE;
        if (!frame->writer->identify_md) {
                /* Events after Identify always follow one; a writer without its own document
                 * cannot have its file sets judged. */
                hr = bcd_event_window_check_edit(&window);
                return hr == S_OK ? VSS_E_UNEXPECTED : hr;
        }

        hr = bcd_component_add_differenced_files_by_last_modify_time(c->bcd, frame->writer->identify_md, &window,
                                                                     path, filespec, recursive, last_modify_time);
        if (hr == S_OK)
                component_edited(c);
        return hr;
}

vss_hr vss_component_get_differenced_files_count(vss_component *c, unsigned *ret_count) {
        vss_hr hr;

        if (!c || !ret_count)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret_count = (unsigned) c->bcd->n_differenced_files;
        return S_OK;
}

vss_hr vss_component_get_differenced_file(vss_component *c, unsigned index, const char **ret_path,
                                          const char **ret_filespec, bool *ret_recursive,
                                          vss_timestamp *ret_last_modify_time) {
        const BcdDifferencedFile *d;
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;
        if (index >= c->bcd->n_differenced_files)
                return VSS_E_OBJECT_NOT_FOUND;

        d = &c->bcd->differenced_files[index];
        if (ret_path)
                *ret_path = d->path;
        if (ret_filespec)
                *ret_filespec = d->filespec;
        if (ret_recursive)
                *ret_recursive = d->recursive;
        if (ret_last_modify_time)
                *ret_last_modify_time = d->last_modify_time;
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore fields                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* May a writer set a restore field of c now, in one of the events of mask? */
static vss_hr component_check_restore_edit(const vss_component *c, unsigned mask) {
        const CallbackFrame *frame;

        (void) component_window(c, &frame);
        if (!frame || !(mask & EVENT_BIT(frame->event->type)))
                return VSS_E_BAD_STATE;
        return S_OK;
}

static vss_hr set_restore_string(vss_component *c, BcdString which, unsigned mask, const char *value) {
        vss_hr hr;

        if (!c || !value)
                return E_INVALIDARG;
        hr = component_check_restore_edit(c, mask);
        if (hr != S_OK)
                return hr;

        hr = bcd_component_set_string(c->bcd, which, value);
        if (hr == S_OK)
                component_edited(c);
        return hr;
}

vss_hr vss_component_is_selected_for_restore(vss_component *c, bool *ret) {
        vss_hr hr;

        if (!c || !ret)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret = c->bcd->selected_for_restore;
        return S_OK;
}

vss_hr vss_component_get_restore_options(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_RESTORE_OPTIONS, ret);
}

vss_hr vss_component_get_additional_restores(vss_component *c, bool *ret) {
        vss_hr hr;

        if (!c || !ret)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret = c->bcd->additional_restores;
        return S_OK;
}

vss_hr vss_component_get_file_restore_status(vss_component *c, vss_file_restore_status *ret) {
        vss_hr hr;

        if (!c || !ret)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret = (vss_file_restore_status) c->bcd->file_restore_status;
        return S_OK;
}

vss_hr vss_component_get_new_target_count(vss_component *c, unsigned *ret_count) {
        vss_hr hr;

        if (!c || !ret_count)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret_count = (unsigned) c->bcd->n_new_targets;
        return S_OK;
}

vss_hr vss_component_get_new_target(vss_component *c, unsigned index, const char **ret_path,
                                    const char **ret_filespec, bool *ret_recursive, const char **ret_alternate_path) {
        const BcdFileMapping *m;
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;
        if (index >= c->bcd->n_new_targets)
                return VSS_E_OBJECT_NOT_FOUND;

        m = &c->bcd->new_targets[index];
        if (ret_path)
                *ret_path = m->path;
        if (ret_filespec)
                *ret_filespec = m->filespec;
        if (ret_recursive)
                *ret_recursive = m->recursive;
        if (ret_alternate_path)
                *ret_alternate_path = m->destination;
        return S_OK;
}

vss_hr vss_component_get_restore_subcomponent_count(vss_component *c, unsigned *ret_count) {
        vss_hr hr;

        if (!c || !ret_count)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret_count = (unsigned) c->bcd->n_restore_subcomponents;
        return S_OK;
}

vss_hr vss_component_get_restore_subcomponent(vss_component *c, unsigned index, const char **ret_logical_path,
                                              const char **ret_name, bool *ret_repair) {
        const BcdRestoreSubcomponent *s;
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;
        if (index >= c->bcd->n_restore_subcomponents)
                return VSS_E_OBJECT_NOT_FOUND;

        s = &c->bcd->restore_subcomponents[index];
        if (ret_logical_path)
                *ret_logical_path = strempty(s->logical_path);
        if (ret_name)
                *ret_name = s->name;
        if (ret_repair)
                *ret_repair = s->repair;
        return S_OK;
}

vss_hr vss_component_set_restore_target(vss_component *c, vss_restore_target target) {
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = component_check_restore_edit(c, EVENT_BIT(EVENT_PRE_RESTORE));
        if (hr != S_OK)
                return hr;

        hr = bcd_component_set_restore_target(c->bcd, (BcdRestoreTarget) target);
        if (hr == S_OK)
                component_edited(c);
        return hr;
}

vss_hr vss_component_get_restore_target(vss_component *c, vss_restore_target *ret) {
        vss_hr hr;

        if (!c || !ret)
                return E_INVALIDARG;
        hr = component_check_read(c);
        if (hr != S_OK)
                return hr;

        *ret = (vss_restore_target) c->bcd->restore_target;
        return S_OK;
}

vss_hr vss_component_set_restore_metadata(vss_component *c, const char *metadata) {
        return set_restore_string(c, BCD_STRING_RESTORE_METADATA,
                                  EVENT_BIT(EVENT_PREPARE_FOR_BACKUP) | EVENT_BIT(EVENT_PRE_RESTORE), metadata);
}

vss_hr vss_component_get_restore_metadata(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_RESTORE_METADATA, ret);
}

vss_hr vss_component_set_pre_restore_failure_msg(vss_component *c, const char *msg) {
        return set_restore_string(c, BCD_STRING_PRE_RESTORE_FAILURE_MSG, EVENT_BIT(EVENT_PRE_RESTORE), msg);
}

vss_hr vss_component_get_pre_restore_failure_msg(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_PRE_RESTORE_FAILURE_MSG, ret);
}

vss_hr vss_component_set_post_restore_failure_msg(vss_component *c, const char *msg) {
        return set_restore_string(c, BCD_STRING_POST_RESTORE_FAILURE_MSG, EVENT_BIT(EVENT_POST_RESTORE), msg);
}

vss_hr vss_component_get_post_restore_failure_msg(vss_component *c, const char **ret) {
        return get_string(c, BCD_STRING_POST_RESTORE_FAILURE_MSG, ret);
}

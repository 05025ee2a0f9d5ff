/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-bcd.c: slicing a backup's Backup Components Document for one writer and taking a
 * writer's edits back (backup-bcd.h).
 *
 * Why a whole-document check rather than trusting libvss: the slice comes back over the
 * writer's connection, and anyone who may subscribe a writer can answer an event with any
 * XML. So vssd compares the answer with what it sent, field by field, and replays the
 * differences through the same model setters and the same seed-003 function libvss used,
 * this time with the metadata of every other writer of the backup (which libvss does not
 * have). The replay runs on a copy; the live document is swapped only when every edit passed,
 * so a refused answer changes nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcd-xml.h"
#include "macro.h"
#include "vss-bus.h"
#include "vssd/backup-bcd.h"

static bool str_eq(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* ------------------------------------------------------------------------------------------ */
/* Copy                                                                                         */
/* ------------------------------------------------------------------------------------------ */

static vss_hr copy_lists(BcdComponent *d, const BcdComponent *s) {
        vss_hr hr = S_OK;

        for (size_t i = 0; hr == S_OK && i < s->n_differenced_files; i++) {
                const BcdDifferencedFile *f = &s->differenced_files[i];
                hr = bcd_component_add_differenced_file(d, f->path, f->filespec, f->recursive, f->last_modify_time);
        }
        for (size_t i = 0; hr == S_OK && i < s->n_partial_files; i++) {
                const BcdPartialFile *p = &s->partial_files[i];
                hr = bcd_component_add_partial_file(d, p->path, p->filename, p->ranges, p->metadata);
        }
        for (size_t i = 0; hr == S_OK && i < s->n_directed_targets; i++) {
                const BcdDirectedTarget *t = &s->directed_targets[i];
                hr = bcd_component_add_directed_target(d, t->source_path, t->source_filename, t->source_ranges,
                                                       t->destination_path, t->destination_filename,
                                                       t->destination_ranges);
        }
        for (size_t i = 0; hr == S_OK && i < s->n_new_targets; i++) {
                const BcdFileMapping *m = &s->new_targets[i];
                hr = bcd_component_add_new_target(d, m->path, m->filespec, m->recursive, m->destination);
        }
        for (size_t i = 0; hr == S_OK && i < s->n_alternate_mappings; i++) {
                const BcdFileMapping *m = &s->alternate_mappings[i];
                hr = bcd_component_add_alternate_location_mapping(d, m->path, m->filespec, m->recursive,
                                                                  m->destination);
        }
        for (size_t i = 0; hr == S_OK && i < s->n_restore_subcomponents; i++) {
                const BcdRestoreSubcomponent *r = &s->restore_subcomponents[i];
                hr = bcd_component_add_restore_subcomponent(d, r->logical_path, r->name, r->repair);
        }
        return hr;
}

static vss_hr copy_component(BackupComponents *dst, const BcdWriter *w, const BcdComponent *s) {
        BcdComponent *d;
        vss_hr hr;

        hr = backup_components_add_component(dst, &w->instance_id, &w->writer_id, s->type, s->logical_path, s->name,
                                             &d);
        if (hr == S_OK)
                hr = bcd_component_set_backup_succeeded(d, s->backup_succeeded);
        if (hr == S_OK)
                hr = bcd_component_set_selected_for_restore(d, s->selected_for_restore);
        if (hr == S_OK)
                hr = bcd_component_set_additional_restores(d, s->additional_restores);
        if (hr == S_OK)
                hr = bcd_component_set_restore_target(d, s->restore_target);
        if (hr == S_OK)
                hr = bcd_component_set_file_restore_status(d, s->file_restore_status);
        for (BcdString k = 0; hr == S_OK && k < _BCD_STRING_MAX; k++)
                hr = bcd_component_set_string(d, k, s->strings[k]);
        if (hr == S_OK && (s->failure != S_OK || s->application_failure != S_OK || s->failure_message))
                hr = bcd_component_set_failure(d, s->failure, s->application_failure, s->failure_message);
        if (hr == S_OK)
                hr = copy_lists(d, s);
        return hr;
}

vss_hr bcd_clone(const BackupComponents *src, const vss_id *instance_id, BackupComponents **ret) {
        _cleanup_(backup_components_freep) BackupComponents *b = NULL;
        vss_hr hr;

        if (!src || !ret)
                return E_INVALIDARG;

        b = backup_components_new();
        if (!b)
                return E_OUTOFMEMORY;

        hr = backup_components_set_backup_state(b, src->select_components, src->bootable_system_state,
                                                src->backup_type, src->partial_file_support);
        if (hr == S_OK)
                hr = backup_components_set_context(b, src->context);
        if (hr == S_OK)
                hr = backup_components_set_restore_type(b, src->restore_type);

        for (size_t i = 0; hr == S_OK && i < src->n_writers; i++) {
                const BcdWriter *w = &src->writers[i];

                if (instance_id && !vss_id_equal(&w->instance_id, instance_id))
                        continue;
                for (size_t j = 0; hr == S_OK && j < w->n_components; j++)
                        hr = copy_component(b, w, w->components[j]);
        }
        if (hr != S_OK)
                return hr;

        *ret = TAKE_PTR(b);
        return S_OK;
}

int bcd_writer_slice_xml(const BackupComponents *b, const vss_id *instance_id, char **ret) {
        _cleanup_(backup_components_freep) BackupComponents *slice = NULL;
        vss_hr hr;

        hr = bcd_clone(b, instance_id, &slice);
        if (hr == S_OK)
                hr = backup_components_to_xml(slice, ret);
        if (hr == E_OUTOFMEMORY)
                return -ENOMEM;
        return hr == S_OK ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Edits                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static vss_hr refuse(char **ret_reason, vss_hr hr, const char *fmt, ...) _printf_(3, 4);
static vss_hr refuse(char **ret_reason, vss_hr hr, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_reason, fmt, ap) < 0)
                *ret_reason = NULL;
        va_end(ap);
        return hr;
}

static bool mapping_eq(const BcdFileMapping *a, const BcdFileMapping *b) {
        return str_eq(a->path, b->path) && str_eq(a->filespec, b->filespec) && a->recursive == b->recursive &&
                str_eq(a->destination, b->destination);
}

static bool mappings_eq(const BcdFileMapping *a, size_t na, const BcdFileMapping *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!mapping_eq(&a[i], &b[i]))
                        return false;
        return true;
}

static bool directed_eq(const BcdComponent *a, const BcdComponent *b) {
        if (a->n_directed_targets != b->n_directed_targets)
                return false;
        for (size_t i = 0; i < a->n_directed_targets; i++) {
                const BcdDirectedTarget *x = &a->directed_targets[i], *y = &b->directed_targets[i];

                if (!str_eq(x->source_path, y->source_path) || !str_eq(x->source_filename, y->source_filename) ||
                    !str_eq(x->source_ranges, y->source_ranges) ||
                    !str_eq(x->destination_path, y->destination_path) ||
                    !str_eq(x->destination_filename, y->destination_filename) ||
                    !str_eq(x->destination_ranges, y->destination_ranges))
                        return false;
        }
        return true;
}

static bool subcomponents_eq(const BcdComponent *a, const BcdComponent *b) {
        if (a->n_restore_subcomponents != b->n_restore_subcomponents)
                return false;
        for (size_t i = 0; i < a->n_restore_subcomponents; i++) {
                const BcdRestoreSubcomponent *x = &a->restore_subcomponents[i], *y = &b->restore_subcomponents[i];

                if (!str_eq(x->logical_path, y->logical_path) || !str_eq(x->name, y->name) || x->repair != y->repair)
                        return false;
        }
        return true;
}

static bool differenced_eq(const BcdDifferencedFile *a, const BcdDifferencedFile *b) {
        return str_eq(a->path, b->path) && str_eq(a->filespec, b->filespec) && a->recursive == b->recursive &&
                a->last_modify_time == b->last_modify_time;
}

static bool partial_eq(const BcdPartialFile *a, const BcdPartialFile *b) {
        return str_eq(a->path, b->path) && str_eq(a->filename, b->filename) && str_eq(a->ranges, b->ranges) &&
                str_eq(a->metadata, b->metadata);
}

/* Is the string one a writer may set through IVssComponent in some event? */
static bool writer_string(BcdString k) {
        return k == BCD_STRING_BACKUP_STAMP || k == BCD_STRING_BACKUP_METADATA || k == BCD_STRING_RESTORE_METADATA ||
                k == BCD_STRING_PRE_RESTORE_FAILURE_MSG || k == BCD_STRING_POST_RESTORE_FAILURE_MSG;
}

/* ... and may it in this event (vss-semantics.md §8)? */
static bool writer_string_in_event(BcdString k, BcdEvent event) {
        switch (k) {
        case BCD_STRING_BACKUP_STAMP:
        case BCD_STRING_BACKUP_METADATA:
                return event == BCD_EVENT_PREPARE_BACKUP || event == BCD_EVENT_POST_SNAPSHOT;
        case BCD_STRING_RESTORE_METADATA:
                return event == BCD_EVENT_PREPARE_BACKUP || event == BCD_EVENT_PRE_RESTORE;
        case BCD_STRING_PRE_RESTORE_FAILURE_MSG:
                return event == BCD_EVENT_PRE_RESTORE;
        case BCD_STRING_POST_RESTORE_FAILURE_MSG:
                return event == BCD_EVENT_POST_RESTORE;
        default:
                return false;
        }
}

/* The first field the writer changed that it may not change, or NULL. */
static const char *frozen_field_changed(const BcdComponent *live, const BcdComponent *ed) {
        if (live->backup_succeeded != ed->backup_succeeded)
                return "backupSucceeded";
        if (live->selected_for_restore != ed->selected_for_restore)
                return "selectedForRestore";
        if (live->additional_restores != ed->additional_restores)
                return "additionalRestores";
        /* The restore target and directed targets are the writer's in PreRestore (replayed). */
        if (live->file_restore_status != ed->file_restore_status)
                return "fileRestoreStatus";
        for (BcdString k = 0; k < _BCD_STRING_MAX; k++)
                if (!writer_string(k) && !str_eq(live->strings[k], ed->strings[k]))
                        return bcd_string_attr_name(k);
        if (live->failure != ed->failure || live->application_failure != ed->application_failure ||
            !str_eq(live->failure_message, ed->failure_message))
                return "failure";
        if (!mappings_eq(live->new_targets, live->n_new_targets, ed->new_targets, ed->n_new_targets))
                return "NEW_TARGET";
        if (!mappings_eq(live->alternate_mappings, live->n_alternate_mappings, ed->alternate_mappings,
                         ed->n_alternate_mappings))
                return "ALTERNATE_LOCATION_MAPPING";
        if (!subcomponents_eq(live, ed))
                return "RESTORE_SUBCOMPONENT";

        /* Lists a writer may only append to: what it added before must still be there. */
        if (ed->n_differenced_files < live->n_differenced_files)
                return "DIFFERENCED_FILE";
        for (size_t i = 0; i < live->n_differenced_files; i++)
                if (!differenced_eq(&live->differenced_files[i], &ed->differenced_files[i]))
                        return "DIFFERENCED_FILE";
        if (ed->n_partial_files < live->n_partial_files)
                return "PARTIAL_FILE";
        for (size_t i = 0; i < live->n_partial_files; i++)
                if (!partial_eq(&live->partial_files[i], &ed->partial_files[i]))
                        return "PARTIAL_FILE";
        return NULL;
}

/* The restore edits of PreRestore: the restore target and appended directed targets. */
static vss_hr replay_restore_targets(BcdComponent *c, const BcdComponent *ed, const BcdEditor *e, char **ret_reason) {
        size_t n_dir = c->n_directed_targets;
        vss_hr hr;

        if (c->restore_target == ed->restore_target && directed_eq(c, ed))
                return S_OK;

        if (!e->window.caller_is_writer || e->window.event != BCD_EVENT_PRE_RESTORE)
                return refuse(ret_reason, VSS_E_BAD_STATE, "component \"%s\": restore targets may change in PreRestore only",
                              c->name);
        if (ed->n_directed_targets < n_dir)
                return refuse(ret_reason, E_INVALIDARG, "component \"%s\": directed targets were removed", c->name);
        for (size_t i = 0; i < n_dir; i++) {
                const BcdDirectedTarget *x = &c->directed_targets[i], *y = &ed->directed_targets[i];

                if (!str_eq(x->source_path, y->source_path) || !str_eq(x->source_filename, y->source_filename) ||
                    !str_eq(x->source_ranges, y->source_ranges) || !str_eq(x->destination_path, y->destination_path) ||
                    !str_eq(x->destination_filename, y->destination_filename) ||
                    !str_eq(x->destination_ranges, y->destination_ranges))
                        return refuse(ret_reason, E_INVALIDARG, "component \"%s\": directed targets were changed",
                                      c->name);
        }

        hr = bcd_component_set_restore_target(c, ed->restore_target);
        if (hr != S_OK)
                return refuse(ret_reason, hr, "component \"%s\": bad restore target", c->name);
        for (size_t i = n_dir; i < ed->n_directed_targets; i++) {
                const BcdDirectedTarget *t = &ed->directed_targets[i];

                hr = bcd_component_add_directed_target(c, t->source_path, t->source_filename, t->source_ranges,
                                                       t->destination_path, t->destination_filename,
                                                       t->destination_ranges);
                if (hr != S_OK)
                        return refuse(ret_reason, hr, "component \"%s\": directed target refused (%s)", c->name,
                                      vss_hr_name(hr));
        }
        return S_OK;
}

/* Replay the edits of ed onto c (a component of the working copy, equal to the live one). */
static vss_hr replay_component(BcdComponent *c, const BcdComponent *ed, const BcdEditor *e, char **ret_reason) {
        size_t n_diff = c->n_differenced_files, n_part = c->n_partial_files;
        vss_hr hr;

        if (ed->n_partial_files > n_part || ed->n_differenced_files > n_diff) {
                hr = bcd_event_window_check_edit(&e->window);
                if (hr != S_OK)
                        return refuse(ret_reason, hr, "component \"%s\": files added outside PrepareForBackup and PostSnapshot",
                                      c->name);
        }

        for (BcdString k = 0; k < _BCD_STRING_MAX; k++) {
                if (!writer_string(k) || str_eq(c->strings[k], ed->strings[k]))
                        continue;
                if (!e->window.caller_is_writer || !writer_string_in_event(k, e->window.event))
                        return refuse(ret_reason, VSS_E_BAD_STATE, "component \"%s\": a string was set outside its event",
                                      c->name);
                hr = bcd_component_set_string(c, k, ed->strings[k]);
                if (hr != S_OK)
                        return refuse(ret_reason, hr, "component \"%s\": bad stamp, metadata or message", c->name);
        }

        hr = replay_restore_targets(c, ed, e, ret_reason);
        if (hr != S_OK)
                return hr;

        for (size_t i = n_diff; i < ed->n_differenced_files; i++) {
                const BcdDifferencedFile *f = &ed->differenced_files[i];

                hr = bcd_component_add_differenced_files_by_last_modify_time(c, e->metadata, &e->window, f->path,
                                                                             f->filespec, f->recursive,
                                                                             f->last_modify_time);
                if (hr != S_OK)
                        return refuse(ret_reason, hr,
                                      "component \"%s\": differenced files %s/%s refused (%s)", c->name, f->path,
                                      f->filespec, vss_hr_name(hr));
        }

        for (size_t i = n_part; i < ed->n_partial_files; i++) {
                const BcdPartialFile *p = &ed->partial_files[i];

                hr = bcd_component_add_partial_file(c, p->path, p->filename, p->ranges, p->metadata);
                if (hr != S_OK)
                        return refuse(ret_reason, hr, "component \"%s\": partial file %s/%s refused (%s)", c->name,
                                      p->path, p->filename, vss_hr_name(hr));
        }
        return S_OK;
}

static bool header_eq(const BackupComponents *a, const BackupComponents *b) {
        return a->backup_type == b->backup_type && a->select_components == b->select_components &&
                a->bootable_system_state == b->bootable_system_state &&
                a->partial_file_support == b->partial_file_support && a->context == b->context &&
                a->restore_type == b->restore_type;
}

vss_hr bcd_apply_writer_edits(BackupComponents **live, const BcdEditor *e, const char *xml, size_t len,
                              char **ret_reason) {
        _cleanup_(backup_components_freep) BackupComponents *edited = NULL, *work = NULL;
        _cleanup_free_ char *parse_reason = NULL;
        const BcdWriter *ew, *lw;
        size_t n_live;
        vss_hr hr;

        assert(live && *live);
        assert(e);
        assert(ret_reason);

        *ret_reason = NULL;
        if (!xml)
                return refuse(ret_reason, E_INVALIDARG, "no document");

        hr = backup_components_from_xml(xml, len, &edited, &parse_reason);
        if (hr != S_OK)
                return refuse(ret_reason, hr, "%s", parse_reason ?: vss_hr_message(hr));

        if (!header_eq(*live, edited))
                return refuse(ret_reason, E_INVALIDARG, "the backup state of the document was changed");

        /* Only this writer's own components: no other instance, no other class. */
        for (size_t i = 0; i < edited->n_writers; i++)
                if (!vss_id_equal(&edited->writers[i].instance_id, &e->instance_id))
                        return refuse(ret_reason, E_INVALIDARG, "the answer edits components of writer instance %s",
                                      vss_id_to_str(&edited->writers[i].instance_id).s);

        ew = backup_components_find_writer(edited, &e->instance_id);
        lw = backup_components_find_writer(*live, &e->instance_id);
        n_live = lw ? lw->n_components : 0;
        if ((ew ? ew->n_components : 0) != n_live)
                return refuse(ret_reason, E_INVALIDARG, "the answer adds or removes components");
        if (ew && !vss_id_equal(&ew->writer_id, &e->writer_id))
                return refuse(ret_reason, E_INVALIDARG, "the answer changes the writer class of its components");
        if (n_live == 0)
                return S_OK;

        hr = bcd_clone(*live, NULL, &work);
        if (hr != S_OK)
                return refuse(ret_reason, hr, "cannot copy the document");

        for (size_t i = 0; i < ew->n_components; i++) {
                const BcdComponent *ec = ew->components[i];
                BcdComponent *lc, *wc;
                const char *field;

                if (backup_components_get_component(*live, &e->instance_id, ec->type, ec->logical_path, ec->name,
                                                    &lc) != S_OK)
                        return refuse(ret_reason, E_INVALIDARG, "component \"%s\" is not in the document", ec->name);
                field = frozen_field_changed(lc, ec);
                if (field)
                        return refuse(ret_reason, E_INVALIDARG, "component \"%s\": %s may not be changed by a writer",
                                      ec->name, field);

                if (backup_components_get_component(work, &e->instance_id, ec->type, ec->logical_path, ec->name,
                                                    &wc) != S_OK)
                        return refuse(ret_reason, VSS_E_UNEXPECTED, "the copy of the document lost a component");
                hr = replay_component(wc, ec, e, ret_reason);
                if (hr != S_OK)
                        return hr;
        }

        backup_components_free(*live);
        *live = TAKE_PTR(work);
        return S_OK;
}

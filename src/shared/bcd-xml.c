/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bcd-xml.c: the Backup Components Document <-> XML.
 *
 * The saved document is the requester's record of a backup: it comes back for the next
 * incremental (stamps, previous times) and for restore, from a file anyone with access to the
 * backup store could have edited. So, as for the writer metadata, the loader only ever calls
 * the model's setters; whatever they refuse, the document is refused with the line and the
 * element that asked for it. docs/documents.md is the reference of the schema.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "bcd-xml.h"
#include "macro.h"
#include "xml-util.h"

#define BCD_VERSION "1"

static const char *const backup_type_names[] = {
        [VSS_BT_UNDEFINED] = "UNDEFINED",
        [VSS_BT_FULL] = "FULL",
        [VSS_BT_INCREMENTAL] = "INCREMENTAL",
        [VSS_BT_DIFFERENTIAL] = "DIFFERENTIAL",
        [VSS_BT_LOG] = "LOG",
        [VSS_BT_COPY] = "COPY",
        [VSS_BT_OTHER] = "OTHER",
};

static const char *const restore_type_names[_BCD_RESTORE_TYPE_MAX] = {
        [BCD_RESTORE_TYPE_UNDEFINED] = "UNDEFINED",
        [BCD_RESTORE_TYPE_BY_COPY] = "BY_COPY",
        [BCD_RESTORE_TYPE_IMPORT] = "IMPORT",
        [BCD_RESTORE_TYPE_OTHER] = "OTHER",
};

/* VSS_CT_UNDEFINED is a hole: no component of a document has it. */
static const char *const component_type_names[] = {
        [VSS_CT_DATABASE] = "DATABASE",
        [VSS_CT_FILEGROUP] = "FILE_GROUP",
};

static const char *const restore_target_names[_BCD_RESTORE_TARGET_MAX] = {
        [BCD_RESTORE_TARGET_UNDEFINED] = "UNDEFINED",
        [BCD_RESTORE_TARGET_ORIGINAL] = "ORIGINAL",
        [BCD_RESTORE_TARGET_ALTERNATE] = "ALTERNATE",
        [BCD_RESTORE_TARGET_DIRECTED] = "DIRECTED",
        [BCD_RESTORE_TARGET_ORIGINAL_LOCATION] = "ORIGINAL_LOCATION",
};

static const char *const file_restore_names[_BCD_FILE_RESTORE_MAX] = {
        [BCD_FILE_RESTORE_UNDEFINED] = "UNDEFINED",
        [BCD_FILE_RESTORE_NONE] = "NONE",
        [BCD_FILE_RESTORE_ALL] = "ALL",
        [BCD_FILE_RESTORE_FAILED] = "FAILED",
};

/* Attribute of each free-form string of a component; written only when set. */
static const char *const string_attrs[_BCD_STRING_MAX] = {
        [BCD_STRING_BACKUP_OPTIONS] = "backupOptions",
        [BCD_STRING_BACKUP_STAMP] = "backupStamp",
        [BCD_STRING_PREVIOUS_BACKUP_STAMP] = "previousBackupStamp",
        [BCD_STRING_BACKUP_METADATA] = "backupMetadata",
        [BCD_STRING_RESTORE_METADATA] = "restoreMetadata",
        [BCD_STRING_RESTORE_OPTIONS] = "restoreOptions",
        [BCD_STRING_PREPARE_FOR_BACKUP_FAILURE_MSG] = "prepareForBackupFailureMsg",
        [BCD_STRING_POST_SNAPSHOT_FAILURE_MSG] = "postSnapshotFailureMsg",
        [BCD_STRING_PRE_RESTORE_FAILURE_MSG] = "preRestoreFailureMsg",
        [BCD_STRING_POST_RESTORE_FAILURE_MSG] = "postRestoreFailureMsg",
};

const char *bcd_string_attr_name(BcdString which) {
        return (unsigned) which < _BCD_STRING_MAX ? string_attrs[which] : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Saving                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void write_mapping(XmlWriter *w, const char *element, const BcdFileMapping *m) {
        xml_writer_start(w, element);
        xml_writer_attr(w, "path", m->path);
        xml_writer_attr(w, "filespec", m->filespec);
        xml_writer_attr_bool(w, "recursive", m->recursive);
        xml_writer_attr(w, "alternatePath", m->destination);
        xml_writer_end(w);
}

static void write_component(XmlWriter *w, const BcdComponent *c) {
        xml_writer_start(w, "COMPONENT");
        xml_writer_attr_enum(w, "componentType", component_type_names, ELEMENTSOF(component_type_names), c->type);
        xml_writer_attr(w, "logicalPath", c->logical_path);
        xml_writer_attr(w, "componentName", c->name);
        xml_writer_attr_bool(w, "backupSucceeded", c->backup_succeeded);
        xml_writer_attr_bool(w, "selectedForRestore", c->selected_for_restore);
        xml_writer_attr_bool(w, "additionalRestores", c->additional_restores);
        xml_writer_attr_enum(w, "restoreTarget", restore_target_names, ELEMENTSOF(restore_target_names),
                             c->restore_target);
        xml_writer_attr_enum(w, "fileRestoreStatus", file_restore_names, ELEMENTSOF(file_restore_names),
                             c->file_restore_status);
        for (size_t i = 0; i < _BCD_STRING_MAX; i++)
                xml_writer_attr(w, string_attrs[i], c->strings[i]);
        if (c->failure != S_OK || c->application_failure != S_OK || c->failure_message) {
                xml_writer_attr_hex(w, "failure", (uint32_t) c->failure);
                xml_writer_attr_hex(w, "applicationFailure", (uint32_t) c->application_failure);
                xml_writer_attr(w, "failureMessage", c->failure_message);
        }

        for (size_t i = 0; i < c->n_differenced_files; i++) {
                const BcdDifferencedFile *d = &c->differenced_files[i];

                xml_writer_start(w, "DIFFERENCED_FILE");
                xml_writer_attr(w, "path", d->path);
                xml_writer_attr(w, "filespec", d->filespec);
                xml_writer_attr_bool(w, "recursive", d->recursive);
                xml_writer_attr_i64(w, "lastModifyTime", d->last_modify_time);
                xml_writer_end(w);
        }

        for (size_t i = 0; i < c->n_partial_files; i++) {
                const BcdPartialFile *p = &c->partial_files[i];

                xml_writer_start(w, "PARTIAL_FILE");
                xml_writer_attr(w, "path", p->path);
                xml_writer_attr(w, "filename", p->filename);
                xml_writer_attr(w, "ranges", p->ranges);
                xml_writer_attr(w, "metadata", p->metadata);
                xml_writer_end(w);
        }

        for (size_t i = 0; i < c->n_directed_targets; i++) {
                const BcdDirectedTarget *t = &c->directed_targets[i];

                xml_writer_start(w, "DIRECTED_TARGET");
                xml_writer_attr(w, "sourcePath", t->source_path);
                xml_writer_attr(w, "sourceFilename", t->source_filename);
                xml_writer_attr(w, "sourceRanges", t->source_ranges);
                xml_writer_attr(w, "destinationPath", t->destination_path);
                xml_writer_attr(w, "destinationFilename", t->destination_filename);
                xml_writer_attr(w, "destinationRanges", t->destination_ranges);
                xml_writer_end(w);
        }

        for (size_t i = 0; i < c->n_new_targets; i++)
                write_mapping(w, "NEW_TARGET", &c->new_targets[i]);
        for (size_t i = 0; i < c->n_alternate_mappings; i++)
                write_mapping(w, "ALTERNATE_LOCATION_MAPPING", &c->alternate_mappings[i]);

        for (size_t i = 0; i < c->n_restore_subcomponents; i++) {
                const BcdRestoreSubcomponent *s = &c->restore_subcomponents[i];

                xml_writer_start(w, "RESTORE_SUBCOMPONENT");
                xml_writer_attr(w, "logicalPath", s->logical_path);
                xml_writer_attr(w, "componentName", s->name);
                xml_writer_attr_bool(w, "repair", s->repair);
                xml_writer_end(w);
        }

        xml_writer_end(w);
}

vss_hr backup_components_to_xml(const BackupComponents *b, char **ret) {
        XmlWriter *w;

        if (!b || !ret)
                return E_INVALIDARG;

        w = xml_writer_new();
        if (!w)
                return E_OUTOFMEMORY;

        xml_writer_start(w, "BACKUP_COMPONENTS");
        xml_writer_attr(w, "version", BCD_VERSION);
        xml_writer_attr_enum(w, "backupType", backup_type_names, ELEMENTSOF(backup_type_names), b->backup_type);
        xml_writer_attr_bool(w, "selectComponents", b->select_components);
        xml_writer_attr_bool(w, "bootableSystemState", b->bootable_system_state);
        xml_writer_attr_bool(w, "partialFileSupport", b->partial_file_support);
        xml_writer_attr_hex(w, "context", b->context);
        xml_writer_attr_enum(w, "restoreType", restore_type_names, ELEMENTSOF(restore_type_names), b->restore_type);

        for (size_t i = 0; i < b->n_writers; i++) {
                const BcdWriter *bw = &b->writers[i];

                xml_writer_start(w, "WRITER_COMPONENTS");
                xml_writer_attr_id(w, "instanceId", &bw->instance_id);
                xml_writer_attr_id(w, "writerId", &bw->writer_id);
                for (size_t j = 0; j < bw->n_components; j++)
                        write_component(w, bw->components[j]);
                xml_writer_end(w);
        }

        xml_writer_end(w);
        return xml_writer_finish(w, ret, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static vss_hr model_fail(xmlNode *n, char **reason, vss_hr hr) {
        const char *why;

        if (hr == E_OUTOFMEMORY)
                return hr;
        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                why = "repeats an entry already in the document";
        else if (hr == VSS_E_OBJECT_NOT_FOUND)
                why = "refers to something the document does not hold";
        else
                why = "breaks a backup components rule or limit";
        return xml_fail(n, reason, "%s (%s)", why, vss_hr_name(hr));
}

static vss_hr check_leaf(xmlNode *n, const char *const *attrs, char **reason) {
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");
        return S_OK;
}

static vss_hr load_differenced(xmlNode *n, BcdComponent *c, char **reason) {
        static const char *const attrs[] = { "path", "filespec", "recursive", "lastModifyTime", NULL };
        _cleanup_free_ char *path = NULL, *filespec = NULL;
        int64_t time;
        bool recursive;
        vss_hr hr;

        if (VSS_FAILED(hr = check_leaf(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filespec", true, &filespec, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "recursive", false, false, &recursive, reason)) ||
            VSS_FAILED(hr = xml_get_i64(n, "lastModifyTime", false, 0, &time, reason)))
                return hr;

        hr = bcd_component_add_differenced_file(c, path, filespec, recursive, time);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_partial(xmlNode *n, BcdComponent *c, char **reason) {
        static const char *const attrs[] = { "path", "filename", "ranges", "metadata", NULL };
        _cleanup_free_ char *path = NULL, *filename = NULL, *ranges = NULL, *metadata = NULL;
        vss_hr hr;

        if (VSS_FAILED(hr = check_leaf(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filename", true, &filename, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "ranges", true, &ranges, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "metadata", false, &metadata, reason)))
                return hr;

        hr = bcd_component_add_partial_file(c, path, filename, ranges, metadata);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_directed(xmlNode *n, BcdComponent *c, char **reason) {
        static const char *const attrs[] = { "sourcePath", "sourceFilename", "sourceRanges", "destinationPath",
                                             "destinationFilename", "destinationRanges", NULL };
        _cleanup_free_ char *sp = NULL, *sf = NULL, *sr = NULL, *dp = NULL, *df = NULL, *dr = NULL;
        vss_hr hr;

        if (VSS_FAILED(hr = check_leaf(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "sourcePath", true, &sp, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "sourceFilename", true, &sf, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "sourceRanges", true, &sr, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "destinationPath", true, &dp, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "destinationFilename", true, &df, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "destinationRanges", true, &dr, reason)))
                return hr;

        hr = bcd_component_add_directed_target(c, sp, sf, sr, dp, df, dr);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_mapping(xmlNode *n, BcdComponent *c, bool new_target, char **reason) {
        static const char *const attrs[] = { "path", "filespec", "recursive", "alternatePath", NULL };
        _cleanup_free_ char *path = NULL, *filespec = NULL, *destination = NULL;
        bool recursive;
        vss_hr hr;

        if (VSS_FAILED(hr = check_leaf(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filespec", true, &filespec, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "recursive", false, false, &recursive, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "alternatePath", true, &destination, reason)))
                return hr;

        hr = new_target ? bcd_component_add_new_target(c, path, filespec, recursive, destination)
                        : bcd_component_add_alternate_location_mapping(c, path, filespec, recursive, destination);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_subcomponent(xmlNode *n, BcdComponent *c, char **reason) {
        static const char *const attrs[] = { "logicalPath", "componentName", "repair", NULL };
        _cleanup_free_ char *logical_path = NULL, *name = NULL;
        bool repair;
        vss_hr hr;

        if (VSS_FAILED(hr = check_leaf(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "logicalPath", false, &logical_path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "componentName", true, &name, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "repair", false, false, &repair, reason)))
                return hr;

        hr = bcd_component_add_restore_subcomponent(c, logical_path, name, repair);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

/* The scalar attributes of <COMPONENT>, applied through the setters. */
static vss_hr load_component_values(xmlNode *n, BcdComponent *c, char **reason) {
        _cleanup_free_ char *failure_message = NULL;
        bool succeeded, selected, additional;
        unsigned target, status;
        uint32_t failure, app_failure;
        vss_hr hr;

        if (VSS_FAILED(hr = xml_get_bool(n, "backupSucceeded", false, false, &succeeded, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "selectedForRestore", false, false, &selected, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "additionalRestores", false, false, &additional, reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "restoreTarget", restore_target_names, ELEMENTSOF(restore_target_names),
                                         false, BCD_RESTORE_TARGET_UNDEFINED, &target, reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "fileRestoreStatus", file_restore_names, ELEMENTSOF(file_restore_names),
                                         false, BCD_FILE_RESTORE_UNDEFINED, &status, reason)) ||
            VSS_FAILED(hr = xml_get_u32(n, "failure", false, 0, &failure, reason)) ||
            VSS_FAILED(hr = xml_get_u32(n, "applicationFailure", false, 0, &app_failure, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "failureMessage", false, &failure_message, reason)))
                return hr;

        if (VSS_FAILED(hr = bcd_component_set_backup_succeeded(c, succeeded)) ||
            VSS_FAILED(hr = bcd_component_set_selected_for_restore(c, selected)) ||
            VSS_FAILED(hr = bcd_component_set_additional_restores(c, additional)) ||
            VSS_FAILED(hr = bcd_component_set_restore_target(c, (BcdRestoreTarget) target)) ||
            VSS_FAILED(hr = bcd_component_set_file_restore_status(c, (BcdFileRestoreStatus) status)) ||
            VSS_FAILED(hr = bcd_component_set_failure(c, (vss_hr) failure, (vss_hr) app_failure, failure_message)))
                return model_fail(n, reason, hr);

        for (size_t i = 0; i < _BCD_STRING_MAX; i++) {
                _cleanup_free_ char *value = NULL;

                hr = xml_get_string(n, string_attrs[i], false, &value, reason);
                if (VSS_FAILED(hr))
                        return hr;
                hr = bcd_component_set_string(c, (BcdString) i, value);
                if (VSS_FAILED(hr))
                        return model_fail(n, reason, hr);
        }
        return S_OK;
}

static vss_hr load_component(xmlNode *n, const vss_id *instance_id, const vss_id *writer_id,
                             BackupComponents *b, char **reason) {
        static const char *const attrs[] = { "componentType", "logicalPath", "componentName", "backupSucceeded",
                                             "selectedForRestore", "additionalRestores", "restoreTarget",
                                             "fileRestoreStatus", "backupOptions", "backupStamp",
                                             "previousBackupStamp", "backupMetadata", "restoreMetadata",
                                             "restoreOptions", "prepareForBackupFailureMsg",
                                             "postSnapshotFailureMsg", "preRestoreFailureMsg",
                                             "postRestoreFailureMsg", "failure", "applicationFailure",
                                             "failureMessage", NULL };
        _cleanup_free_ char *logical_path = NULL, *name = NULL;
        BcdComponent *c;
        unsigned type;
        vss_hr hr;

        if (VSS_FAILED(hr = xml_check_element(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "componentType", component_type_names, ELEMENTSOF(component_type_names),
                                         true, 0, &type, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "logicalPath", false, &logical_path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "componentName", true, &name, reason)))
                return hr;

        hr = backup_components_add_component(b, instance_id, writer_id, (vss_component_type) type, logical_path,
                                             name, &c);
        if (VSS_FAILED(hr))
                return model_fail(n, reason, hr);

        hr = load_component_values(n, c, reason);
        if (VSS_FAILED(hr))
                return hr;

        for (xmlNode *child = xml_first_element(n); child; child = xml_next_element(child)) {
                if (xml_is(child, "DIFFERENCED_FILE"))
                        hr = load_differenced(child, c, reason);
                else if (xml_is(child, "PARTIAL_FILE"))
                        hr = load_partial(child, c, reason);
                else if (xml_is(child, "DIRECTED_TARGET"))
                        hr = load_directed(child, c, reason);
                else if (xml_is(child, "NEW_TARGET"))
                        hr = load_mapping(child, c, true, reason);
                else if (xml_is(child, "ALTERNATE_LOCATION_MAPPING"))
                        hr = load_mapping(child, c, false, reason);
                else if (xml_is(child, "RESTORE_SUBCOMPONENT"))
                        hr = load_subcomponent(child, c, reason);
                else
                        hr = xml_fail(child, reason, "unknown element inside <COMPONENT>");
                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

static vss_hr load_writer(xmlNode *n, BackupComponents *b, char **reason) {
        static const char *const attrs[] = { "instanceId", "writerId", NULL };
        vss_id instance_id, writer_id;
        vss_hr hr;

        if (VSS_FAILED(hr = xml_check_element(n, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_id(n, "instanceId", true, &instance_id, reason)) ||
            VSS_FAILED(hr = xml_get_id(n, "writerId", true, &writer_id, reason)))
                return hr;
        if (!xml_first_element(n))
                return xml_fail(n, reason, "a writer without components does not belong in the document");

        for (xmlNode *child = xml_first_element(n); child; child = xml_next_element(child)) {
                if (!xml_is(child, "COMPONENT"))
                        return xml_fail(child, reason, "unknown element, expected <COMPONENT>");
                hr = load_component(child, &instance_id, &writer_id, b, reason);
                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

static vss_hr load_root(xmlNode *root, BackupComponents *b, char **reason) {
        static const char *const attrs[] = { "version", "backupType", "selectComponents", "bootableSystemState",
                                             "partialFileSupport", "context", "restoreType", NULL };
        _cleanup_free_ char *version = NULL;
        bool select_components, bootable, partial;
        unsigned backup_type, restore_type;
        uint32_t context;
        vss_hr hr;

        if (VSS_FAILED(hr = xml_check_element(root, attrs, reason)) ||
            VSS_FAILED(hr = xml_get_string(root, "version", true, &version, reason)))
                return hr;
        if (!streq(version, BCD_VERSION))
                return xml_fail(root, reason, "version \"%s\" is not supported (expected \"%s\")", version,
                                BCD_VERSION);

        if (VSS_FAILED(hr = xml_get_enum(root, "backupType", backup_type_names, ELEMENTSOF(backup_type_names), true,
                                         0, &backup_type, reason)) ||
            VSS_FAILED(hr = xml_get_bool(root, "selectComponents", false, true, &select_components, reason)) ||
            VSS_FAILED(hr = xml_get_bool(root, "bootableSystemState", false, false, &bootable, reason)) ||
            VSS_FAILED(hr = xml_get_bool(root, "partialFileSupport", false, false, &partial, reason)) ||
            VSS_FAILED(hr = xml_get_u32(root, "context", false, VSS_CTX_BACKUP, &context, reason)) ||
            VSS_FAILED(hr = xml_get_enum(root, "restoreType", restore_type_names, ELEMENTSOF(restore_type_names),
                                         false, BCD_RESTORE_TYPE_UNDEFINED, &restore_type, reason)))
                return hr;

        if (VSS_FAILED(hr = backup_components_set_backup_state(b, select_components, bootable,
                                                               (vss_backup_type) backup_type, partial)) ||
            VSS_FAILED(hr = backup_components_set_context(b, context)) ||
            VSS_FAILED(hr = backup_components_set_restore_type(b, (BcdRestoreType) restore_type)))
                return model_fail(root, reason, hr);

        for (xmlNode *n = xml_first_element(root); n; n = xml_next_element(n)) {
                if (!xml_is(n, "WRITER_COMPONENTS"))
                        return xml_fail(n, reason, "unknown element, expected <WRITER_COMPONENTS>");
                hr = load_writer(n, b, reason);
                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BackupComponents *, backup_components_free);

vss_hr backup_components_from_xml(const char *xml, size_t len, BackupComponents **ret, char **ret_reason) {
        _cleanup_(backup_components_freep) BackupComponents *b = NULL;
        _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
        _cleanup_free_ char *reason = NULL;
        vss_hr hr;

        if (!xml || !ret)
                return E_INVALIDARG;

        hr = xml_parse(xml, len, "BACKUP_COMPONENTS", &doc, ret_reason);
        if (VSS_FAILED(hr))
                return hr;

        b = backup_components_new();
        if (!b)
                return E_OUTOFMEMORY;

        hr = load_root(xml_doc_root(doc), b, &reason);
        if (VSS_FAILED(hr)) {
                if (ret_reason)
                        *ret_reason = TAKE_PTR(reason);
                return hr;
        }

        *ret = TAKE_PTR(b);
        return S_OK;
}

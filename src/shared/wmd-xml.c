/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wmd-xml.c: the Writer Metadata Document <-> XML.
 *
 * A requester stores every writer's metadata beside a backup (the Backup Components Document
 * lacks paths and implicit components) and loads it back at restore time, so this is where a
 * file from disk, possibly tampered with, becomes a WriterMetadata. The loader therefore never
 * fills the struct itself: each element becomes one writer_metadata_* builder call, and a
 * refusal there (duplicate component, file set of an unknown component, a bad path...) is a
 * refusal of the document. Element and attribute names follow the spirit of Microsoft's WMD
 * schema; docs/documents.md is the reference.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "macro.h"
#include "wmd-xml.h"
#include "xml-util.h"

#define WMD_VERSION "1"

static const char *const usage_names[] = {
        [VSS_UT_UNDEFINED] = "UNDEFINED",
        [VSS_UT_BOOTABLESYSTEMSTATE] = "BOOTABLE_SYSTEM_STATE",
        [VSS_UT_SYSTEMSERVICE] = "SYSTEM_SERVICE",
        [VSS_UT_USERDATA] = "USER_DATA",
        [VSS_UT_OTHER] = "OTHER",
};

static const char *const source_names[] = {
        [VSS_ST_UNDEFINED] = "UNDEFINED",
        [VSS_ST_TRANSACTEDDB] = "TRANSACTED_DB",
        [VSS_ST_NONTRANSACTEDDB] = "NONTRANSACTED_DB",
        [VSS_ST_OTHER] = "OTHER",
};

static const char *const method_names[] = {
        [VSS_RME_UNDEFINED] = "UNDEFINED",
        [VSS_RME_RESTORE_IF_NOT_THERE] = "RESTORE_IF_NOT_THERE",
        [VSS_RME_RESTORE_IF_CAN_REPLACE] = "RESTORE_IF_CAN_REPLACE",
        [VSS_RME_STOP_RESTORE_START] = "STOP_RESTORE_START",
        [VSS_RME_RESTORE_TO_ALTERNATE_LOCATION] = "RESTORE_TO_ALTERNATE_LOCATION",
        [VSS_RME_RESTORE_AT_REBOOT] = "RESTORE_AT_REBOOT",
        [VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE] = "RESTORE_AT_REBOOT_IF_CANNOT_REPLACE",
        [VSS_RME_CUSTOM] = "CUSTOM",
        [VSS_RME_RESTORE_STOP_START] = "RESTORE_STOP_START",
};

static const char *const writer_restore_names[] = {
        [VSS_WRE_UNDEFINED] = "UNDEFINED",
        [VSS_WRE_NEVER] = "NEVER",
        [VSS_WRE_IF_REPLACE_FAILS] = "IF_REPLACE_FAILS",
        [VSS_WRE_ALWAYS] = "ALWAYS",
};

/* Element name of each file set kind, indexed by FileSetKind. */
static const char *const fileset_elements[_FILESET_KIND_MAX] = {
        [FILESET_FILE_GROUP] = "FILE_LIST",
        [FILESET_DATABASE] = "DATABASE_FILES",
        [FILESET_DATABASE_LOG] = "DATABASE_LOGFILES",
};

/* ------------------------------------------------------------------------------------------ */
/* Saving                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static bool fileset_of(const WmFileSet *f, const WmComponent *c) {
        return streq(f->logical_path, c->logical_path) && streq(f->component_name, c->name);
}

static void write_component(XmlWriter *w, const WriterMetadata *m, const WmComponent *c) {
        xml_writer_start(w, c->type == VSS_CT_DATABASE ? "DATABASE" : "FILE_GROUP");
        xml_writer_attr(w, "logicalPath", c->logical_path);
        xml_writer_attr(w, "componentName", c->name);
        xml_writer_attr(w, "caption", c->caption);
        xml_writer_attr_bool(w, "restoreMetadata", c->restore_metadata);
        xml_writer_attr_bool(w, "notifyOnBackupComplete", c->notify_on_backup_complete);
        xml_writer_attr_bool(w, "selectable", c->selectable);
        xml_writer_attr_bool(w, "selectableForRestore", c->selectable_for_restore);
        xml_writer_attr_hex(w, "componentFlags", c->flags);

        for (size_t i = 0; i < m->n_filesets; i++) {
                const WmFileSet *f = &m->filesets[i];

                if (!fileset_of(f, c))
                        continue;
                xml_writer_start(w, fileset_elements[f->kind]);
                xml_writer_attr(w, "path", f->path);
                xml_writer_attr(w, "filespec", f->filespec);
                if (f->kind == FILESET_FILE_GROUP) {
                        xml_writer_attr_bool(w, "recursive", f->recursive);
                        xml_writer_attr(w, "alternatePath", f->alternate_location);
                }
                xml_writer_attr_hex(w, "filespecBackupType", f->backup_type_mask);
                xml_writer_end(w);
        }

        for (size_t i = 0; i < m->n_dependencies; i++) {
                const WmDependency *d = &m->dependencies[i];

                if (!streq(d->for_logical_path, c->logical_path) || !streq(d->for_name, c->name))
                        continue;
                xml_writer_start(w, "DEPENDENCY");
                xml_writer_attr_id(w, "onWriterId", &d->on_writer_id);
                xml_writer_attr(w, "onLogicalPath", d->on_logical_path);
                xml_writer_attr(w, "onComponentName", d->on_name);
                xml_writer_end(w);
        }

        xml_writer_end(w);
}

vss_hr writer_metadata_to_xml(const WriterMetadata *m, char **ret) {
        XmlWriter *w;

        if (!m || !ret)
                return E_INVALIDARG;
        /* A document without identity could never be loaded back. */
        if (vss_id_is_null(&m->writer_id) || isempty(m->writer_name))
                return VSS_E_INVALID_XML_DOCUMENT;

        w = xml_writer_new();
        if (!w)
                return E_OUTOFMEMORY;

        xml_writer_start(w, "WRITER_METADATA");
        xml_writer_attr(w, "version", WMD_VERSION);

        xml_writer_start(w, "IDENTIFICATION");
        xml_writer_attr_id(w, "writerId", &m->writer_id);
        xml_writer_attr_id(w, "instanceId", &m->instance_id);
        xml_writer_attr(w, "writerName", m->writer_name);
        xml_writer_attr(w, "instanceName", m->instance_name);
        xml_writer_attr_enum(w, "usage", usage_names, ELEMENTSOF(usage_names), m->usage_type);
        xml_writer_attr_enum(w, "dataSource", source_names, ELEMENTSOF(source_names), m->source_type);
        xml_writer_attr_u32(w, "freezeTimeoutMs", m->freeze_timeout_ms);
        xml_writer_end(w);

        xml_writer_start(w, "RESTORE_METHOD");
        xml_writer_attr_enum(w, "method", method_names, ELEMENTSOF(method_names), m->restore_method);
        xml_writer_attr(w, "service", m->restore_service);
        xml_writer_attr(w, "userProcedure", m->restore_user_procedure);
        xml_writer_attr_enum(w, "writerRestore", writer_restore_names, ELEMENTSOF(writer_restore_names),
                             m->writer_restore);
        xml_writer_attr_bool(w, "rebootRequired", m->reboot_required);
        xml_writer_end(w);

        xml_writer_start(w, "BACKUP_SCHEMA");
        xml_writer_attr_hex(w, "mask", m->backup_schema);
        xml_writer_end(w);

        xml_writer_start(w, "BACKUP_LOCATIONS");
        for (size_t i = 0; i < m->n_components; i++)
                write_component(w, m, &m->components[i]);
        xml_writer_end(w);

        for (size_t i = 0; i < m->n_excludes; i++) {
                xml_writer_start(w, "EXCLUDE_FILES");
                xml_writer_attr(w, "path", m->excludes[i].path);
                xml_writer_attr(w, "filespec", m->excludes[i].filespec);
                xml_writer_attr_bool(w, "recursive", m->excludes[i].recursive);
                xml_writer_end(w);
        }

        for (size_t i = 0; i < m->n_alternate_mappings; i++) {
                const WmAlternateMapping *a = &m->alternate_mappings[i];

                xml_writer_start(w, "ALTERNATE_LOCATION_MAPPING");
                xml_writer_attr(w, "path", a->path);
                xml_writer_attr(w, "filespec", a->filespec);
                xml_writer_attr_bool(w, "recursive", a->recursive);
                xml_writer_attr(w, "alternatePath", a->destination);
                xml_writer_end(w);
        }

        xml_writer_end(w);
        return xml_writer_finish(w, ret, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A builder refusal, told as a refusal of the element that asked for it. */
static vss_hr model_fail(xmlNode *n, char **reason, vss_hr hr) {
        const char *why;

        if (hr == E_OUTOFMEMORY)
                return hr;
        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                why = "declared twice";
        else if (hr == VSS_E_OBJECT_NOT_FOUND)
                why = "refers to a component or file set the document does not declare";
        else
                why = "breaks a writer metadata rule";
        return xml_fail(n, reason, "%s (%s)", why, vss_hr_name(hr));
}

static vss_hr load_identification(xmlNode *n, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "writerId", "instanceId", "writerName", "instanceName", "usage",
                                             "dataSource", "freezeTimeoutMs", NULL };
        _cleanup_free_ char *writer_name = NULL, *instance_name = NULL;
        unsigned usage, source;
        uint32_t freeze_timeout;
        vss_id writer_id, instance_id;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_id(n, "writerId", true, &writer_id, reason)) ||
            VSS_FAILED(hr = xml_get_id(n, "instanceId", false, &instance_id, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "writerName", true, &writer_name, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "instanceName", false, &instance_name, reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "usage", usage_names, ELEMENTSOF(usage_names), true, 0, &usage,
                                         reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "dataSource", source_names, ELEMENTSOF(source_names), true, 0,
                                         &source, reason)) ||
            VSS_FAILED(hr = xml_get_u32(n, "freezeTimeoutMs", false, 0, &freeze_timeout, reason)))
                return hr;

        hr = writer_metadata_set_identity(m, &instance_id, &writer_id, writer_name, instance_name,
                                          (vss_usage_type) usage, (vss_source_type) source, freeze_timeout);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_restore_method(xmlNode *n, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "method", "service", "userProcedure", "writerRestore",
                                             "rebootRequired", NULL };
        _cleanup_free_ char *service = NULL, *procedure = NULL;
        unsigned method, writer_restore;
        bool reboot;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_enum(n, "method", method_names, ELEMENTSOF(method_names), true, 0, &method,
                                         reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "service", false, &service, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "userProcedure", false, &procedure, reason)) ||
            VSS_FAILED(hr = xml_get_enum(n, "writerRestore", writer_restore_names,
                                         ELEMENTSOF(writer_restore_names), true, 0, &writer_restore, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "rebootRequired", false, false, &reboot, reason)))
                return hr;

        hr = writer_metadata_set_restore_method(m, (vss_restore_method) method, service, procedure,
                                                (vss_writer_restore) writer_restore, reboot);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_backup_schema(xmlNode *n, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "mask", NULL };
        uint32_t mask;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");
        hr = xml_get_u32(n, "mask", true, 0, &mask, reason);
        if (VSS_FAILED(hr))
                return hr;

        hr = writer_metadata_set_backup_schema(m, mask);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_fileset(xmlNode *n, FileSetKind kind, const WmComponent *c, WriterMetadata *m, char **reason) {
        static const char *const group_attrs[] = { "path", "filespec", "recursive", "alternatePath",
                                                   "filespecBackupType", NULL };
        static const char *const database_attrs[] = { "path", "filespec", "filespecBackupType", NULL };
        _cleanup_free_ char *path = NULL, *filespec = NULL, *alternate = NULL;
        bool recursive = false;
        uint32_t mask;
        vss_hr hr;

        hr = xml_check_element(n, kind == FILESET_FILE_GROUP ? group_attrs : database_attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filespec", true, &filespec, reason)) ||
            VSS_FAILED(hr = xml_get_u32(n, "filespecBackupType", false,
                                        VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED, &mask,
                                        reason)))
                return hr;
        if (kind == FILESET_FILE_GROUP &&
            (VSS_FAILED(hr = xml_get_bool(n, "recursive", false, false, &recursive, reason)) ||
             VSS_FAILED(hr = xml_get_string(n, "alternatePath", false, &alternate, reason))))
                return hr;

        hr = writer_metadata_add_fileset(m, kind, c->logical_path, c->name, path, filespec, recursive, alternate,
                                         mask);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_dependency(xmlNode *n, const WmComponent *c, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "onWriterId", "onLogicalPath", "onComponentName", NULL };
        _cleanup_free_ char *on_logical_path = NULL, *on_name = NULL;
        vss_id on_writer;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_id(n, "onWriterId", true, &on_writer, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "onLogicalPath", false, &on_logical_path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "onComponentName", true, &on_name, reason)))
                return hr;

        hr = writer_metadata_add_component_dependency(m, c->logical_path, c->name, &on_writer, on_logical_path,
                                                      on_name);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_component(xmlNode *n, vss_component_type type, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "logicalPath", "componentName", "caption", "restoreMetadata",
                                             "notifyOnBackupComplete", "selectable", "selectableForRestore",
                                             "componentFlags", NULL };
        _cleanup_free_ char *logical_path = NULL, *name = NULL, *caption = NULL;
        bool restore_metadata, notify, selectable, selectable_for_restore;
        const WmComponent *c;
        uint32_t flags;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;

        if (VSS_FAILED(hr = xml_get_string(n, "logicalPath", false, &logical_path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "componentName", true, &name, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "caption", false, &caption, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "restoreMetadata", false, false, &restore_metadata, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "notifyOnBackupComplete", false, false, &notify, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "selectable", false, false, &selectable, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "selectableForRestore", false, false, &selectable_for_restore,
                                         reason)) ||
            VSS_FAILED(hr = xml_get_u32(n, "componentFlags", false, 0, &flags, reason)))
                return hr;

        hr = writer_metadata_add_component(m, type, logical_path, name, caption, restore_metadata, notify,
                                           selectable, selectable_for_restore, flags);
        if (VSS_FAILED(hr))
                return model_fail(n, reason, hr);
        c = &m->components[m->n_components - 1];

        for (xmlNode *child = xml_first_element(n); child; child = xml_next_element(child)) {
                if (xml_is(child, "FILE_LIST"))
                        hr = load_fileset(child, FILESET_FILE_GROUP, c, m, reason);
                else if (xml_is(child, "DATABASE_FILES"))
                        hr = load_fileset(child, FILESET_DATABASE, c, m, reason);
                else if (xml_is(child, "DATABASE_LOGFILES"))
                        hr = load_fileset(child, FILESET_DATABASE_LOG, c, m, reason);
                else if (xml_is(child, "DEPENDENCY"))
                        hr = load_dependency(child, c, m, reason);
                else
                        hr = xml_fail(child, reason, "unknown element inside a component");
                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

static vss_hr load_backup_locations(xmlNode *n, WriterMetadata *m, char **reason) {
        vss_hr hr;

        hr = xml_check_element(n, NULL, reason);
        if (VSS_FAILED(hr))
                return hr;

        for (xmlNode *child = xml_first_element(n); child; child = xml_next_element(child)) {
                if (xml_is(child, "DATABASE"))
                        hr = load_component(child, VSS_CT_DATABASE, m, reason);
                else if (xml_is(child, "FILE_GROUP"))
                        hr = load_component(child, VSS_CT_FILEGROUP, m, reason);
                else
                        hr = xml_fail(child, reason, "unknown element, expected <DATABASE> or <FILE_GROUP>");
                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

static vss_hr load_exclude(xmlNode *n, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "path", "filespec", "recursive", NULL };
        _cleanup_free_ char *path = NULL, *filespec = NULL;
        bool recursive;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filespec", true, &filespec, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "recursive", false, false, &recursive, reason)))
                return hr;

        hr = writer_metadata_add_exclude(m, path, filespec, recursive);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

static vss_hr load_mapping(xmlNode *n, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "path", "filespec", "recursive", "alternatePath", NULL };
        _cleanup_free_ char *path = NULL, *filespec = NULL, *destination = NULL;
        bool recursive;
        vss_hr hr;

        hr = xml_check_element(n, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (xml_first_element(n))
                return xml_fail(n, reason, "takes no child elements");

        if (VSS_FAILED(hr = xml_get_string(n, "path", true, &path, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "filespec", true, &filespec, reason)) ||
            VSS_FAILED(hr = xml_get_bool(n, "recursive", false, false, &recursive, reason)) ||
            VSS_FAILED(hr = xml_get_string(n, "alternatePath", true, &destination, reason)))
                return hr;

        hr = writer_metadata_add_alternate_location_mapping(m, path, filespec, recursive, destination);
        return VSS_FAILED(hr) ? model_fail(n, reason, hr) : S_OK;
}

/*
 * The top-level elements in their fixed order. Order matters to the builder (identity before
 * dependencies, file sets before the mappings that name them), so it is part of the schema.
 */
typedef enum WmdSection {
        SECTION_IDENTIFICATION,
        SECTION_RESTORE_METHOD,
        SECTION_BACKUP_SCHEMA,
        SECTION_BACKUP_LOCATIONS,
        SECTION_EXCLUDE_FILES,
        SECTION_ALTERNATE_LOCATION_MAPPING,
        _SECTION_MAX,
} WmdSection;

static const struct {
        const char *element;
        bool repeats;
        vss_hr (*load)(xmlNode *n, WriterMetadata *m, char **reason);
} sections[_SECTION_MAX] = {
        [SECTION_IDENTIFICATION] = { "IDENTIFICATION", false, load_identification },
        [SECTION_RESTORE_METHOD] = { "RESTORE_METHOD", false, load_restore_method },
        [SECTION_BACKUP_SCHEMA] = { "BACKUP_SCHEMA", false, load_backup_schema },
        [SECTION_BACKUP_LOCATIONS] = { "BACKUP_LOCATIONS", false, load_backup_locations },
        [SECTION_EXCLUDE_FILES] = { "EXCLUDE_FILES", true, load_exclude },
        [SECTION_ALTERNATE_LOCATION_MAPPING] = { "ALTERNATE_LOCATION_MAPPING", true, load_mapping },
};

static vss_hr load_root(xmlNode *root, WriterMetadata *m, char **reason) {
        static const char *const attrs[] = { "version", NULL };
        _cleanup_free_ char *version = NULL;
        bool seen[_SECTION_MAX] = {};
        int last = -1;
        vss_hr hr;

        hr = xml_check_element(root, attrs, reason);
        if (VSS_FAILED(hr))
                return hr;
        hr = xml_get_string(root, "version", true, &version, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!streq(version, WMD_VERSION))
                return xml_fail(root, reason, "version \"%s\" is not supported (expected \"%s\")", version,
                                WMD_VERSION);

        for (xmlNode *n = xml_first_element(root); n; n = xml_next_element(n)) {
                int s;

                for (s = 0; s < _SECTION_MAX; s++)
                        if (xml_is(n, sections[s].element))
                                break;
                if (s == _SECTION_MAX)
                        return xml_fail(n, reason, "unknown element");
                if (s < last || (s == last && !sections[s].repeats))
                        return xml_fail(n, reason, "out of order or repeated");

                hr = sections[s].load(n, m, reason);
                if (VSS_FAILED(hr))
                        return hr;
                seen[s] = true;
                last = s;
        }

        if (!seen[SECTION_IDENTIFICATION])
                return xml_fail(root, reason, "<IDENTIFICATION> is missing");
        if (!seen[SECTION_RESTORE_METHOD])
                return xml_fail(root, reason, "<RESTORE_METHOD> is missing");
        return S_OK;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(WriterMetadata *, writer_metadata_free);

vss_hr writer_metadata_from_xml(const char *xml, size_t len, WriterMetadata **ret, char **ret_reason) {
        _cleanup_(writer_metadata_freep) WriterMetadata *m = NULL;
        _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
        _cleanup_free_ char *reason = NULL;
        vss_hr hr;

        if (!xml || !ret)
                return E_INVALIDARG;

        hr = xml_parse(xml, len, "WRITER_METADATA", &doc, ret_reason);
        if (VSS_FAILED(hr))
                return hr;

        m = writer_metadata_new();
        if (!m)
                return E_OUTOFMEMORY;

        hr = load_root(xml_doc_root(doc), m, &reason);
        if (VSS_FAILED(hr)) {
                if (ret_reason)
                        *ret_reason = TAKE_PTR(reason);
                return hr;
        }

        *ret = TAKE_PTR(m);
        return S_OK;
}

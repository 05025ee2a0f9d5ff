/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-metadata.c: the Writer Metadata Document model, its rules and its D-Bus encoding.
 *
 * The rules live in the builder functions, and the decoder rebuilds a received document by
 * calling those same functions, so a document that arrives over the socket passes exactly the
 * checks a local writer's OnIdentify passes: a hostile peer cannot smuggle in what a
 * well-behaved writer could not build. The rules:
 *
 *   - every string is valid UTF-8 and at most VSS_MAX_STRING bytes;
 *   - a component has a type (database or file group), a non-empty name without '\', and
 *     (logical_path, name) is unique in the document (VSS_E_OBJECT_ALREADY_EXISTS);
 *   - at most VSS_MAX_COMPONENTS components and VSS_MAX_FILESETS file sets and as many
 *     excludes; going over is E_INVALIDARG (the call is malformed for this implementation,
 *     not short of memory);
 *   - a file set names an existing component (VSS_E_OBJECT_NOT_FOUND); database and log
 *     files only go to database components and are never recursive nor redirected; file-group
 *     files only go to file-group components (E_INVALIDARG);
 *   - a path is absolute or starts with '$' (an environment variable the writer expands);
 *     a file spec is non-empty and holds no '/';
 *   - enumeration values and bit masks are in their documented range; the restore methods
 *     that stop and start a service name the service;
 *   - an alternate location mapping names a declared file set exactly, once; a component
 *     dependency starts at an existing component and points at another writer's component.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vss-bus.h"
#include "writer-metadata.h"

#define VSS_CF_ALL (VSS_CF_BACKUP_RECOVERY | VSS_CF_APP_ROLLBACK_RECOVERY | VSS_CF_NOT_SYSTEM_STATE)
#define VSS_FSBT_ALL (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED | VSS_FSBT_CREATED_DURING_BACKUP)
#define VSS_BS_ALL                                                                                      \
        (VSS_BS_DIFFERENTIAL | VSS_BS_INCREMENTAL | VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL | VSS_BS_LOG | \
         VSS_BS_COPY | VSS_BS_TIMESTAMPED | VSS_BS_LAST_MODIFY | VSS_BS_LSN |                             \
         VSS_BS_WRITER_SUPPORTS_NEW_TARGET | VSS_BS_WRITER_SUPPORTS_RESTORE_WITH_MOVE |                   \
         VSS_BS_INDEPENDENT_SYSTEM_STATE | VSS_BS_ROLLFORWARD_RESTORE | VSS_BS_RESTORE_RENAME |           \
         VSS_BS_AUTHORITATIVE_RESTORE | VSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES)

#define WMD_INNER "ssssiiu(ussub)ua(usssbbbbu)a(ussssbsu)a(ssb)a(sssb)a(sssss)"
#define WMD_COMPONENT "(usssbbbbu)"
#define WMD_FILESET "(ussssbsu)"
#define WMD_EXCLUDE "(ssb)"
#define WMD_MAPPING "(sssb)"
#define WMD_DEPENDENCY "(sssss)"

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                uint32_t cp;
                int n;

                if (*p < 0x80) {
                        p++;
                        continue;
                } else if ((*p & 0xE0) == 0xC0) {
                        cp = *p & 0x1F;
                        n = 1;
                } else if ((*p & 0xF0) == 0xE0) {
                        cp = *p & 0x0F;
                        n = 2;
                } else if ((*p & 0xF8) == 0xF0) {
                        cp = *p & 0x07;
                        n = 3;
                } else
                        return false;

                for (int i = 1; i <= n; i++) {
                        if ((p[i] & 0xC0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3F);
                }

                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return false;
                p += n + 1;
        }
        return true;
}

/* A string the document may hold; NULL counts as "" where optional is true. */
static bool string_ok(const char *s, bool optional) {
        if (!s)
                return optional;
        return strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING && utf8_valid(s);
}

static bool path_ok(const char *p) {
        return string_ok(p, false) && (p[0] == '/' || p[0] == '$');
}

static bool filespec_ok(const char *f) {
        return string_ok(f, false) && f[0] && !strchr(f, '/');
}

static char *strdup_empty(const char *s) {
        return strdup(strempty(s));
}

static void fileset_done(WmFileSet *f) {
        free(f->logical_path);
        free(f->component_name);
        free(f->path);
        free(f->filespec);
        free(f->alternate_location);
}

static void component_done(WmComponent *c) {
        free(c->logical_path);
        free(c->name);
        free(c->caption);
}

static void exclude_done(WmExclude *e) {
        free(e->path);
        free(e->filespec);
}

static void mapping_done(WmAlternateMapping *a) {
        free(a->path);
        free(a->filespec);
        free(a->destination);
}

static void dependency_done(WmDependency *d) {
        free(d->for_logical_path);
        free(d->for_name);
        free(d->on_logical_path);
        free(d->on_name);
}

WriterMetadata *writer_metadata_new(void) {
        WriterMetadata *m;

        m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;

        m->writer_name = strdup("");
        m->instance_name = strdup("");
        m->restore_service = strdup("");
        m->restore_user_procedure = strdup("");
        if (!m->writer_name || !m->instance_name || !m->restore_service || !m->restore_user_procedure)
                return writer_metadata_free(m);

        return m;
}

WriterMetadata *writer_metadata_free(WriterMetadata *m) {
        if (!m)
                return NULL;

        for (size_t i = 0; i < m->n_components; i++)
                component_done(&m->components[i]);
        free(m->components);
        for (size_t i = 0; i < m->n_filesets; i++)
                fileset_done(&m->filesets[i]);
        free(m->filesets);
        for (size_t i = 0; i < m->n_excludes; i++)
                exclude_done(&m->excludes[i]);
        free(m->excludes);
        for (size_t i = 0; i < m->n_alternate_mappings; i++)
                mapping_done(&m->alternate_mappings[i]);
        free(m->alternate_mappings);
        for (size_t i = 0; i < m->n_dependencies; i++)
                dependency_done(&m->dependencies[i]);
        free(m->dependencies);

        free(m->writer_name);
        free(m->instance_name);
        free(m->restore_service);
        free(m->restore_user_procedure);
        free(m);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(WriterMetadata *, writer_metadata_free);

vss_hr writer_metadata_set_identity(WriterMetadata *m, const vss_id *instance_id, const vss_id *writer_id,
                                    const char *writer_name, const char *instance_name, vss_usage_type usage_type,
                                    vss_source_type source_type, uint32_t freeze_timeout_ms) {
        _cleanup_free_ char *wn = NULL, *in = NULL;

        if (!m || !writer_id || vss_id_is_null(writer_id))
                return E_INVALIDARG;
        if (!string_ok(writer_name, false) || !writer_name[0] || !string_ok(instance_name, true))
                return E_INVALIDARG;
        if ((unsigned) usage_type > VSS_UT_OTHER || (unsigned) source_type > VSS_ST_OTHER)
                return E_INVALIDARG;

        wn = strdup(writer_name);
        in = strdup_empty(instance_name);
        if (!wn || !in)
                return E_OUTOFMEMORY;

        free(m->writer_name);
        m->writer_name = TAKE_PTR(wn);
        free(m->instance_name);
        m->instance_name = TAKE_PTR(in);
        m->instance_id = instance_id ? *instance_id : VSS_ID_NULL;
        m->writer_id = *writer_id;
        m->usage_type = usage_type;
        m->source_type = source_type;
        m->freeze_timeout_ms = freeze_timeout_ms;
        return S_OK;
}

const WmComponent *writer_metadata_find_component(const WriterMetadata *m, const char *logical_path,
                                                  const char *name) {
        if (!m || !name)
                return NULL;

        for (size_t i = 0; i < m->n_components; i++)
                if (streq(m->components[i].logical_path, strempty(logical_path)) &&
                    streq(m->components[i].name, name))
                        return &m->components[i];
        return NULL;
}

vss_hr writer_metadata_add_component(WriterMetadata *m, vss_component_type type, const char *logical_path,
                                     const char *name, const char *caption, bool restore_metadata,
                                     bool notify_on_backup_complete, bool selectable,
                                     bool selectable_for_restore, uint32_t flags) {
        WmComponent *array, c = {};

        if (!m)
                return E_INVALIDARG;
        if (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP)
                return E_INVALIDARG;
        if (!string_ok(logical_path, true) || !string_ok(name, false) || !string_ok(caption, true))
                return E_INVALIDARG;
        if (!name[0] || strchr(name, '\\'))
                return E_INVALIDARG;
        if (flags & ~VSS_CF_ALL)
                return E_INVALIDARG;
        if (writer_metadata_find_component(m, logical_path, name))
                return VSS_E_OBJECT_ALREADY_EXISTS;
        if (m->n_components >= VSS_MAX_COMPONENTS)
                return E_INVALIDARG;

        c = (WmComponent) {
                .type = type,
                .logical_path = strdup_empty(logical_path),
                .name = strdup(name),
                .caption = strdup_empty(caption),
                .restore_metadata = restore_metadata,
                .notify_on_backup_complete = notify_on_backup_complete,
                .selectable = selectable,
                .selectable_for_restore = selectable_for_restore,
                .flags = flags,
        };
        if (!c.logical_path || !c.name || !c.caption)
                goto oom;

        array = reallocarray(m->components, m->n_components + 1, sizeof(*array));
        if (!array)
                goto oom;
        m->components = array;
        m->components[m->n_components++] = c;
        return S_OK;

oom:
        component_done(&c);
        return E_OUTOFMEMORY;
}

vss_hr writer_metadata_add_fileset(WriterMetadata *m, FileSetKind kind, const char *logical_path,
                                   const char *component_name, const char *path, const char *filespec,
                                   bool recursive, const char *alternate_location, uint32_t backup_type_mask) {
        const WmComponent *owner;
        WmFileSet *array, f = {};

        if (!m)
                return E_INVALIDARG;
        if ((unsigned) kind >= _FILESET_KIND_MAX)
                return E_INVALIDARG;
        if (!string_ok(logical_path, true) || !string_ok(component_name, false))
                return E_INVALIDARG;
        if (!path_ok(path) || !filespec_ok(filespec))
                return E_INVALIDARG;
        if (!isempty(alternate_location) && !path_ok(alternate_location))
                return E_INVALIDARG;
        if (backup_type_mask & ~VSS_FSBT_ALL)
                return E_INVALIDARG;

        owner = writer_metadata_find_component(m, logical_path, component_name);
        if (!owner)
                return VSS_E_OBJECT_NOT_FOUND;

        if (kind == FILESET_FILE_GROUP) {
                if (owner->type != VSS_CT_FILEGROUP)
                        return E_INVALIDARG;
        } else {
                /* Database files are named one by one and restored in place. */
                if (owner->type != VSS_CT_DATABASE || recursive || !isempty(alternate_location))
                        return E_INVALIDARG;
        }

        if (m->n_filesets >= VSS_MAX_FILESETS)
                return E_INVALIDARG;

        f = (WmFileSet) {
                .kind = kind,
                .logical_path = strdup_empty(logical_path),
                .component_name = strdup(component_name),
                .path = strdup(path),
                .filespec = strdup(filespec),
                .recursive = recursive,
                .alternate_location = isempty(alternate_location) ? NULL : strdup(alternate_location),
                .backup_type_mask = backup_type_mask,
        };
        if (!f.logical_path || !f.component_name || !f.path || !f.filespec ||
            (!isempty(alternate_location) && !f.alternate_location))
                goto oom;

        array = reallocarray(m->filesets, m->n_filesets + 1, sizeof(*array));
        if (!array)
                goto oom;
        m->filesets = array;
        m->filesets[m->n_filesets++] = f;
        return S_OK;

oom:
        fileset_done(&f);
        return E_OUTOFMEMORY;
}

vss_hr writer_metadata_add_exclude(WriterMetadata *m, const char *path, const char *filespec, bool recursive) {
        WmExclude *array, e = {};

        if (!m)
                return E_INVALIDARG;
        if (!path_ok(path) || !filespec_ok(filespec))
                return E_INVALIDARG;
        if (m->n_excludes >= VSS_MAX_FILESETS)
                return E_INVALIDARG;

        e = (WmExclude) {
                .path = strdup(path),
                .filespec = strdup(filespec),
                .recursive = recursive,
        };
        if (!e.path || !e.filespec)
                goto oom;

        array = reallocarray(m->excludes, m->n_excludes + 1, sizeof(*array));
        if (!array)
                goto oom;
        m->excludes = array;
        m->excludes[m->n_excludes++] = e;
        return S_OK;

oom:
        exclude_done(&e);
        return E_OUTOFMEMORY;
}

static bool fileset_declared(const WriterMetadata *m, const char *path, const char *filespec, bool recursive) {
        for (size_t i = 0; i < m->n_filesets; i++)
                if (streq(m->filesets[i].path, path) && streq(m->filesets[i].filespec, filespec) &&
                    m->filesets[i].recursive == recursive)
                        return true;
        return false;
}

vss_hr writer_metadata_add_alternate_location_mapping(WriterMetadata *m, const char *path, const char *filespec,
                                                      bool recursive, const char *destination) {
        WmAlternateMapping *array, a = {};

        if (!m)
                return E_INVALIDARG;
        if (!path_ok(path) || !filespec_ok(filespec) || !path_ok(destination))
                return E_INVALIDARG;
        if (!fileset_declared(m, path, filespec, recursive))
                return VSS_E_OBJECT_NOT_FOUND;
        for (size_t i = 0; i < m->n_alternate_mappings; i++) {
                const WmAlternateMapping *o = &m->alternate_mappings[i];

                if (streq(o->path, path) && streq(o->filespec, filespec) && o->recursive == recursive)
                        return VSS_E_OBJECT_ALREADY_EXISTS;
        }
        if (m->n_alternate_mappings >= VSS_MAX_FILESETS)
                return E_INVALIDARG;

        a = (WmAlternateMapping) {
                .path = strdup(path),
                .filespec = strdup(filespec),
                .recursive = recursive,
                .destination = strdup(destination),
        };
        if (!a.path || !a.filespec || !a.destination)
                goto oom;

        array = reallocarray(m->alternate_mappings, m->n_alternate_mappings + 1, sizeof(*array));
        if (!array)
                goto oom;
        m->alternate_mappings = array;
        m->alternate_mappings[m->n_alternate_mappings++] = a;
        return S_OK;

oom:
        mapping_done(&a);
        return E_OUTOFMEMORY;
}

vss_hr writer_metadata_add_component_dependency(WriterMetadata *m, const char *for_logical_path,
                                                const char *for_name, const vss_id *on_writer_id,
                                                const char *on_logical_path, const char *on_name) {
        WmDependency *array, d = {};

        if (!m || !on_writer_id || vss_id_is_null(on_writer_id))
                return E_INVALIDARG;
        if (!string_ok(for_logical_path, true) || !string_ok(for_name, false) ||
            !string_ok(on_logical_path, true) || !string_ok(on_name, false))
                return E_INVALIDARG;
        if (!on_name[0] || strchr(on_name, '\\'))
                return E_INVALIDARG;
        /* A writer orders its own components through logical paths, not dependencies. */
        if (!vss_id_is_null(&m->writer_id) && vss_id_equal(&m->writer_id, on_writer_id))
                return E_INVALIDARG;
        if (!writer_metadata_find_component(m, for_logical_path, for_name))
                return VSS_E_OBJECT_NOT_FOUND;
        for (size_t i = 0; i < m->n_dependencies; i++) {
                const WmDependency *o = &m->dependencies[i];

                if (streq(o->for_logical_path, strempty(for_logical_path)) && streq(o->for_name, for_name) &&
                    vss_id_equal(&o->on_writer_id, on_writer_id) &&
                    streq(o->on_logical_path, strempty(on_logical_path)) && streq(o->on_name, on_name))
                        return VSS_E_OBJECT_ALREADY_EXISTS;
        }
        if (m->n_dependencies >= VSS_MAX_FILESETS)
                return E_INVALIDARG;

        d = (WmDependency) {
                .for_logical_path = strdup_empty(for_logical_path),
                .for_name = strdup(for_name),
                .on_writer_id = *on_writer_id,
                .on_logical_path = strdup_empty(on_logical_path),
                .on_name = strdup(on_name),
        };
        if (!d.for_logical_path || !d.for_name || !d.on_logical_path || !d.on_name)
                goto oom;

        array = reallocarray(m->dependencies, m->n_dependencies + 1, sizeof(*array));
        if (!array)
                goto oom;
        m->dependencies = array;
        m->dependencies[m->n_dependencies++] = d;
        return S_OK;

oom:
        dependency_done(&d);
        return E_OUTOFMEMORY;
}

vss_hr writer_metadata_set_restore_method(WriterMetadata *m, vss_restore_method method, const char *service,
                                          const char *user_procedure, vss_writer_restore writer_restore,
                                          bool reboot_required) {
        _cleanup_free_ char *svc = NULL, *proc = NULL;

        if (!m)
                return E_INVALIDARG;
        if ((unsigned) method > VSS_RME_RESTORE_STOP_START || (unsigned) writer_restore > VSS_WRE_ALWAYS)
                return E_INVALIDARG;
        if (!string_ok(service, true) || !string_ok(user_procedure, true))
                return E_INVALIDARG;
        if ((method == VSS_RME_STOP_RESTORE_START || method == VSS_RME_RESTORE_STOP_START) && isempty(service))
                return E_INVALIDARG;

        svc = strdup_empty(service);
        proc = strdup_empty(user_procedure);
        if (!svc || !proc)
                return E_OUTOFMEMORY;

        free(m->restore_service);
        m->restore_service = TAKE_PTR(svc);
        free(m->restore_user_procedure);
        m->restore_user_procedure = TAKE_PTR(proc);
        m->restore_method = method;
        m->writer_restore = writer_restore;
        m->reboot_required = reboot_required;
        return S_OK;
}

vss_hr writer_metadata_set_backup_schema(WriterMetadata *m, uint32_t schema) {
        if (!m || (schema & ~VSS_BS_ALL))
                return E_INVALIDARG;
        m->backup_schema = schema;
        return S_OK;
}

unsigned writer_metadata_count_filesets(const WriterMetadata *m, const WmComponent *c, FileSetKind kind) {
        unsigned n = 0;

        if (!m || !c)
                return 0;
        for (size_t i = 0; i < m->n_filesets; i++) {
                const WmFileSet *f = &m->filesets[i];

                if (f->kind == kind && streq(f->logical_path, c->logical_path) && streq(f->component_name, c->name))
                        n++;
        }
        return n;
}

const WmFileSet *writer_metadata_get_fileset(const WriterMetadata *m, const WmComponent *c, FileSetKind kind,
                                             unsigned index) {
        if (!m || !c)
                return NULL;
        for (size_t i = 0; i < m->n_filesets; i++) {
                const WmFileSet *f = &m->filesets[i];

                if (f->kind != kind || !streq(f->logical_path, c->logical_path) || !streq(f->component_name, c->name))
                        continue;
                if (index == 0)
                        return f;
                index--;
        }
        return NULL;
}

/* The two arrays added after the first contract: alternate mappings, then dependencies. */
static int append_extras(sd_bus_message *msg, const WriterMetadata *m) {
        int r;

        r = sd_bus_message_open_container(msg, 'a', WMD_MAPPING);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_alternate_mappings; i++) {
                const WmAlternateMapping *a = &m->alternate_mappings[i];

                r = sd_bus_message_append(msg, WMD_MAPPING, strempty(a->path), strempty(a->filespec),
                                          strempty(a->destination), (int) a->recursive);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(msg, 'a', WMD_DEPENDENCY);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_dependencies; i++) {
                const WmDependency *d = &m->dependencies[i];
                vss_id_str on_writer = vss_id_to_str(&d->on_writer_id);

                r = sd_bus_message_append(msg, WMD_DEPENDENCY, strempty(d->for_logical_path),
                                          strempty(d->for_name), on_writer.s, strempty(d->on_logical_path),
                                          strempty(d->on_name));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(msg);
}

int writer_metadata_append(sd_bus_message *msg, const WriterMetadata *m) {
        vss_id_str instance_id, writer_id;
        int r;

        if (!msg || !m)
                return -EINVAL;

        instance_id = vss_id_to_str(&m->instance_id);
        writer_id = vss_id_to_str(&m->writer_id);

        r = sd_bus_message_open_container(msg, 'r', WMD_INNER);
        if (r < 0)
                return r;

        r = sd_bus_message_append(msg, "ssssiiu(ussub)u", instance_id.s, writer_id.s, strempty(m->writer_name),
                                  strempty(m->instance_name), (int32_t) m->usage_type, (int32_t) m->source_type,
                                  m->freeze_timeout_ms, (uint32_t) m->restore_method, strempty(m->restore_service),
                                  strempty(m->restore_user_procedure), (uint32_t) m->writer_restore,
                                  (int) m->reboot_required, m->backup_schema);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(msg, 'a', WMD_COMPONENT);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_components; i++) {
                const WmComponent *c = &m->components[i];

                r = sd_bus_message_append(msg, WMD_COMPONENT, (uint32_t) c->type, strempty(c->logical_path),
                                          strempty(c->name), strempty(c->caption), (int) c->restore_metadata,
                                          (int) c->notify_on_backup_complete, (int) c->selectable,
                                          (int) c->selectable_for_restore, c->flags);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(msg, 'a', WMD_FILESET);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_filesets; i++) {
                const WmFileSet *f = &m->filesets[i];

                r = sd_bus_message_append(msg, WMD_FILESET, (uint32_t) f->kind, strempty(f->logical_path),
                                          strempty(f->component_name), strempty(f->path), strempty(f->filespec),
                                          (int) f->recursive, strempty(f->alternate_location),
                                          f->backup_type_mask);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(msg, 'a', WMD_EXCLUDE);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_excludes; i++) {
                const WmExclude *e = &m->excludes[i];

                r = sd_bus_message_append(msg, WMD_EXCLUDE, strempty(e->path), strempty(e->filespec),
                                          (int) e->recursive);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;

        r = append_extras(msg, m);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(msg);
}

/* Every builder refusal on the receiving side is the same thing: a document breaking a rule. */
static int hr_to_read_error(vss_hr hr) {
        if (hr == E_OUTOFMEMORY)
                return -ENOMEM;
        return VSS_FAILED(hr) ? -EBADMSG : 0;
}

static int read_header(sd_bus_message *msg, WriterMetadata *m) {
        const char *instance_id, *writer_id, *writer_name, *instance_name, *service, *procedure;
        uint32_t freeze_timeout, method, writer_restore, schema;
        int32_t usage, source;
        vss_id iid, wid;
        int reboot, r;

        r = sd_bus_message_read(msg, "ssssiiu(ussub)u", &instance_id, &writer_id, &writer_name, &instance_name,
                                &usage, &source, &freeze_timeout, &method, &service, &procedure, &writer_restore,
                                &reboot, &schema);
        if (r < 0)
                return r;

        if (vss_id_from_bus(instance_id, &iid) < 0 || vss_id_from_bus(writer_id, &wid) < 0)
                return -EBADMSG;
        if (usage < 0 || source < 0 || method > VSS_RME_RESTORE_STOP_START || writer_restore > VSS_WRE_ALWAYS)
                return -EBADMSG;

        r = hr_to_read_error(writer_metadata_set_identity(m, &iid, &wid, writer_name, instance_name,
                                                          (vss_usage_type) usage, (vss_source_type) source,
                                                          freeze_timeout));
        if (r < 0)
                return r;

        r = hr_to_read_error(writer_metadata_set_restore_method(m, (vss_restore_method) method, service, procedure,
                                                                (vss_writer_restore) writer_restore, reboot));
        if (r < 0)
                return r;

        return hr_to_read_error(writer_metadata_set_backup_schema(m, schema));
}

static int read_components(sd_bus_message *msg, WriterMetadata *m) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', WMD_COMPONENT);
        if (r < 0)
                return r;

        for (;;) {
                const char *logical_path, *name, *caption;
                int restore_metadata, notify, selectable, selectable_for_restore;
                uint32_t type, flags;

                r = sd_bus_message_read(msg, WMD_COMPONENT, &type, &logical_path, &name, &caption, &restore_metadata,
                                        &notify, &selectable, &selectable_for_restore, &flags);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                if (type > VSS_CT_FILEGROUP)
                        return -EBADMSG;
                r = hr_to_read_error(writer_metadata_add_component(m, (vss_component_type) type, logical_path, name,
                                                                   caption, restore_metadata, notify, selectable,
                                                                   selectable_for_restore, flags));
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(msg);
}

static int read_filesets(sd_bus_message *msg, WriterMetadata *m) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', WMD_FILESET);
        if (r < 0)
                return r;

        for (;;) {
                const char *logical_path, *component, *path, *filespec, *alternate;
                uint32_t kind, mask;
                int recursive;

                r = sd_bus_message_read(msg, WMD_FILESET, &kind, &logical_path, &component, &path, &filespec,
                                        &recursive, &alternate, &mask);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                if (kind >= _FILESET_KIND_MAX)
                        return -EBADMSG;
                r = hr_to_read_error(writer_metadata_add_fileset(m, (FileSetKind) kind, logical_path, component, path,
                                                                 filespec, recursive, alternate, mask));
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(msg);
}

static int read_excludes(sd_bus_message *msg, WriterMetadata *m) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', WMD_EXCLUDE);
        if (r < 0)
                return r;

        for (;;) {
                const char *path, *filespec;
                int recursive;

                r = sd_bus_message_read(msg, WMD_EXCLUDE, &path, &filespec, &recursive);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = hr_to_read_error(writer_metadata_add_exclude(m, path, filespec, recursive));
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(msg);
}

static int read_mappings(sd_bus_message *msg, WriterMetadata *m) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', WMD_MAPPING);
        if (r < 0)
                return r;

        for (;;) {
                const char *path, *filespec, *destination;
                int recursive;

                r = sd_bus_message_read(msg, WMD_MAPPING, &path, &filespec, &destination, &recursive);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = hr_to_read_error(writer_metadata_add_alternate_location_mapping(m, path, filespec, recursive,
                                                                                    destination));
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(msg);
}

/* Read after the header, so the builder's same-writer rule sees this document's writer id. */
static int read_dependencies(sd_bus_message *msg, WriterMetadata *m) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', WMD_DEPENDENCY);
        if (r < 0)
                return r;

        for (;;) {
                const char *for_logical_path, *for_name, *on_writer, *on_logical_path, *on_name;
                vss_id on_writer_id;

                r = sd_bus_message_read(msg, WMD_DEPENDENCY, &for_logical_path, &for_name, &on_writer,
                                        &on_logical_path, &on_name);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                if (vss_id_from_bus(on_writer, &on_writer_id) < 0)
                        return -EBADMSG;
                r = hr_to_read_error(writer_metadata_add_component_dependency(m, for_logical_path, for_name,
                                                                              &on_writer_id, on_logical_path,
                                                                              on_name));
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(msg);
}

int writer_metadata_read(sd_bus_message *msg, WriterMetadata **ret) {
        _cleanup_(writer_metadata_freep) WriterMetadata *m = NULL;
        int r;

        if (!msg || !ret)
                return -EINVAL;

        m = writer_metadata_new();
        if (!m)
                return -ENOMEM;

        r = sd_bus_message_enter_container(msg, 'r', WMD_INNER);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        r = read_header(msg, m);
        if (r < 0)
                return r;
        r = read_components(msg, m);
        if (r < 0)
                return r;
        r = read_filesets(msg, m);
        if (r < 0)
                return r;
        r = read_excludes(msg, m);
        if (r < 0)
                return r;
        r = read_mappings(msg, m);
        if (r < 0)
                return r;
        r = read_dependencies(msg, m);
        if (r < 0)
                return r;

        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * examine-metadata.c: IVssExamineWriterMetadata and IVssWMComponent, read-only views over one
 * writer's metadata as the requester received it from GatherWriterMetadata.
 *
 * The document itself is the shared WriterMetadata model (src/shared/writer-metadata.h), so
 * what a writer's OnIdentify built is exactly what is read here; this file only exposes it
 * with the VSS accessors, bounds-checked, handing out borrowed pointers.
 */
#include <stdlib.h>

#include "macro.h"
#include "requester-internal.h"

vss_examine_writer_metadata *examine_metadata_new(WriterMetadata *md) {
        vss_examine_writer_metadata *e;

        assert(md);

        e = calloc(1, sizeof(*e));
        if (!e) {
                writer_metadata_free(md);
                return NULL;
        }
        e->md = md;

        if (md->n_components > 0) {
                e->components = calloc(md->n_components, sizeof(*e->components));
                if (!e->components)
                        return examine_metadata_free(e);
                for (size_t i = 0; i < md->n_components; i++)
                        e->components[i] = (vss_wm_component) {
                                .md = md,
                                .component = &md->components[i],
                        };
        }
        return e;
}

vss_examine_writer_metadata *examine_metadata_free(vss_examine_writer_metadata *e) {
        if (!e)
                return NULL;
        writer_metadata_free(e->md);
        free(e->components);
        free(e);
        return NULL;
}

vss_hr vss_examine_writer_metadata_get_identity(vss_examine_writer_metadata *m, vss_id *ret_instance_id,
                                                vss_id *ret_writer_id, const char **ret_writer_name,
                                                const char **ret_instance_name, vss_usage_type *ret_usage,
                                                vss_source_type *ret_source) {
        if (!m)
                return E_INVALIDARG;

        if (ret_instance_id)
                *ret_instance_id = m->md->instance_id;
        if (ret_writer_id)
                *ret_writer_id = m->md->writer_id;
        if (ret_writer_name)
                *ret_writer_name = strempty(m->md->writer_name);
        if (ret_instance_name)
                *ret_instance_name = strempty(m->md->instance_name);
        if (ret_usage)
                *ret_usage = m->md->usage_type;
        if (ret_source)
                *ret_source = m->md->source_type;
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_file_counts(vss_examine_writer_metadata *m, unsigned *ret_include_files,
                                                   unsigned *ret_exclude_files, unsigned *ret_components) {
        if (!m)
                return E_INVALIDARG;

        /* Like GetIdentity, each count is optional: callers often want only the components. */
        if (ret_include_files)
                *ret_include_files = 0; /* VSS reports 0: file sets belong to components */
        if (ret_exclude_files)
                *ret_exclude_files = (unsigned) m->md->n_excludes;
        if (ret_components)
                *ret_components = (unsigned) m->md->n_components;
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_component(vss_examine_writer_metadata *m, unsigned index,
                                                 vss_wm_component **ret_component) {
        if (!m || !ret_component)
                return E_INVALIDARG;
        if (index >= m->md->n_components)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret_component = &m->components[index];
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_backup_schema(vss_examine_writer_metadata *m, uint32_t *ret_schema) {
        if (!m || !ret_schema)
                return E_INVALIDARG;

        *ret_schema = m->md->backup_schema;
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_restore_method(vss_examine_writer_metadata *m, vss_restore_method *ret_method,
                                                      const char **ret_service, const char **ret_user_procedure,
                                                      vss_writer_restore *ret_writer_restore,
                                                      bool *ret_reboot_required) {
        if (!m)
                return E_INVALIDARG;

        if (ret_method)
                *ret_method = m->md->restore_method;
        if (ret_service)
                *ret_service = strempty(m->md->restore_service);
        if (ret_user_procedure)
                *ret_user_procedure = strempty(m->md->restore_user_procedure);
        if (ret_writer_restore)
                *ret_writer_restore = m->md->writer_restore;
        if (ret_reboot_required)
                *ret_reboot_required = m->md->reboot_required;
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_exclude_file(vss_examine_writer_metadata *m, unsigned index,
                                                    vss_wm_filedesc *ret_filedesc) {
        const WmExclude *x;

        if (!m || !ret_filedesc)
                return E_INVALIDARG;
        if (index >= m->md->n_excludes)
                return VSS_E_OBJECT_NOT_FOUND;

        x = &m->md->excludes[index];
        *ret_filedesc = (vss_wm_filedesc) {
                .path = x->path,
                .filespec = x->filespec,
                .recursive = x->recursive,
                .alternate_location = NULL,
                .backup_type_mask = 0,
        };
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_alternate_location_mapping_count(vss_examine_writer_metadata *m,
                                                                        unsigned *ret_count) {
        if (!m || !ret_count)
                return E_INVALIDARG;

        *ret_count = (unsigned) m->md->n_alternate_mappings;
        return S_OK;
}

vss_hr vss_examine_writer_metadata_get_alternate_location_mapping(vss_examine_writer_metadata *m, unsigned index,
                                                                  vss_wm_filedesc *ret_filedesc) {
        const WmAlternateMapping *a;

        if (!m || !ret_filedesc)
                return E_INVALIDARG;
        if (index >= m->md->n_alternate_mappings)
                return VSS_E_OBJECT_NOT_FOUND;

        a = &m->md->alternate_mappings[index];
        *ret_filedesc = (vss_wm_filedesc) {
                .path = a->path,
                .filespec = a->filespec,
                .recursive = a->recursive,
                .alternate_location = a->destination,
                .backup_type_mask = 0,
        };
        return S_OK;
}

/*
 * The index-th dependency declared for component wc, or NULL. Dependencies live in one
 * writer-wide list keyed by the "for" component, as in the document; this filters it.
 */
static const WmDependency *component_dependency(const WriterMetadata *md, const WmComponent *wc, unsigned index) {
        for (size_t i = 0; i < md->n_dependencies; i++) {
                const WmDependency *d = &md->dependencies[i];

                if (!streq(d->for_logical_path, strempty(wc->logical_path)) || !streq(d->for_name, wc->name))
                        continue;
                if (index == 0)
                        return d;
                index--;
        }
        return NULL;
}

static unsigned component_dependency_count(const WriterMetadata *md, const WmComponent *wc) {
        unsigned n = 0;

        for (size_t i = 0; i < md->n_dependencies; i++)
                if (streq(md->dependencies[i].for_logical_path, strempty(wc->logical_path)) &&
                    streq(md->dependencies[i].for_name, wc->name))
                        n++;
        return n;
}

vss_hr vss_wm_component_get_dependency(vss_wm_component *c, unsigned index, vss_wm_dependency *ret) {
        const WmDependency *d;

        if (!c || !ret)
                return E_INVALIDARG;

        d = component_dependency(c->md, c->component, index);
        if (!d)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret = (vss_wm_dependency) {
                .writer_id = d->on_writer_id,
                .logical_path = d->on_logical_path,
                .component_name = d->on_name,
        };
        return S_OK;
}

vss_hr vss_wm_component_get_info(vss_wm_component *c, vss_component_info *ret_info) {
        const WmComponent *wc;

        if (!c || !ret_info)
                return E_INVALIDARG;

        wc = c->component;
        *ret_info = (vss_component_info) {
                .type = wc->type,
                .logical_path = strempty(wc->logical_path),
                .component_name = wc->name,
                .caption = strempty(wc->caption),
                .restore_metadata = wc->restore_metadata,
                .notify_on_backup_complete = wc->notify_on_backup_complete,
                .selectable = wc->selectable,
                .selectable_for_restore = wc->selectable_for_restore,
                .component_flags = wc->flags,
                .file_count = writer_metadata_count_filesets(c->md, wc, FILESET_FILE_GROUP),
                .database_count = writer_metadata_count_filesets(c->md, wc, FILESET_DATABASE),
                .log_file_count = writer_metadata_count_filesets(c->md, wc, FILESET_DATABASE_LOG),
                .dependencies = component_dependency_count(c->md, wc),
        };
        return S_OK;
}

static vss_hr wm_component_get_fileset(vss_wm_component *c, FileSetKind kind, unsigned index, vss_wm_filedesc *ret) {
        const WmFileSet *f;

        if (!c || !ret)
                return E_INVALIDARG;

        f = writer_metadata_get_fileset(c->md, c->component, kind, index);
        if (!f)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret = (vss_wm_filedesc) {
                .path = f->path,
                .filespec = f->filespec,
                .recursive = f->recursive,
                .alternate_location = isempty(f->alternate_location) ? NULL : f->alternate_location,
                .backup_type_mask = f->backup_type_mask,
        };
        return S_OK;
}

vss_hr vss_wm_component_get_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret) {
        return wm_component_get_fileset(c, FILESET_FILE_GROUP, index, ret);
}

vss_hr vss_wm_component_get_database_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret) {
        return wm_component_get_fileset(c, FILESET_DATABASE, index, ret);
}

vss_hr vss_wm_component_get_database_log_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret) {
        return wm_component_get_fileset(c, FILESET_DATABASE_LOG, index, ret);
}

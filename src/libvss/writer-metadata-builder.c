/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-metadata-builder.c: IVssCreateWriterMetadata, the builder on_identify fills.
 *
 * The public calls are thin wrappers over the shared model (src/shared/writer-metadata.c),
 * which validates every argument and limit exactly as vssd will when it decodes the reply;
 * this file only adds the lifetime rule: a builder is usable while the on_identify it was
 * handed to runs, on that thread, and VSS_E_BAD_STATE afterwards.
 */
#include "macro.h"
#include "writer-internal.h"

static vss_hr builder_check(vss_create_writer_metadata *md) {
        const CallbackFrame *frame = writer_current_frame;

        if (!md)
                return E_INVALIDARG;
        if (!frame || frame->metadata != md)
                return VSS_E_BAD_STATE;
        return S_OK;
}

vss_hr vss_create_writer_metadata_add_component(vss_create_writer_metadata *md, vss_component_type type,
                                                const char *logical_path, const char *component_name,
                                                const char *caption, bool restore_metadata,
                                                bool notify_on_backup_complete, bool selectable,
                                                bool selectable_for_restore, uint32_t component_flags) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_component(md->md, type, logical_path, component_name, caption,
                                             restore_metadata, notify_on_backup_complete, selectable,
                                             selectable_for_restore, component_flags);
}

vss_hr vss_create_writer_metadata_add_files_to_file_group(vss_create_writer_metadata *md, const char *logical_path,
                                                          const char *group_name, const char *path,
                                                          const char *filespec, bool recursive,
                                                          const char *alternate_location,
                                                          uint32_t backup_type_mask) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_fileset(md->md, FILESET_FILE_GROUP, logical_path, group_name, path, filespec,
                                           recursive, alternate_location, backup_type_mask);
}

vss_hr vss_create_writer_metadata_add_database_files(vss_create_writer_metadata *md, const char *logical_path,
                                                     const char *database_name, const char *path,
                                                     const char *filespec, uint32_t backup_type_mask) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_fileset(md->md, FILESET_DATABASE, logical_path, database_name, path, filespec,
                                           /* recursive= */ false, /* alternate_location= */ NULL,
                                           backup_type_mask);
}

vss_hr vss_create_writer_metadata_add_database_log_files(vss_create_writer_metadata *md, const char *logical_path,
                                                         const char *database_name, const char *path,
                                                         const char *filespec, uint32_t backup_type_mask) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_fileset(md->md, FILESET_DATABASE_LOG, logical_path, database_name, path,
                                           filespec, /* recursive= */ false, /* alternate_location= */ NULL,
                                           backup_type_mask);
}

vss_hr vss_create_writer_metadata_add_exclude_files(vss_create_writer_metadata *md, const char *path,
                                                    const char *filespec, bool recursive) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_exclude(md->md, path, filespec, recursive);
}

vss_hr vss_create_writer_metadata_set_restore_method(vss_create_writer_metadata *md, vss_restore_method method,
                                                     const char *service, const char *user_procedure,
                                                     vss_writer_restore writer_restore, bool reboot_required) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_set_restore_method(md->md, method, service, user_procedure, writer_restore,
                                                  reboot_required);
}

vss_hr vss_create_writer_metadata_set_backup_schema(vss_create_writer_metadata *md, uint32_t schema) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_set_backup_schema(md->md, schema);
}

vss_hr vss_create_writer_metadata_add_alternate_location_mapping(vss_create_writer_metadata *md,
                                                                 const char *source_path,
                                                                 const char *source_filespec, bool recursive,
                                                                 const char *destination) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_alternate_location_mapping(md->md, source_path, source_filespec, recursive,
                                                              destination);
}

vss_hr vss_create_writer_metadata_add_component_dependency(vss_create_writer_metadata *md,
                                                           const char *for_logical_path,
                                                           const char *for_component_name,
                                                           const vss_id *on_writer_id,
                                                           const char *on_logical_path,
                                                           const char *on_component_name) {
        vss_hr hr = builder_check(md);

        if (hr != S_OK)
                return hr;
        return writer_metadata_add_component_dependency(md->md, for_logical_path, for_component_name,
                                                        on_writer_id, on_logical_path, on_component_name);
}

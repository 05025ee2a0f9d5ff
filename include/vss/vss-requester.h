/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-requester.h: the requester API, IVssBackupComponents and IVssAsync in C.
 *
 * A backup application creates one vss_requester per backup (the object is single-use, as
 * in VSS), walks the sequence of docs/api-map.md, and releases it. Each vss_requester is one
 * connection to vssd; closing it (vss_requester_release, exit, or being killed) is what
 * VSS calls "releasing the IVssBackupComponents instance": vssd then sends BackupShutdown to
 * every writer involved and deletes the auto-release snapshots.
 *
 * Threading: a vss_requester may be used from any thread, one call at a time. vss_async
 * objects may be waited on from other threads.
 */
#ifndef VSS_REQUESTER_H
#define VSS_REQUESTER_H

#include "vss-common.h"
#include "vss-writer.h" /* the restore enums: vss_restore_type, vss_file_restore_status */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_requester vss_requester;                         /* IVssBackupComponents */
typedef struct vss_async vss_async;                                 /* IVssAsync */
typedef struct vss_examine_writer_metadata vss_examine_writer_metadata; /* IVssExamineWriterMetadata */
typedef struct vss_wm_component vss_wm_component;                   /* IVssWMComponent */
typedef struct vss_writer_components_ext vss_writer_components_ext; /* IVssWriterComponentsExt */
typedef struct vss_component vss_component;                         /* IVssComponent (vss-writer.h) */

/* ------------------------------------------------------------------------------------------ */
/* Creation                                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define VSS_REQUESTER_OPTIONS_VERSION 1
typedef struct vss_requester_options {
        unsigned version;        /* VSS_REQUESTER_OPTIONS_VERSION */
        const char *socket_path; /* NULL: $VSS_SOCKET, else the built-in default */
} vss_requester_options;
#define VSS_REQUESTER_OPTIONS_INIT { VSS_REQUESTER_OPTIONS_VERSION, NULL }

/**
 * vss_requester_new: CreateVssBackupComponents. Connects to vssd.
 * @param opts NULL for defaults.
 * @return S_OK; E_INVALIDARG (ret NULL, bad version); E_OUTOFMEMORY;
 *         VSS_E_WRITER_INFRASTRUCTURE (vssd not reachable); E_ACCESSDENIED (socket refused us).
 * Ownership: *ret belongs to the caller, ended by vss_requester_release().
 */
VSS_EXTERN vss_hr vss_requester_new(vss_requester **ret, const vss_requester_options *opts);

/**
 * vss_requester_release: IUnknown::Release of the backup components object. Closes the
 * connection; vssd raises BackupShutdown and deletes auto-release snapshots. Pending
 * vss_async objects stay valid (they then report the result they had, or
 * VSS_E_UNEXPECTED if the operation never finished). NULL is a no-op.
 */
VSS_EXTERN void vss_requester_release(vss_requester *r);

/**
 * vss_requester_get_error_message: detail text of this handle's last failure (e.g. which
 * writer vetoed). Borrowed; valid until the next call on r. Never NULL.
 */
VSS_EXTERN const char *vss_requester_get_error_message(vss_requester *r);

/* ------------------------------------------------------------------------------------------ */
/* Backup sequence (vss-semantics.md §2; legal states and codes in docs/api-map.md)          */
/* ------------------------------------------------------------------------------------------ */

/**
 * InitializeForBackup. bcd_xml NULL or "" starts an empty Backup Components Document;
 * otherwise it is a document saved with vss_requester_save_as_xml() and is loaded (its backup
 * state, context and components; vss_requester_save_as_xml() then gives the same bytes back).
 * @return S_OK; VSS_E_INVALID_XML_DOCUMENT (malformed or schema-invalid; the reason is in
 *         vss_requester_get_error_message()); VSS_E_BAD_STATE (not the first call).
 */
VSS_EXTERN vss_hr vss_requester_initialize_for_backup(vss_requester *r, const char *bcd_xml);
/** SetContext: VSS_CTX_* value. */
VSS_EXTERN vss_hr vss_requester_set_context(vss_requester *r, vss_snapshot_context context);
/** SetBackupState. */
VSS_EXTERN vss_hr vss_requester_set_backup_state(vss_requester *r, bool select_components,
                                                  bool backup_bootable_system_state,
                                                  vss_backup_type backup_type,
                                                  bool partial_file_support);
/** GatherWriterMetadata: Identify to every subscribed writer. *ret_async owned by caller. */
VSS_EXTERN vss_hr vss_requester_gather_writer_metadata(vss_requester *r, vss_async **ret_async);
/** GetWriterMetadataCount: after GatherWriterMetadata finished. */
VSS_EXTERN vss_hr vss_requester_get_writer_metadata_count(vss_requester *r, unsigned *ret_count);
/**
 * GetWriterMetadata. Ownership: *ret_metadata is borrowed from r, valid until
 * vss_requester_free_writer_metadata() or vss_requester_release().
 * @return VSS_E_OBJECT_NOT_FOUND for an index out of range.
 */
VSS_EXTERN vss_hr vss_requester_get_writer_metadata(vss_requester *r, unsigned index,
                                                     vss_id *ret_instance_id,
                                                     vss_examine_writer_metadata **ret_metadata);
/** FreeWriterMetadata: drops the cached metadata (the selections made stay). */
VSS_EXTERN vss_hr vss_requester_free_writer_metadata(vss_requester *r);
/** AddComponent. logical_path may be NULL or "" for the root. */
VSS_EXTERN vss_hr vss_requester_add_component(vss_requester *r, const vss_id *instance_id,
                                               const vss_id *writer_id, vss_component_type type,
                                               const char *logical_path, const char *component_name);
/** EnableWriterClasses / DisableWriterClasses / DisableWriterInstances: before metadata gathering. */
VSS_EXTERN vss_hr vss_requester_enable_writer_classes(vss_requester *r, const vss_id *class_ids, unsigned count);
VSS_EXTERN vss_hr vss_requester_disable_writer_classes(vss_requester *r, const vss_id *class_ids, unsigned count);
VSS_EXTERN vss_hr vss_requester_disable_writer_instances(vss_requester *r, const vss_id *instance_ids, unsigned count);
/** StartSnapshotSet. @return VSS_E_SNAPSHOT_SET_IN_PROGRESS while another set is being created. */
VSS_EXTERN vss_hr vss_requester_start_snapshot_set(vss_requester *r, vss_id *ret_snapshot_set_id);
/**
 * AddToSnapshotSet. volume: an absolute path naming the volume (for btrfs, a subvolume).
 * provider_id: NULL or VSS_ID_NULL for automatic selection.
 */
VSS_EXTERN vss_hr vss_requester_add_to_snapshot_set(vss_requester *r, const char *volume,
                                                     const vss_id *provider_id, vss_id *ret_snapshot_id);
/** IsVolumeSupported. provider_id NULL/VSS_ID_NULL: any provider. */
VSS_EXTERN vss_hr vss_requester_is_volume_supported(vss_requester *r, const vss_id *provider_id,
                                                     const char *volume, bool *ret_supported);
/** PrepareForBackup: PrepareForBackup event to writers with selected components. */
VSS_EXTERN vss_hr vss_requester_prepare_for_backup(vss_requester *r, vss_async **ret_async);
/**
 * DoSnapshotSet: PrepareForSnapshot, provider end-prepare, Freeze, provider commit, Thaw,
 * PostSnapshot. The async result carries the failure codes listed in docs/api-map.md.
 */
VSS_EXTERN vss_hr vss_requester_do_snapshot_set(vss_requester *r, vss_async **ret_async);

/** VSS_SNAPSHOT_PROP. Strings are owned by the struct; free with vss_snapshot_prop_free. */
typedef struct vss_snapshot_prop {
        vss_id snapshot_id;
        vss_id snapshot_set_id;
        int32_t snapshots_count;
        char *snapshot_device_object; /* path to read the point-in-time copy from */
        char *original_volume_name;
        char *originating_machine;
        char *service_machine;
        char *exposed_name;           /* NULL when not exposed */
        char *exposed_path;           /* NULL when not exposed */
        vss_id provider_id;
        uint32_t snapshot_attributes; /* VSS_VOLSNAP_ATTR_* */
        vss_timestamp creation_timestamp;
        vss_snapshot_state status;
} vss_snapshot_prop;

/** GetSnapshotProperties. @return VSS_E_OBJECT_NOT_FOUND for an unknown id. */
VSS_EXTERN vss_hr vss_requester_get_snapshot_properties(vss_requester *r, const vss_id *snapshot_id,
                                                         vss_snapshot_prop *ret_prop);
/** VssFreeSnapshotProperties: frees the strings and zeroes the struct. NULL is a no-op. */
VSS_EXTERN void vss_snapshot_prop_free(vss_snapshot_prop *prop);

/** SetBackupSucceeded: component mode, after DoSnapshotSet succeeded, before BackupComplete. */
VSS_EXTERN vss_hr vss_requester_set_backup_succeeded(vss_requester *r, const vss_id *instance_id,
                                                      const vss_id *writer_id, vss_component_type type,
                                                      const char *logical_path, const char *component_name,
                                                      bool succeeded);
/**
 * SetBackupOptions: writer-defined options for one explicitly added component, read by the
 * writer with vss_component_get_backup_options(). After AddComponent, before PrepareForBackup.
 * @return VSS_E_OBJECT_NOT_FOUND (no such component in the document), E_INVALIDARG (options
 *         NULL, too long or not XML-safe), VSS_E_BAD_STATE.
 */
VSS_EXTERN vss_hr vss_requester_set_backup_options(vss_requester *r, const vss_id *instance_id,
                                                    const vss_id *writer_id, vss_component_type type,
                                                    const char *logical_path, const char *component_name,
                                                    const char *options);
/**
 * SetPreviousBackupStamp: the stamp a writer set in the backup this one builds on (read by
 * the writer with vss_component_get_previous_backup_stamp()). Same rules as SetBackupOptions.
 */
VSS_EXTERN vss_hr vss_requester_set_previous_backup_stamp(vss_requester *r, const vss_id *instance_id,
                                                           const vss_id *writer_id, vss_component_type type,
                                                           const char *logical_path,
                                                           const char *component_name,
                                                           const char *previous_backup_stamp);
/**
 * SaveAsXML: the Backup Components Document as it stands in vssd (meaningful after
 * DoSnapshotSet: writers edit it up to PostSnapshot). Any time after InitializeForBackup or
 * InitializeForRestore (in a restore it carries the writers' PreRestore edits too).
 * @return S_OK with *ret_xml (malloc'd UTF-8, NUL-terminated; the caller frees it with
 *         free()); VSS_E_BAD_STATE.
 */
VSS_EXTERN vss_hr vss_requester_save_as_xml(vss_requester *r, char **ret_xml);
/**
 * GetWriterComponentsCount: fetches the document from vssd now and counts the writer
 * instances that have explicitly added components in it. Any time after InitializeForBackup
 * or InitializeForRestore (after PreRestore a restore's views show the writers' restore
 * targets, directed targets, restore metadata and failure messages).
 */
VSS_EXTERN vss_hr vss_requester_get_writer_components_count(vss_requester *r, unsigned *ret_count);
/**
 * GetWriterComponents: the read view of writer instance index of the document fetched by the
 * last vss_requester_get_writer_components_count() (fetched now if none was).
 * @return S_OK; VSS_E_OBJECT_NOT_FOUND (index out of range); VSS_E_BAD_STATE.
 * Ownership: *ret belongs to the caller, freed with vss_writer_components_ext_free(); it stays
 * valid after later calls on r and after vss_requester_release().
 */
VSS_EXTERN vss_hr vss_requester_get_writer_components(vss_requester *r, unsigned index,
                                                       vss_writer_components_ext **ret);
/** BackupComplete (seed 000). */
VSS_EXTERN vss_hr vss_requester_backup_complete(vss_requester *r, vss_async **ret_async);
/** GatherWriterStatus. */
VSS_EXTERN vss_hr vss_requester_gather_writer_status(vss_requester *r, vss_async **ret_async);
VSS_EXTERN vss_hr vss_requester_get_writer_status_count(vss_requester *r, unsigned *ret_count);
/**
 * GetWriterStatus. *ret_writer_name is borrowed, valid until vss_requester_free_writer_status().
 * Any ret_* may be NULL. Check *ret_failure even when S_OK is returned.
 */
VSS_EXTERN vss_hr vss_requester_get_writer_status(vss_requester *r, unsigned index,
                                                   vss_id *ret_instance_id, vss_id *ret_writer_id,
                                                   const char **ret_writer_name,
                                                   vss_writer_state *ret_state, vss_hr *ret_failure);
VSS_EXTERN vss_hr vss_requester_free_writer_status(vss_requester *r);
/**
 * AbortBackup (seed 004): legal after PrepareForBackup; Abort to every writer involved.
 * On a restore object VSS_E_BAD_STATE: "aborts are not supported for restores".
 */
VSS_EXTERN vss_hr vss_requester_abort_backup(vss_requester *r);

/* ------------------------------------------------------------------------------------------ */
/* Restore sequence (vss-semantics.md §3; legal states and codes in docs/api-map.md)          */
/*                                                                                            */
/* An object initialised for restore refuses the backup-only calls with VSS_E_BAD_STATE, and  */
/* a backup object the restore calls. Components are named as in the backup calls; here       */
/* instance_id may be NULL or VSS_ID_NULL for "the document's writer of class writer_id". After */
/* GatherWriterMetadata vssd binds each writer of the document to the running instance of its  */
/* class, so vss_requester_get_writer_components then shows the live instance ids.            */
/* ------------------------------------------------------------------------------------------ */

/**
 * InitializeForRestore: bcd_xml (mandatory) is a document saved with
 * vss_requester_save_as_xml() at backup time. Its backup state, context and components become
 * this restore's. @return S_OK; VSS_E_INVALID_XML_DOCUMENT (NULL, empty, malformed or
 * schema-invalid; reason in vss_requester_get_error_message()); VSS_E_BAD_STATE (not the
 * first call).
 */
VSS_EXTERN vss_hr vss_requester_initialize_for_restore(vss_requester *r, const char *bcd_xml);
/** SetRestoreState: before PreRestore. E_INVALIDARG outside VSS_RTYPE_*. */
VSS_EXTERN vss_hr vss_requester_set_restore_state(vss_requester *r, vss_restore_type restore_type);
/**
 * SetSelectedForRestore: after GatherWriterMetadata, before PreRestore. Only components the
 * document holds (explicitly added at backup time) can be selected.
 * @return VSS_E_OBJECT_NOT_FOUND (not in the document, or its writer is not running: restore
 *         its data without writer participation), VSS_E_BAD_STATE, E_INVALIDARG.
 */
VSS_EXTERN vss_hr vss_requester_set_selected_for_restore(vss_requester *r, const vss_id *instance_id,
                                                          const vss_id *writer_id, vss_component_type type,
                                                          const char *logical_path, const char *component_name,
                                                          bool selected);
/**
 * AddRestoreSubcomponent: a selectable-for-restore subcomponent (in the running writer's
 * metadata, below the named component) to restore. Same window as SetSelectedForRestore.
 * @return VSS_E_OBJECT_NOT_FOUND, E_INVALIDARG (not selectable for restore),
 *         VSS_E_OBJECT_ALREADY_EXISTS, VSS_E_BAD_STATE.
 */
VSS_EXTERN vss_hr vss_requester_add_restore_subcomponent(vss_requester *r, const vss_id *instance_id,
                                                          const vss_id *writer_id, vss_component_type type,
                                                          const char *logical_path, const char *component_name,
                                                          const char *sub_logical_path, const char *sub_name,
                                                          bool repair);
/** SetRestoreOptions: writer-defined string, before PreRestore. VSS_E_OBJECT_NOT_FOUND. */
VSS_EXTERN vss_hr vss_requester_set_restore_options(vss_requester *r, const vss_id *instance_id,
                                                     const vss_id *writer_id, vss_component_type type,
                                                     const char *logical_path, const char *component_name,
                                                     const char *options);
/** SetAdditionalRestores: true on every pass of a sequential restore but the last. */
VSS_EXTERN vss_hr vss_requester_set_additional_restores(vss_requester *r, const vss_id *instance_id,
                                                         const vss_id *writer_id, vss_component_type type,
                                                         const char *logical_path, const char *component_name,
                                                         bool additional_restores);
/**
 * AddNewTarget: restore the file set (path, filespec, recursive), which must equal a file set
 * the running writer declared for the component or a subcomponent, to alternate_path. Before
 * PreRestore. The writer must declare VSS_BS_WRITER_SUPPORTS_NEW_TARGET in its backup schema.
 * @return VSS_E_OBJECT_NOT_FOUND (no such component, writer not running, or no such file
 * set), VSS_E_OBJECT_ALREADY_EXISTS (that file set twice), E_INVALIDARG (bad argument, or the
 * writer does not support new targets).
 */
VSS_EXTERN vss_hr vss_requester_add_new_target(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                               vss_component_type type, const char *logical_path,
                                               const char *component_name, const char *path, const char *filespec,
                                               bool recursive, const char *alternate_path);
/** PreRestore: PreRestore event to the writers with selected components. */
VSS_EXTERN vss_hr vss_requester_pre_restore(vss_requester *r, vss_async **ret_async);
/** SetFileRestoreStatus: only between PreRestore and PostRestore (VSS_E_BAD_STATE otherwise). */
VSS_EXTERN vss_hr vss_requester_set_file_restore_status(vss_requester *r, const vss_id *instance_id,
                                                         const vss_id *writer_id, vss_component_type type,
                                                         const char *logical_path, const char *component_name,
                                                         vss_file_restore_status status);
/** PostRestore: PostRestore event to every writer that got PreRestore. */
VSS_EXTERN vss_hr vss_requester_post_restore(vss_requester *r, vss_async **ret_async);

/* ------------------------------------------------------------------------------------------ */
/* Snapshot management                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct vss_provider_prop {
        vss_id provider_id;
        char *provider_name;
        vss_provider_type provider_type;
        char *provider_version;
} vss_provider_prop;

typedef struct vss_object_prop {
        vss_object_type type; /* VSS_OBJECT_SNAPSHOT or VSS_OBJECT_PROVIDER */
        union {
                vss_snapshot_prop snap;
                vss_provider_prop prov;
        } obj;
} vss_object_prop;

typedef struct vss_enum_object vss_enum_object; /* IVssEnumObject */

/**
 * Query: returned_type VSS_OBJECT_SNAPSHOT (completed snapshots of the current context) or
 * VSS_OBJECT_PROVIDER. query_object must be NULL/VSS_ID_NULL and query_type VSS_OBJECT_NONE.
 * Ownership: *ret_enum belongs to the caller; free with vss_enum_object_free.
 */
VSS_EXTERN vss_hr vss_requester_query(vss_requester *r, const vss_id *query_object,
                                       vss_object_type query_type, vss_object_type returned_type,
                                       vss_enum_object **ret_enum);
/** IVssEnumObject::Next, one element: S_OK and a borrowed pointer, S_FALSE at the end. */
VSS_EXTERN vss_hr vss_enum_object_next(vss_enum_object *e, const vss_object_prop **ret_prop);
VSS_EXTERN void vss_enum_object_reset(vss_enum_object *e);
VSS_EXTERN void vss_enum_object_free(vss_enum_object *e);

/**
 * DeleteSnapshots by snapshot id (VSS_OBJECT_SNAPSHOT) or set id (VSS_OBJECT_SNAPSHOT_SET).
 * Stops at the first failure; *ret_deleted counts what was deleted, *ret_nondeleted_id is
 * the first id not deleted (VSS_ID_NULL on success).
 */
VSS_EXTERN vss_hr vss_requester_delete_snapshots(vss_requester *r, const vss_id *source_id,
                                                  vss_object_type source_type, bool force_delete,
                                                  int32_t *ret_deleted, vss_id *ret_nondeleted_id);

/**
 * ExposeSnapshot (locally, as a mount folder): mounts the finished snapshot read-only,
 * nosuid, nodev, noexec at path, an existing empty directory that is not a symlink and, for a
 * caller other than root, is the caller's own; path NULL or "": vssd picks
 * /run/vss/exposed/<snapshot id>. The snapshot must be visible in the current context
 * (VSS_CTX_ALL sees all). An auto-release snapshot's exposure goes with it.
 * @return S_OK with *ret_exposed_path (malloc'd, the caller frees it with free());
 *         VSS_E_OBJECT_NOT_FOUND (no such snapshot here), VSS_E_OBJECT_ALREADY_EXISTS
 *         (already exposed), E_INVALIDARG (bad target), E_ACCESSDENIED,
 *         VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (the provider cannot expose).
 */
VSS_EXTERN vss_hr vss_requester_expose_snapshot(vss_requester *r, const vss_id *snapshot_id, const char *path,
                                                 char **ret_exposed_path);
/**
 * UnexposeSnapshot: unmounts the exposure (a directory vssd picked is removed).
 * @return S_OK, VSS_E_OBJECT_NOT_FOUND, VSS_E_BAD_STATE (not exposed), VSS_E_VOLUME_IN_USE
 *         (the mount is busy; nothing changed).
 */
VSS_EXTERN vss_hr vss_requester_unexpose_snapshot(vss_requester *r, const vss_id *snapshot_id);

/* ------------------------------------------------------------------------------------------ */
/* IVssAsync                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/**
 * vss_async_wait: IVssAsync::Wait. Blocks until the operation ends or timeout_ms passes
 * (VSS_INFINITE: no limit). @return S_OK when the operation has ended (read the result with
 * vss_async_query_status), VSS_S_ASYNC_PENDING when the timeout passed first.
 */
VSS_EXTERN vss_hr vss_async_wait(vss_async *a, uint32_t timeout_ms);
/**
 * vss_async_query_status: *ret_hr_result = VSS_S_ASYNC_PENDING, VSS_S_ASYNC_FINISHED,
 * VSS_S_ASYNC_CANCELLED, or the operation's failure code. @return S_OK or E_INVALIDARG.
 */
VSS_EXTERN vss_hr vss_async_query_status(vss_async *a, vss_hr *ret_hr_result);
/**
 * vss_async_cancel: IVssAsync::Cancel, honoured at vssd's next safe point.
 * @return S_OK (cancelled by this call), VSS_S_ASYNC_CANCELLED (already cancelled),
 *         VSS_S_ASYNC_FINISHED (already done), or the operation's failure code if it had
 *         already failed. A cancel that arrives too late reports the real result.
 */
VSS_EXTERN vss_hr vss_async_cancel(vss_async *a);
/**
 * vss_async_wait_result: Wait(VSS_INFINITE) then QueryStatus, as one call, for a caller that
 * only wants to know how the operation ended. Does not release a (the caller still owns it).
 * @return the operation's result: S_OK (it finished), VSS_S_ASYNC_CANCELLED, or its failure
 *         code (VSS_E_UNEXPECTED when the connection broke first); E_INVALIDARG for a NULL a.
 */
VSS_EXTERN vss_hr vss_async_wait_result(vss_async *a);
/** vss_async_release: frees the handle; the operation itself runs on. NULL is a no-op. */
VSS_EXTERN void vss_async_release(vss_async *a);

/* ------------------------------------------------------------------------------------------ */
/* IVssExamineWriterMetadata: read view of one writer's metadata (all pointers borrowed)      */
/* ------------------------------------------------------------------------------------------ */

/** GetIdentity. Any ret_* may be NULL. */
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_identity(vss_examine_writer_metadata *m,
                                                            vss_id *ret_instance_id, vss_id *ret_writer_id,
                                                            const char **ret_writer_name,
                                                            const char **ret_instance_name,
                                                            vss_usage_type *ret_usage,
                                                            vss_source_type *ret_source);
/** GetFileCounts: include files (always 0, as in VSS), exclude files, components. */
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_file_counts(vss_examine_writer_metadata *m,
                                                               unsigned *ret_include_files,
                                                               unsigned *ret_exclude_files,
                                                               unsigned *ret_components);
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_component(vss_examine_writer_metadata *m, unsigned index,
                                                             vss_wm_component **ret_component);
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_backup_schema(vss_examine_writer_metadata *m,
                                                                 uint32_t *ret_schema);
/** GetRestoreMethod. Any ret_* may be NULL. */
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_restore_method(vss_examine_writer_metadata *m,
                                                                  vss_restore_method *ret_method,
                                                                  const char **ret_service,
                                                                  const char **ret_user_procedure,
                                                                  vss_writer_restore *ret_writer_restore,
                                                                  bool *ret_reboot_required);

/** VSS_FILEDESC / IVssWMFiledesc. */
typedef struct vss_wm_filedesc {
        const char *path;
        const char *filespec;
        bool recursive;
        const char *alternate_location; /* NULL when none */
        uint32_t backup_type_mask;      /* VSS_FSBT_* */
} vss_wm_filedesc;

VSS_EXTERN vss_hr vss_examine_writer_metadata_get_exclude_file(vss_examine_writer_metadata *m, unsigned index,
                                                                vss_wm_filedesc *ret_filedesc);
/** The number of alternate location mappings (VSS has no count call; GetFileCounts does not carry it). */
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_alternate_location_mapping_count(vss_examine_writer_metadata *m,
                                                                                    unsigned *ret_count);
/**
 * GetAlternateLocationMapping: path, filespec and recursive name the mapped file set;
 * alternate_location is its destination; backup_type_mask is 0.
 * @return S_OK; VSS_E_OBJECT_NOT_FOUND (index out of range); E_INVALIDARG.
 */
VSS_EXTERN vss_hr vss_examine_writer_metadata_get_alternate_location_mapping(vss_examine_writer_metadata *m,
                                                                              unsigned index,
                                                                              vss_wm_filedesc *ret_filedesc);

/** VSS_COMPONENTINFO. */
typedef struct vss_component_info {
        vss_component_type type;
        const char *logical_path;   /* "" for the root */
        const char *component_name;
        const char *caption;        /* may be "" */
        bool restore_metadata;
        bool notify_on_backup_complete;
        bool selectable;
        bool selectable_for_restore;
        uint32_t component_flags;   /* VSS_CF_* */
        unsigned file_count;
        unsigned database_count;
        unsigned log_file_count;
        unsigned dependencies;      /* count for vss_wm_component_get_dependency() */
} vss_component_info;

VSS_EXTERN vss_hr vss_wm_component_get_info(vss_wm_component *c, vss_component_info *ret_info);
VSS_EXTERN vss_hr vss_wm_component_get_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret);
VSS_EXTERN vss_hr vss_wm_component_get_database_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret);
VSS_EXTERN vss_hr vss_wm_component_get_database_log_file(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret);

/** IVssWMDependency: the component of another writer a component needs (strings borrowed). */
typedef struct vss_wm_dependency {
        vss_id writer_id;
        const char *logical_path;   /* "" for the root */
        const char *component_name;
} vss_wm_dependency;

/**
 * IVssWMComponent::GetDependency: the index-th dependency of c (0 .. info.dependencies - 1).
 * @return S_OK; VSS_E_OBJECT_NOT_FOUND (index out of range); E_INVALIDARG.
 */
VSS_EXTERN vss_hr vss_wm_component_get_dependency(vss_wm_component *c, unsigned index, vss_wm_dependency *ret);

/**
 * IVssExamineWriterMetadata::SaveAsXML: the metadata as a Writer Metadata Document.
 * @return S_OK with *ret_xml (malloc'd; the caller frees it with free());
 *         VSS_E_INVALID_XML_DOCUMENT (a value XML cannot carry); E_INVALIDARG; E_OUTOFMEMORY.
 */
VSS_EXTERN vss_hr vss_examine_writer_metadata_save_as_xml(vss_examine_writer_metadata *m, char **ret_xml);
/**
 * CreateVssExamineWriterMetadata: a read view over a saved Writer Metadata Document (parsing is
 * hardened: no network, no entities, size and depth limits).
 * @return S_OK with *ret (caller-owned, freed with vss_examine_writer_metadata_free());
 *         VSS_E_INVALID_XML_DOCUMENT with, when ret_reason is not NULL, *ret_reason (malloc'd
 *         sentence naming line and element, or NULL; the caller frees it with free());
 *         E_INVALIDARG (xml or ret NULL); E_OUTOFMEMORY.
 */
VSS_EXTERN vss_hr vss_examine_writer_metadata_new_from_xml(const char *xml, vss_examine_writer_metadata **ret,
                                                            char **ret_reason);
/**
 * vss_examine_writer_metadata_free: frees a view made by vss_examine_writer_metadata_new_from_xml().
 * NULL is a no-op, and so is a view borrowed from vss_requester_get_writer_metadata() (the
 * requester owns those).
 */
VSS_EXTERN void vss_examine_writer_metadata_free(vss_examine_writer_metadata *m);

/* ------------------------------------------------------------------------------------------ */
/* IVssWriterComponentsExt: the requester's read view of one writer's components in the BCD   */
/* ------------------------------------------------------------------------------------------ */

/** GetWriterInfo. Any ret_* may be NULL. */
VSS_EXTERN vss_hr vss_writer_components_ext_get_writer_info(vss_writer_components_ext *e,
                                                             vss_id *ret_instance_id, vss_id *ret_writer_id);
/** GetComponentCount. */
VSS_EXTERN vss_hr vss_writer_components_ext_get_count(vss_writer_components_ext *e, unsigned *ret_count);
/**
 * GetComponent: *ret_component is borrowed from e (valid until vss_writer_components_ext_free).
 * Read it with the vss_component_get_* calls of vss-writer.h (logical path, name, type,
 * backup stamp, previous stamp, backup metadata, backup options, differenced files, partial
 * files, backup succeeded); the writer-only set/add calls return VSS_E_BAD_STATE on it.
 * @return VSS_E_OBJECT_NOT_FOUND for an index out of range.
 */
VSS_EXTERN vss_hr vss_writer_components_ext_get_component(vss_writer_components_ext *e, unsigned index,
                                                           vss_component **ret_component);
/** vss_writer_components_ext_free: NULL is a no-op. */
VSS_EXTERN void vss_writer_components_ext_free(vss_writer_components_ext *e);

#ifdef __cplusplus
}
#endif

#endif /* VSS_REQUESTER_H */

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-writer.h: the writer API, CVssWriter, IVssCreateWriterMetadata, IVssWriterComponents
 * and IVssComponent in C.
 *
 * An application becomes a writer by filling a vss_writer_options (CVssWriter::Initialize),
 * handing libvss a table of callbacks (the CVssWriter virtual methods) and subscribing. Each
 * vss_writer is one connection to vssd. libvss runs the callbacks on threads of its own (as a
 * rule the connection's I/O thread, as the event arrives), one event at a time per writer; a
 * callback may block without stopping libvss from serving the connection. A process may host
 * several writers.
 *
 * Safety net: after a Freeze event arrives, libvss itself calls on_abort if neither Thaw nor
 * Abort has arrived within the writer's freeze timeout, or at once if the connection to vssd
 * is lost while frozen. So a writer is never left frozen because someone else died.
 *
 * Callback return convention (as in VSS): return true unless the failure is fatal for the
 * backup. To veto, call vss_writer_set_writer_failure() and return false. A NULL callback
 * behaves like a handler that returns true; for PrepareForBackup, PrepareForSnapshot,
 * PostSnapshot, BackupComplete, PreRestore and PostRestore libvss then asks vssd not to send
 * the event at all.
 */
#ifndef VSS_WRITER_H
#define VSS_WRITER_H

#include "vss-common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_writer vss_writer;                               /* CVssWriter */
typedef struct vss_create_writer_metadata vss_create_writer_metadata; /* IVssCreateWriterMetadata */
typedef struct vss_writer_components vss_writer_components;         /* IVssWriterComponents */
typedef struct vss_component vss_component;                         /* IVssComponent */

/* VSS_RESTORE_TARGET: where a component's files go at restore (the writer decides in PreRestore). */
typedef enum vss_restore_target {
        VSS_RT_UNDEFINED = 0,
        VSS_RT_ORIGINAL = 1,
        VSS_RT_ALTERNATE = 2,
        VSS_RT_DIRECTED = 3,
        VSS_RT_ORIGINAL_LOCATION = 4,
} vss_restore_target;

/* VSS_FILE_RESTORE_STATUS: what the requester managed to restore (SetFileRestoreStatus). */
typedef enum vss_file_restore_status {
        VSS_RS_UNDEFINED = 0,
        VSS_RS_NONE = 1,
        VSS_RS_ALL = 2,
        VSS_RS_FAILED = 3,
} vss_file_restore_status;

/* VSS_RESTORE_TYPE (SetRestoreState). Writers treat VSS_RTYPE_UNDEFINED as VSS_RTYPE_BY_COPY. */
typedef enum vss_restore_type {
        VSS_RTYPE_UNDEFINED = 0,
        VSS_RTYPE_BY_COPY = 1,
        VSS_RTYPE_IMPORT = 2,
        VSS_RTYPE_OTHER = 3,
} vss_restore_type;

/*
 * Version 2 appended on_pre_restore and on_post_restore. A version 1 struct (without them) is
 * still accepted: its writer gets no restore callbacks (they behave as handlers returning true).
 */
#define VSS_WRITER_CALLBACKS_VERSION 2
#define VSS_WRITER_CALLBACKS_VERSION_1 1
typedef struct vss_writer_callbacks {
        unsigned version; /* VSS_WRITER_CALLBACKS_VERSION (or 1 for the shorter struct) */
        /* OnIdentify: describe yourself into md (lives only during the call). */
        bool (*on_identify)(vss_writer *w, vss_create_writer_metadata *md, void *userdata);
        /* OnPrepareBackup: c is NULL when the requester is not in component mode. */
        bool (*on_prepare_backup)(vss_writer *w, vss_writer_components *c, void *userdata);
        /* OnPrepareSnapshot: get ready to freeze (flush, checkpoint); nothing is frozen yet. */
        bool (*on_prepare_snapshot)(vss_writer *w, void *userdata);
        /* OnFreeze: stop writes; held until on_thaw or on_abort, at most the freeze timeout. */
        bool (*on_freeze)(vss_writer *w, void *userdata);
        /* OnThaw: the snapshot is committed; resume writes. */
        bool (*on_thaw)(vss_writer *w, void *userdata);
        /* OnPostSnapshot (with VSS_SM_POST_SNAPSHOT_FLAG): the snapshot exists; c may be edited. */
        bool (*on_post_snapshot)(vss_writer *w, vss_writer_components *c, void *userdata);
        /* OnAbort: may arrive more than once; must return the application to normal. */
        bool (*on_abort)(vss_writer *w, void *userdata);
        /* OnBackupComplete: c says, per component, whether the requester backed it up. */
        bool (*on_backup_complete)(vss_writer *w, vss_writer_components *c, void *userdata);
        /* OnBackupShutdown: snapshot_set_id is VSS_ID_NULL when no set was created. */
        bool (*on_backup_shutdown)(vss_writer *w, const vss_id *snapshot_set_id, void *userdata);
        /*
         * Version 2. OnPreRestore: c holds the writer's components of the restore; check
         * vss_component_is_selected_for_restore, read the restore options, close files, set the
         * restore target. Only writers with a selected component get it; writers whose
         * metadata says VSS_WRE_NEVER never do. There is no BackupShutdown after a restore
         * (VSS raises that event for backups only).
         */
        bool (*on_pre_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
        /* OnPostRestore: read the file restore status, the new targets and additional
         * restores (true: more restores follow, do not recover yet); recover, restart. */
        bool (*on_post_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
} vss_writer_callbacks;

#define VSS_WRITER_OPTIONS_VERSION 1
typedef struct vss_writer_options {
        unsigned version;                 /* VSS_WRITER_OPTIONS_VERSION */
        vss_id writer_id;                 /* the writer class id (required, non-null) */
        const char *writer_name;          /* required */
        const char *instance_name;        /* stable, unique per instance of a class; may be NULL */
        vss_usage_type usage_type;
        vss_source_type source_type;
        vss_application_level level;      /* default VSS_APP_FRONT_END */
        uint32_t freeze_timeout_ms;       /* Freeze→Thaw bound; 0 means the default 60000 */
        const char *socket_path;          /* NULL: $VSS_SOCKET, else the built-in default */
} vss_writer_options;
#define VSS_WRITER_OPTIONS_INIT { VSS_WRITER_OPTIONS_VERSION, { { 0 } }, NULL, NULL, \
                VSS_UT_USERDATA, VSS_ST_OTHER, VSS_APP_FRONT_END, 60000, NULL }

/**
 * vss_writer_new: CVssWriter::Initialize. Copies opts and cb; no connection yet.
 * @return S_OK; E_INVALIDARG (NULL ret/opts/cb, null writer_id, no name, bad version);
 *         E_OUTOFMEMORY.
 * Ownership: *ret belongs to the caller, ended by vss_writer_free().
 */
VSS_EXTERN vss_hr vss_writer_new(vss_writer **ret, const vss_writer_options *opts,
                                  const vss_writer_callbacks *cb, void *userdata);

/**
 * vss_writer_subscribe: connect to vssd and start receiving events (event_flags: VSS_SM_*).
 * @return S_OK; VSS_E_WRITER_ALREADY_SUBSCRIBED (second call); E_ACCESSDENIED (vssd refuses
 *         this uid); VSS_E_WRITER_INFRASTRUCTURE (vssd not reachable); E_OUTOFMEMORY.
 */
VSS_EXTERN vss_hr vss_writer_subscribe(vss_writer *w, uint32_t event_flags);

/**
 * vss_writer_unsubscribe: stop receiving events and close the connection. If the writer was
 * frozen, on_abort runs first. Must not be called from inside a callback (VSS_E_BAD_STATE).
 */
VSS_EXTERN vss_hr vss_writer_unsubscribe(vss_writer *w);

/** vss_writer_free: unsubscribes if needed, then frees. NULL is a no-op. */
VSS_EXTERN void vss_writer_free(vss_writer *w);

/** vss_writer_get_instance_id: the instance id vssd assigned at subscribe. */
VSS_EXTERN vss_hr vss_writer_get_instance_id(vss_writer *w, vss_id *ret);

/* ------------------------------------------------------------------------------------------ */
/* Helpers for use inside callbacks, on the thread running one. Outside their window they     */
/* return VSS_E_BAD_STATE (vss-semantics.md §6, "Protected query helpers").                    */
/* ------------------------------------------------------------------------------------------ */

/** SetWriterFailure: any handler except on_identify (restore handlers too). hr: a VSS_E_WRITERERROR_* code. */
VSS_EXTERN vss_hr vss_writer_set_writer_failure(vss_writer *w, vss_hr hr);
/** GetCurrentSnapshotSetId: only inside PrepareForSnapshot, Freeze, Thaw, PostSnapshot (seed 002). */
VSS_EXTERN vss_hr vss_writer_get_current_snapshot_set_id(vss_writer *w, vss_id *ret);
/**
 * GetCurrentVolumeArray / GetCurrentVolumeCount: PrepareForSnapshot through PostSnapshot.
 * *ret_volumes is borrowed, valid until the callback returns.
 */
VSS_EXTERN vss_hr vss_writer_get_current_volume_array(vss_writer *w, unsigned *ret_count,
                                                       const char *const **ret_volumes);
/** IsPathAffected: PrepareForBackup through PostSnapshot; $VAR / ${VAR} expanded, no wildcards. */
VSS_EXTERN vss_hr vss_writer_is_path_affected(vss_writer *w, const char *path, bool *ret_affected);
/** GetBackupType: PrepareForBackup through BackupComplete. */
VSS_EXTERN vss_hr vss_writer_get_backup_type(vss_writer *w, vss_backup_type *ret);
/** AreComponentsSelected: PrepareForBackup through BackupComplete. */
VSS_EXTERN vss_hr vss_writer_are_components_selected(vss_writer *w, bool *ret);
/** GetContext: inside any handler. */
VSS_EXTERN vss_hr vss_writer_get_context(vss_writer *w, vss_snapshot_context *ret);
/** GetRestoreType: on_pre_restore and on_post_restore (what the requester set with
 *  vss_requester_set_restore_state; VSS_RTYPE_UNDEFINED when it set nothing). */
VSS_EXTERN vss_hr vss_writer_get_restore_type(vss_writer *w, vss_restore_type *ret);

/* ------------------------------------------------------------------------------------------ */
/* IVssCreateWriterMetadata (inside on_identify only)                                          */
/* ------------------------------------------------------------------------------------------ */

/**
 * AddComponent. logical_path NULL or "" means the root; component_name is required and may
 * not contain '\'. @return VSS_E_OBJECT_ALREADY_EXISTS for a repeated (logical_path, name).
 */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_component(vss_create_writer_metadata *md,
                                                            vss_component_type type,
                                                            const char *logical_path,
                                                            const char *component_name,
                                                            const char *caption,
                                                            bool restore_metadata,
                                                            bool notify_on_backup_complete,
                                                            bool selectable,
                                                            bool selectable_for_restore,
                                                            uint32_t component_flags);
/** AddFilesToFileGroup. @return VSS_E_OBJECT_NOT_FOUND if the component does not exist. */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_files_to_file_group(vss_create_writer_metadata *md,
                                                                      const char *logical_path,
                                                                      const char *group_name,
                                                                      const char *path,
                                                                      const char *filespec,
                                                                      bool recursive,
                                                                      const char *alternate_location,
                                                                      uint32_t backup_type_mask);
/** AddDatabaseFiles (database components only; no recursion, no alternate path). */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_database_files(vss_create_writer_metadata *md,
                                                                 const char *logical_path,
                                                                 const char *database_name,
                                                                 const char *path,
                                                                 const char *filespec,
                                                                 uint32_t backup_type_mask);
/** AddDatabaseLogFiles. */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_database_log_files(vss_create_writer_metadata *md,
                                                                     const char *logical_path,
                                                                     const char *database_name,
                                                                     const char *path,
                                                                     const char *filespec,
                                                                     uint32_t backup_type_mask);
/** AddExcludeFiles. */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_exclude_files(vss_create_writer_metadata *md,
                                                                const char *path, const char *filespec,
                                                                bool recursive);
/** SetRestoreMethod. service required for STOP_RESTORE_START and RESTORE_STOP_START. */
VSS_EXTERN vss_hr vss_create_writer_metadata_set_restore_method(vss_create_writer_metadata *md,
                                                                 vss_restore_method method,
                                                                 const char *service,
                                                                 const char *user_procedure,
                                                                 vss_writer_restore writer_restore,
                                                                 bool reboot_required);
/** SetBackupSchema: VSS_BS_* mask. */
VSS_EXTERN vss_hr vss_create_writer_metadata_set_backup_schema(vss_create_writer_metadata *md,
                                                                uint32_t schema);
/**
 * AddAlternateLocationMapping: where the file set (source_path, source_filespec, recursive)
 * goes at restore time when it cannot go back home. The triple must equal a file set already
 * declared by a component, and be mapped once; destination is an absolute path (or $VAR form).
 * @return S_OK; VSS_E_OBJECT_NOT_FOUND (no such file set); VSS_E_OBJECT_ALREADY_EXISTS;
 *         E_INVALIDARG; E_OUTOFMEMORY; VSS_E_BAD_STATE outside on_identify.
 */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_alternate_location_mapping(vss_create_writer_metadata *md,
                                                                             const char *source_path,
                                                                             const char *source_filespec,
                                                                             bool recursive,
                                                                             const char *destination);
/**
 * AddComponentDependency: the component (for_logical_path, for_component_name) of this writer
 * needs the component (on_logical_path, on_component_name) of the writer class on_writer_id.
 * The "for" component must exist; on_writer_id must be non-null and not this writer's own id
 * (a writer orders its own components with logical paths).
 * @return S_OK; VSS_E_OBJECT_NOT_FOUND; VSS_E_OBJECT_ALREADY_EXISTS (repeated dependency);
 *         E_INVALIDARG; E_OUTOFMEMORY; VSS_E_BAD_STATE outside on_identify.
 */
VSS_EXTERN vss_hr vss_create_writer_metadata_add_component_dependency(vss_create_writer_metadata *md,
                                                                       const char *for_logical_path,
                                                                       const char *for_component_name,
                                                                       const vss_id *on_writer_id,
                                                                       const char *on_logical_path,
                                                                       const char *on_component_name);

/* ------------------------------------------------------------------------------------------ */
/* IVssWriterComponents / IVssComponent (borrowed; valid until the callback returns)           */
/* ------------------------------------------------------------------------------------------ */

VSS_EXTERN vss_hr vss_writer_components_get_count(vss_writer_components *c, unsigned *ret_count);
VSS_EXTERN vss_hr vss_writer_components_get_component(vss_writer_components *c, unsigned index,
                                                       vss_component **ret_component);

VSS_EXTERN vss_hr vss_component_get_logical_path(vss_component *c, const char **ret); /* "" for root */
VSS_EXTERN vss_hr vss_component_get_component_name(vss_component *c, const char **ret);
VSS_EXTERN vss_hr vss_component_get_component_type(vss_component *c, vss_component_type *ret);
/**
 * GetBackupSucceeded: a writer may read it only in on_backup_complete (VSS_E_BAD_STATE
 * elsewhere); on a requester's read view (vss_writer_components_ext) always.
 */
VSS_EXTERN vss_hr vss_component_get_backup_succeeded(vss_component *c, bool *ret);

/*
 * The Backup Components Document through IVssComponent (vss-semantics.md §8, §9, seed 003).
 *
 * Windows. A writer edits its own components from on_prepare_backup through the end of
 * on_post_snapshot; those edits travel back to vssd with the event's answer. In
 * on_backup_complete the document is read-only; in every other callback, outside callbacks,
 * and on a requester's read view (vss_requester_get_writer_components) the writer-only calls
 * (set_*, add_*) return VSS_E_BAD_STATE. The writer-side getters work in on_prepare_backup,
 * on_post_snapshot and on_backup_complete; on a requester's read view always.
 *
 * Ownership: strings returned are borrowed from the component: inside a callback valid until
 * the callback returns, on a read view until vss_writer_components_ext_free(). A getter of a
 * string that was never set gives S_OK and *ret = NULL ("" is a value that was set). Strings
 * passed in are copied; they must be UTF-8, at most VSS_MAX_STRING bytes, with no control
 * characters other than tab, LF, CR (E_INVALIDARG otherwise).
 */

/** SetBackupStamp: writer, on_prepare_backup / on_post_snapshot. stamp non-NULL (writer-private format). */
VSS_EXTERN vss_hr vss_component_set_backup_stamp(vss_component *c, const char *stamp);
/** GetBackupStamp: what the writer set in this backup; *ret NULL when not set. */
VSS_EXTERN vss_hr vss_component_get_backup_stamp(vss_component *c, const char **ret);
/** GetPreviousBackupStamp: what the requester passed with SetPreviousBackupStamp; NULL when none. */
VSS_EXTERN vss_hr vss_component_get_previous_backup_stamp(vss_component *c, const char **ret);
/** SetBackupMetadata: writer-private string kept in the document; same window as the stamp. */
VSS_EXTERN vss_hr vss_component_set_backup_metadata(vss_component *c, const char *metadata);
/** GetBackupMetadata. *ret NULL when not set. */
VSS_EXTERN vss_hr vss_component_get_backup_metadata(vss_component *c, const char **ret);
/** GetBackupOptions: what the requester passed with SetBackupOptions; NULL when none. */
VSS_EXTERN vss_hr vss_component_get_backup_options(vss_component *c, const char **ret);

/**
 * AddPartialFile: writer, on_prepare_backup / on_post_snapshot. path absolute (or starting with
 * '$'); filename without '/', '*' or '?'; ranges "offset:length[,...]" (decimal or 0x-hex,
 * 64-bit) or the absolute path of a ranges file; metadata may be NULL.
 * @return E_INVALIDARG (bad argument; the file is already in a differenced set of c),
 *         VSS_E_OBJECT_ALREADY_EXISTS (same path and filename twice), VSS_E_BAD_STATE.
 */
VSS_EXTERN vss_hr vss_component_add_partial_file(vss_component *c, const char *path, const char *filename,
                                                  const char *ranges, const char *metadata);
/** GetPartialFileCount. */
VSS_EXTERN vss_hr vss_component_get_partial_file_count(vss_component *c, unsigned *ret_count);
/** GetPartialFile. Any ret_* may be NULL; *ret_metadata is "" when none was given. */
VSS_EXTERN vss_hr vss_component_get_partial_file(vss_component *c, unsigned index, const char **ret_path,
                                                  const char **ret_filename, const char **ret_ranges,
                                                  const char **ret_metadata);

/**
 * AddDifferencedFilesByLastModifyTime (seed 003): writer only, backup only, on_prepare_backup
 * or (typically) on_post_snapshot. path may hold $VAR / ${VAR} (expanded now, from the
 * writer's environment) but no '*' or '?'; filespec may hold '*' and '?' but no '/';
 * last_modify_time is a FILETIME in UTC (vss_timestamp), 0 to let the requester use its own
 * records. The writer must have declared VSS_BS_LAST_MODIFY, plus VSS_BS_INCREMENTAL for an
 * incremental or VSS_BS_DIFFERENTIAL for a differential backup. (path, filespec, recursive)
 * must equal a file set the writer declared for c (or its subcomponents) or name new files
 * no other component manages.
 * @return S_OK; E_INVALIDARG (any rule above, the same set twice, a partial file of c in it);
 *         VSS_E_BAD_STATE (not a writer, not a backup, in on_backup_complete,
 *         on_backup_shutdown or any other callback); VSS_E_UNEXPECTED (c is not in the
 *         writer's metadata); E_OUTOFMEMORY.
 */
VSS_EXTERN vss_hr vss_component_add_differenced_files_by_last_modify_time(vss_component *c, const char *path,
                                                                          const char *filespec, bool recursive,
                                                                          vss_timestamp last_modify_time);
/** GetDifferencedFilesCount. */
VSS_EXTERN vss_hr vss_component_get_differenced_files_count(vss_component *c, unsigned *ret_count);
/**
 * GetDifferencedFile. Any ret_* may be NULL. *ret_path is the expanded path;
 * *ret_last_modify_time 0 means "requester decides from its own records".
 */
VSS_EXTERN vss_hr vss_component_get_differenced_file(vss_component *c, unsigned index, const char **ret_path,
                                                      const char **ret_filespec, bool *ret_recursive,
                                                      vss_timestamp *ret_last_modify_time);

/*
 * Restore fields of IVssComponent (vss-semantics.md §3, §8). Getters work in on_pre_restore
 * and on_post_restore (and the backup callbacks that get components), and on a requester's
 * read view always. Setters are writer-only, in the window named, VSS_E_BAD_STATE elsewhere.
 */

/** IsSelectedForRestore: the requester selected c with vss_requester_set_selected_for_restore. */
VSS_EXTERN vss_hr vss_component_is_selected_for_restore(vss_component *c, bool *ret);
/** GetRestoreOptions: what the requester passed with SetRestoreOptions; NULL when none. */
VSS_EXTERN vss_hr vss_component_get_restore_options(vss_component *c, const char **ret);
/** GetAdditionalRestores: true when more restores of c follow (no recovery yet). */
VSS_EXTERN vss_hr vss_component_get_additional_restores(vss_component *c, bool *ret);
/** GetFileRestoreStatus: what the requester set between PreRestore and PostRestore. */
VSS_EXTERN vss_hr vss_component_get_file_restore_status(vss_component *c, vss_file_restore_status *ret);
/** GetNewTargetCount / GetNewTarget: the requester's AddNewTarget entries. Any ret_* may be NULL. */
VSS_EXTERN vss_hr vss_component_get_new_target_count(vss_component *c, unsigned *ret_count);
VSS_EXTERN vss_hr vss_component_get_new_target(vss_component *c, unsigned index, const char **ret_path,
                                                const char **ret_filespec, bool *ret_recursive,
                                                const char **ret_alternate_path);
/** GetRestoreSubcomponentCount / GetRestoreSubcomponent: AddRestoreSubcomponent entries. */
VSS_EXTERN vss_hr vss_component_get_restore_subcomponent_count(vss_component *c, unsigned *ret_count);
VSS_EXTERN vss_hr vss_component_get_restore_subcomponent(vss_component *c, unsigned index,
                                                          const char **ret_logical_path, const char **ret_name,
                                                          bool *ret_repair);
/** SetRestoreTarget: writer, on_pre_restore only. E_INVALIDARG outside VSS_RT_*. */
VSS_EXTERN vss_hr vss_component_set_restore_target(vss_component *c, vss_restore_target target);
/** GetRestoreTarget: VSS_RT_UNDEFINED until the writer set one. */
VSS_EXTERN vss_hr vss_component_get_restore_target(vss_component *c, vss_restore_target *ret);
/** SetRestoreMetadata: writer, on_prepare_backup or on_pre_restore. */
VSS_EXTERN vss_hr vss_component_set_restore_metadata(vss_component *c, const char *metadata);
/** GetRestoreMetadata. *ret NULL when not set. */
VSS_EXTERN vss_hr vss_component_get_restore_metadata(vss_component *c, const char **ret);
/** SetPreRestoreFailureMsg: writer, on_pre_restore only. */
VSS_EXTERN vss_hr vss_component_set_pre_restore_failure_msg(vss_component *c, const char *msg);
VSS_EXTERN vss_hr vss_component_get_pre_restore_failure_msg(vss_component *c, const char **ret);
/** SetPostRestoreFailureMsg: writer, on_post_restore only. */
VSS_EXTERN vss_hr vss_component_set_post_restore_failure_msg(vss_component *c, const char *msg);
VSS_EXTERN vss_hr vss_component_get_post_restore_failure_msg(vss_component *c, const char **ret);

#ifdef __cplusplus
}
#endif

#endif /* VSS_WRITER_H */

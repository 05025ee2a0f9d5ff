/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-components.h: the in-memory Backup Components Document (vss-semantics.md §8, §9).
 *
 * The requester owns one per backup or restore: the backup state it chose, and per writer
 * instance the components it explicitly included, each carrying what requester and writer tell
 * each other through IVssComponent (stamps, options, private metadata, differenced and partial
 * files, restore targets and statuses, failure messages). The public requester and writer
 * calls are thin wrappers over the functions here; bcd-xml.[ch] saves and loads it.
 *
 * Every setter validates and copies its input and leaves the object untouched on failure.
 * Strings are UTF-8 of at most VSS_MAX_STRING bytes that XML can carry (no control characters
 * other than tab, LF, CR), so any document that can be built can be saved and loaded back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vss/vss-common.h"
#include "writer-metadata.h"

/* Per-component and per-document limits on the lists writers and requesters fill. */
#define BCD_MAX_ENTRIES_PER_LIST 4096U   /* differenced files, partial files, targets... per component */
#define BCD_MAX_ENTRIES          16384U  /* all list entries of all components of one document */

/* VSS_RESTORE_TARGET, same values. */
typedef enum BcdRestoreTarget {
        BCD_RESTORE_TARGET_UNDEFINED = 0,
        BCD_RESTORE_TARGET_ORIGINAL = 1,
        BCD_RESTORE_TARGET_ALTERNATE = 2,
        BCD_RESTORE_TARGET_DIRECTED = 3,
        BCD_RESTORE_TARGET_ORIGINAL_LOCATION = 4,
        _BCD_RESTORE_TARGET_MAX,
} BcdRestoreTarget;

/* VSS_FILE_RESTORE_STATUS, same values. */
typedef enum BcdFileRestoreStatus {
        BCD_FILE_RESTORE_UNDEFINED = 0,
        BCD_FILE_RESTORE_NONE = 1,
        BCD_FILE_RESTORE_ALL = 2,
        BCD_FILE_RESTORE_FAILED = 3,
        _BCD_FILE_RESTORE_MAX,
} BcdFileRestoreStatus;

/* VSS_RESTORE_TYPE, same values. */
typedef enum BcdRestoreType {
        BCD_RESTORE_TYPE_UNDEFINED = 0,
        BCD_RESTORE_TYPE_BY_COPY = 1,
        BCD_RESTORE_TYPE_IMPORT = 2,
        BCD_RESTORE_TYPE_OTHER = 3,
        _BCD_RESTORE_TYPE_MAX,
} BcdRestoreType;

/* The free-form strings of a component; NULL until set. */
typedef enum BcdString {
        BCD_STRING_BACKUP_OPTIONS,              /* R: SetBackupOptions */
        BCD_STRING_BACKUP_STAMP,                /* W: SetBackupStamp */
        BCD_STRING_PREVIOUS_BACKUP_STAMP,       /* R: SetPreviousBackupStamp */
        BCD_STRING_BACKUP_METADATA,             /* W: SetBackupMetadata (writer-private) */
        BCD_STRING_RESTORE_METADATA,            /* W: SetRestoreMetadata */
        BCD_STRING_RESTORE_OPTIONS,             /* R: SetRestoreOptions */
        BCD_STRING_PREPARE_FOR_BACKUP_FAILURE_MSG,
        BCD_STRING_POST_SNAPSHOT_FAILURE_MSG,
        BCD_STRING_PRE_RESTORE_FAILURE_MSG,
        BCD_STRING_POST_RESTORE_FAILURE_MSG,
        _BCD_STRING_MAX,
} BcdString;

typedef struct BcdDifferencedFile {
        char *path;                     /* absolute, variables already expanded */
        char *filespec;
        bool recursive;
        vss_timestamp last_modify_time; /* 0: the requester decides from its own records */
} BcdDifferencedFile;

typedef struct BcdPartialFile {
        char *path;
        char *filename;
        char *ranges;   /* "offset:length,..." or the absolute path of a ranges file */
        char *metadata; /* "" when none */
} BcdPartialFile;

typedef struct BcdDirectedTarget {
        char *source_path;
        char *source_filename;
        char *source_ranges;
        char *destination_path;
        char *destination_filename;
        char *destination_ranges;
} BcdDirectedTarget;

/* AddNewTarget (requester) and AddAlternativeLocationMapping (requester) share this shape. */
typedef struct BcdFileMapping {
        char *path;
        char *filespec;
        bool recursive;
        char *destination;
} BcdFileMapping;

typedef struct BcdRestoreSubcomponent {
        char *logical_path;     /* "" for root */
        char *name;
        bool repair;
} BcdRestoreSubcomponent;

typedef struct BcdComponent {
        vss_component_type type;
        char *logical_path;     /* "" for root, never NULL */
        char *name;

        bool backup_succeeded;
        bool selected_for_restore;
        bool additional_restores;
        BcdRestoreTarget restore_target;
        BcdFileRestoreStatus file_restore_status;
        char *strings[_BCD_STRING_MAX];

        /* IVssComponentEx2::SetFailure; failure == S_OK means none was set. */
        vss_hr failure;
        vss_hr application_failure;
        char *failure_message;  /* NULL when none */

        BcdDifferencedFile *differenced_files;
        size_t n_differenced_files;
        BcdPartialFile *partial_files;
        size_t n_partial_files;
        BcdDirectedTarget *directed_targets;
        size_t n_directed_targets;
        BcdFileMapping *new_targets;
        size_t n_new_targets;
        BcdFileMapping *alternate_mappings;
        size_t n_alternate_mappings;
        BcdRestoreSubcomponent *restore_subcomponents;
        size_t n_restore_subcomponents;

        /* The document this component belongs to (for the document-wide entry limit). */
        struct BackupComponents *document;
} BcdComponent;

typedef struct BcdWriter {
        vss_id instance_id;
        vss_id writer_id;       /* the writer class */
        BcdComponent **components;
        size_t n_components;
} BcdWriter;

typedef struct BackupComponents {
        vss_backup_type backup_type;
        bool select_components;
        bool bootable_system_state;
        bool partial_file_support;
        vss_snapshot_context context;
        BcdRestoreType restore_type;

        BcdWriter *writers;
        size_t n_writers;
        size_t n_components;    /* over all writers, at most VSS_MAX_COMPONENTS */
        size_t n_entries;       /* list entries over all components, at most BCD_MAX_ENTRIES */
} BackupComponents;

/* backup_components_new: an empty document (VSS_BT_UNDEFINED, component mode). NULL on OOM. */
BackupComponents *backup_components_new(void);
/* backup_components_free: frees everything; NULL is a no-op; returns NULL. */
BackupComponents *backup_components_free(BackupComponents *b);

/* SetBackupState. S_OK, or E_INVALIDARG for a type outside VSS_BT_*. */
vss_hr backup_components_set_backup_state(BackupComponents *b, bool select_components, bool bootable_system_state,
                                          vss_backup_type type, bool partial_file_support);
/* SetContext: any VSS_CTX_* value with attribute bits; stored as given. */
vss_hr backup_components_set_context(BackupComponents *b, vss_snapshot_context context);
/* SetRestoreState. E_INVALIDARG outside BcdRestoreType. */
vss_hr backup_components_set_restore_type(BackupComponents *b, BcdRestoreType type);

/*
 * backup_components_add_component: AddComponent. instance_id and writer_id non-null; type
 * database or file group; name non-empty without '\'; logical_path NULL means the root. An
 * instance seen before must keep its writer class (E_INVALIDARG). A repeated (instance,
 * logical path, name) is VSS_E_OBJECT_ALREADY_EXISTS; more than VSS_MAX_COMPONENTS components
 * in the document is E_INVALIDARG. On S_OK *ret_component (may be NULL) is borrowed from b.
 */
vss_hr backup_components_add_component(BackupComponents *b, const vss_id *instance_id, const vss_id *writer_id,
                                       vss_component_type type, const char *logical_path, const char *name,
                                       BcdComponent **ret_component);

/* backup_components_find_writer: the writer instance, or NULL; valid until the next add_component. */
BcdWriter *backup_components_find_writer(const BackupComponents *b, const vss_id *instance_id);

/*
 * backup_components_get_component: the explicitly included component (instance, logical path,
 * name); type must match unless VSS_CT_UNDEFINED. S_OK with *ret borrowed;
 * VSS_E_OBJECT_NOT_FOUND; E_INVALIDARG for NULL arguments.
 */
vss_hr backup_components_get_component(const BackupComponents *b, const vss_id *instance_id,
                                       vss_component_type type, const char *logical_path, const char *name,
                                       BcdComponent **ret);

/*
 * Component setters. Each returns S_OK, E_INVALIDARG (NULL component, value out of range,
 * string too long or not XML-safe, a list full), VSS_E_OBJECT_ALREADY_EXISTS (a repeated list
 * entry, where named) or E_OUTOFMEMORY, and leaves c unchanged on failure.
 */
vss_hr bcd_component_set_backup_succeeded(BcdComponent *c, bool succeeded);
vss_hr bcd_component_set_selected_for_restore(BcdComponent *c, bool selected);
vss_hr bcd_component_set_additional_restores(BcdComponent *c, bool additional);
vss_hr bcd_component_set_restore_target(BcdComponent *c, BcdRestoreTarget target);
vss_hr bcd_component_set_file_restore_status(BcdComponent *c, BcdFileRestoreStatus status);
/* value NULL clears the string back to "not set". */
vss_hr bcd_component_set_string(BcdComponent *c, BcdString which, const char *value);
/* NULL when not set; borrowed. */
const char *bcd_component_get_string(const BcdComponent *c, BcdString which);
/* SetFailure: message may be NULL. */
vss_hr bcd_component_set_failure(BcdComponent *c, vss_hr failure, vss_hr application_failure, const char *message);

/*
 * bcd_component_add_differenced_file: record one differenced file set as it stands, checking
 * only what the document itself can check: path absolute without wildcards, '.' or '..'
 * components; filespec non-empty without '/'; time not negative; not a repeat of a recorded
 * (path, filespec, recursive) (E_INVALIDARG); no recorded partial file inside the set
 * (E_INVALIDARG). The writer-facing rules of seed 003 are
 * bcd_component_add_differenced_files_by_last_modify_time below; the loader uses this one.
 */
vss_hr bcd_component_add_differenced_file(BcdComponent *c, const char *path, const char *filespec, bool recursive,
                                          vss_timestamp last_modify_time);

/*
 * bcd_component_add_partial_file: AddPartialFile. path absolute (or starting with '$');
 * filename non-empty, no '/', no wildcards; ranges "offset:length[,...]" (decimal or 0x-hex,
 * 64-bit) or the absolute path of a ranges file; metadata may be NULL. A file already in a
 * differenced set of c is E_INVALIDARG (seed 003); a repeated (path, filename) is
 * VSS_E_OBJECT_ALREADY_EXISTS. Who may call it and when is bcd_event_window_check_edit's job.
 */
vss_hr bcd_component_add_partial_file(BcdComponent *c, const char *path, const char *filename, const char *ranges,
                                      const char *metadata);

/* AddDirectedTarget: paths like partial files', file names without '/', ranges as above. */
vss_hr bcd_component_add_directed_target(BcdComponent *c, const char *source_path, const char *source_filename,
                                         const char *source_ranges, const char *destination_path,
                                         const char *destination_filename, const char *destination_ranges);
/* AddNewTarget: repeated (path, filespec, recursive) is VSS_E_OBJECT_ALREADY_EXISTS. */
vss_hr bcd_component_add_new_target(BcdComponent *c, const char *path, const char *filespec, bool recursive,
                                    const char *alternate_path);
/* AddAlternativeLocationMapping: repeated (path, filespec, recursive) is VSS_E_OBJECT_ALREADY_EXISTS. */
vss_hr bcd_component_add_alternate_location_mapping(BcdComponent *c, const char *path, const char *filespec,
                                                    bool recursive, const char *destination);
/* AddRestoreSubcomponent: name non-empty without '\'; repeats are VSS_E_OBJECT_ALREADY_EXISTS. */
vss_hr bcd_component_add_restore_subcomponent(BcdComponent *c, const char *logical_path, const char *name,
                                              bool repair);

/* ------------------------------------------------------------------------------------------ */
/* Who is calling, in which event: the state rules of the writer-side IVssComponent calls      */
/* ------------------------------------------------------------------------------------------ */

typedef enum BcdOperation {
        BCD_OPERATION_NONE = 0,
        BCD_OPERATION_BACKUP,
        BCD_OPERATION_RESTORE,
} BcdOperation;

typedef enum BcdEvent {
        BCD_EVENT_NONE = 0,             /* outside any event handler */
        BCD_EVENT_IDENTIFY,
        BCD_EVENT_PREPARE_BACKUP,
        BCD_EVENT_PREPARE_SNAPSHOT,
        BCD_EVENT_FREEZE,
        BCD_EVENT_THAW,
        BCD_EVENT_POST_SNAPSHOT,
        BCD_EVENT_ABORT,
        BCD_EVENT_BACKUP_COMPLETE,
        BCD_EVENT_BACKUP_SHUTDOWN,
        BCD_EVENT_PRE_RESTORE,
        BCD_EVENT_POST_RESTORE,
} BcdEvent;

typedef struct BcdEventWindow {
        bool caller_is_writer;          /* false: a requester (or anyone else) is calling */
        BcdOperation operation;
        BcdEvent event;                 /* the handler the writer is running */
        vss_backup_type backup_type;    /* the requester's SetBackupState type */
        /*
         * Metadata of the other writers of this backup, when the caller knows them (vssd does);
         * NULL/0 when not: then "files of another writer" cannot be checked here.
         */
        const WriterMetadata *const *other_writers;
        size_t n_other_writers;
} BcdEventWindow;

/*
 * bcd_event_window_check_edit: may a writer add differenced or partial files now? Only a
 * writer, only in a backup, only from PrepareForBackup through PostSnapshot; in particular
 * never in BackupComplete or BackupShutdown (seed 003). S_OK or VSS_E_BAD_STATE
 * (E_INVALIDARG for NULL).
 */
vss_hr bcd_event_window_check_edit(const BcdEventWindow *window);

/*
 * bcd_path_expand: the path with $VAR and ${VAR} replaced from the environment, then
 * normalized: must be absolute, '//' and '/./' collapse, a trailing '/' goes (except "/"),
 * '..' is refused. E_INVALIDARG for an unset variable, a malformed reference, a relative
 * path, '..', or a result over VSS_MAX_STRING; E_OUTOFMEMORY. *ret malloc'd.
 */
vss_hr bcd_path_expand(const char *path, char **ret);

/*
 * bcd_component_add_differenced_files_by_last_modify_time: IVssComponent::
 * AddDifferencedFilesByLastModifyTime with every rule of seed 003, for component c of the
 * writer whose own metadata is wmd, called as window describes. In order:
 *   - NULL c/wmd/window: E_INVALIDARG;
 *   - not a writer, not a backup, or outside PrepareForBackup..PostSnapshot (so in
 *     particular in BackupComplete or BackupShutdown): VSS_E_BAD_STATE;
 *   - path empty, holding '*' or '?' (before or after expansion), an unset variable, relative
 *     or '..'; filespec empty or holding '/'; a negative time: E_INVALIDARG;
 *   - the writer's schema lacks VSS_BS_LAST_MODIFY, or the backup is incremental and it lacks
 *     VSS_BS_INCREMENTAL, or differential and it lacks VSS_BS_DIFFERENTIAL: E_INVALIDARG
 *     (the seed's documented code for a call the writer should not make; not a state error);
 *   - c is not a component of wmd: VSS_E_UNEXPECTED (the documents disagree);
 *   - (path, filespec, recursive) overlaps a file set of c or its subcomponents without
 *     matching one exactly, or overlaps a file set of another component of this writer or
 *     of another writer: E_INVALIDARG;
 *   - the same set was already added, or a partial file of c lies in it: E_INVALIDARG;
 *   - more than BCD_MAX_ENTRIES_PER_LIST sets: E_INVALIDARG.
 * Otherwise the set (path expanded) is recorded and S_OK returned. Sets that match nothing
 * declared are new files of c; alternate location mappings apply to them at restore as to any
 * file. c unchanged on failure.
 */
vss_hr bcd_component_add_differenced_files_by_last_modify_time(BcdComponent *c, const WriterMetadata *wmd,
                                                               const BcdEventWindow *window, const char *path,
                                                               const char *filespec, bool recursive,
                                                               vss_timestamp last_modify_time);

/*
 * bcd_filespec_match: does name match filespec ('*' any run, '?' one character, all else
 * literal)? Exposed for the requester's file selection, so both sides agree on the meaning.
 */
bool bcd_filespec_match(const char *filespec, const char *name);

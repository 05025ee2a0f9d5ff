/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-state.h: the requester state machine as pure functions: which requester method is
 * legal in which state (VSS_E_BAD_STATE otherwise) and where each method leaves the backup.
 * No bus, no allocation, no Manager: the unit test walks every state × method pair.
 *
 * A backup's position is a phase (BackupState) plus the facts that do not order linearly
 * (BackupFlags): whether a context was set, metadata gathered, a set started, an operation is
 * in flight. vss-semantics.md §2/§4 and the seeds decide the table; docs/api-map.md states it.
 */
#pragma once

#include <stdbool.h>

#include "vss/vss-common.h"

typedef enum BackupState {
        BACKUP_STATE_NEW,           /* connection is a requester, InitializeForBackup not called */
        BACKUP_STATE_INITIALIZED,   /* InitializeForBackup done, PrepareForBackup not yet */
        BACKUP_STATE_PREPARED,      /* PrepareForBackup done (writers got the event) */
        BACKUP_STATE_SNAPSHOT_DONE, /* DoSnapshotSet succeeded */
        BACKUP_STATE_COMPLETED,     /* BackupComplete sent */
        BACKUP_STATE_FAILED,        /* DoSnapshotSet failed or was cancelled */
        BACKUP_STATE_ABORTED,       /* AbortBackup done */
        BACKUP_STATE_RESTORE_INITIALIZED, /* InitializeForRestore done, PreRestore not yet */
        BACKUP_STATE_PRE_RESTORED,  /* PreRestore done (writers got the event) */
        BACKUP_STATE_POST_RESTORED, /* PostRestore done: the restore is over */
        _BACKUP_STATE_MAX,
} BackupState;

/* Every method of org.vsslinux.VSS1.Requester, in docs/dbus-api.md order. */
typedef enum BackupMethod {
        BACKUP_METHOD_INITIALIZE_FOR_BACKUP,
        BACKUP_METHOD_SET_CONTEXT,
        BACKUP_METHOD_SET_BACKUP_STATE,
        BACKUP_METHOD_GATHER_WRITER_METADATA,
        BACKUP_METHOD_ADD_COMPONENT,
        BACKUP_METHOD_ENABLE_WRITER_CLASSES,
        BACKUP_METHOD_DISABLE_WRITER_CLASSES,
        BACKUP_METHOD_DISABLE_WRITER_INSTANCES,
        BACKUP_METHOD_START_SNAPSHOT_SET,
        BACKUP_METHOD_ADD_TO_SNAPSHOT_SET,
        BACKUP_METHOD_IS_VOLUME_SUPPORTED,
        BACKUP_METHOD_PREPARE_FOR_BACKUP,
        BACKUP_METHOD_DO_SNAPSHOT_SET,
        BACKUP_METHOD_GET_SNAPSHOT_PROPERTIES,
        BACKUP_METHOD_SET_BACKUP_SUCCEEDED,
        BACKUP_METHOD_BACKUP_COMPLETE,
        BACKUP_METHOD_GATHER_WRITER_STATUS,
        BACKUP_METHOD_ABORT_BACKUP,
        BACKUP_METHOD_CANCEL,
        BACKUP_METHOD_QUERY_SNAPSHOTS,
        BACKUP_METHOD_QUERY_PROVIDERS,
        BACKUP_METHOD_DELETE_SNAPSHOTS,
        BACKUP_METHOD_EXPOSE_SNAPSHOT,
        BACKUP_METHOD_UNEXPOSE_SNAPSHOT,
        BACKUP_METHOD_SET_BACKUP_OPTIONS,
        BACKUP_METHOD_SET_PREVIOUS_BACKUP_STAMP,
        BACKUP_METHOD_SAVE_AS_XML,
        BACKUP_METHOD_GET_WRITER_COMPONENTS,
        /* The restore half (vss-semantics.md §3). */
        BACKUP_METHOD_INITIALIZE_FOR_RESTORE,
        BACKUP_METHOD_SET_RESTORE_STATE,
        BACKUP_METHOD_SET_SELECTED_FOR_RESTORE,
        BACKUP_METHOD_ADD_RESTORE_SUBCOMPONENT,
        BACKUP_METHOD_SET_RESTORE_OPTIONS,
        BACKUP_METHOD_SET_ADDITIONAL_RESTORES,
        BACKUP_METHOD_ADD_NEW_TARGET,
        BACKUP_METHOD_PRE_RESTORE,
        BACKUP_METHOD_SET_FILE_RESTORE_STATUS,
        BACKUP_METHOD_POST_RESTORE,
        _BACKUP_METHOD_MAX,
} BackupMethod;

typedef struct BackupFlags {
        bool writerless;        /* the context carries VSS_VOLSNAP_ATTR_NO_WRITERS */
        bool context_set;       /* SetContext was called */
        bool backup_state_set;  /* SetBackupState was called */
        bool select_components; /* ... with select_components = true (component mode) */
        bool gathered;          /* GatherWriterMetadata finished */
        bool set_started;       /* StartSnapshotSet succeeded */
        bool snapshot_done;     /* DoSnapshotSet succeeded at some point */
        bool in_flight;         /* a deferred operation has not replied yet */
} BackupFlags;

/* backup_state_is_restore: the object was initialised for a restore (InitializeForRestore). */
bool backup_state_is_restore(BackupState s);

/*
 * backup_state_check: S_OK when method may be called in state with flags, VSS_E_BAD_STATE
 * otherwise. Argument checks (E_INVALIDARG, ...) and resource conflicts
 * (VSS_E_SNAPSHOT_SET_IN_PROGRESS) come after this and are not part of the table. f must not
 * be NULL. Pure.
 */
vss_hr backup_state_check(BackupState state, BackupMethod method, const BackupFlags *f);

/*
 * backup_state_next: the phase after method ended with result (called once the operation is
 * over, deferred or not, and only for calls backup_state_check allowed). Pure.
 */
BackupState backup_state_next(BackupState state, BackupMethod method, vss_hr result);

/* Names for logs and tests; "unknown" when out of range. */
const char *backup_state_to_string(BackupState s);
const char *backup_method_to_string(BackupMethod m);

/* backup_method_is_deferred: true for the methods whose reply comes when the work ends. */
bool backup_method_is_deferred(BackupMethod m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-state.c: the legality table of the requester methods (backup-state.h).
 *
 * The rules, in words (seeds 000/001/004, vss-semantics.md §2/§4, docs/api-map.md):
 *   - Before InitializeForBackup only InitializeForBackup is legal; it is legal only then.
 *   - While a deferred operation is in flight only Cancel and the read-only calls are legal:
 *     "a requester has at most one deferred operation in flight" (docs/dbus-api.md), and a
 *     snapshot set is frozen once DoSnapshotSet starts.
 *   - SetContext: once, before GatherWriterMetadata and StartSnapshotSet.
 *   - Writer selection (Enable/Disable*): before GatherWriterMetadata, which runs once.
 *   - AddComponent: component mode, after GatherWriterMetadata, before PrepareForBackup.
 *   - PrepareForBackup needs SetBackupState and GatherWriterMetadata.
 *   - DoSnapshotSet needs StartSnapshotSet, and in writer contexts PrepareForBackup.
 *   - Writer-less contexts (VSS_VOLSNAP_ATTR_NO_WRITERS): AddComponent, PrepareForBackup,
 *     BackupComplete and SetBackupSucceeded are refused; DoSnapshotSet needs no prepare.
 *   - BackupComplete and SetBackupSucceeded: only after a successful DoSnapshotSet, never
 *     after a failed one (seed 000), and BackupComplete only once.
 *   - AbortBackup: legal any time after InitializeForBackup (seed 004: the Abort *event* only
 *     goes out after PrepareForBackup, which backup.c decides).
 *   - SetBackupOptions and SetPreviousBackupStamp: component mode (the components they name
 *     exist only there), before PrepareForBackup, never in writer-less contexts (§4).
 *   - SaveAsXML and GetWriterComponents only read the document: any time after
 *     InitializeForBackup or InitializeForRestore, also while an operation is in flight.
 *
 * Restore (vss-semantics.md §3/§4, seed 004): one object is either a backup or a restore,
 * decided by its Initialize call; backup-only methods on a restore object and restore-only
 * methods on a backup object are VSS_E_BAD_STATE.
 *   - InitializeForRestore: first call only, like InitializeForBackup.
 *   - SetRestoreState, SetRestoreOptions, SetAdditionalRestores, AddNewTarget: before
 *     PreRestore. SetSelectedForRestore and AddRestoreSubcomponent also need
 *     GatherWriterMetadata (they check that the component's writer is running).
 *   - PreRestore needs GatherWriterMetadata; PostRestore follows PreRestore; both once.
 *   - SetFileRestoreStatus: only between PreRestore and PostRestore.
 *   - AbortBackup: never ("aborts are not supported for restores", seed 004).
 *   - GatherWriterStatus after GatherWriterMetadata; the document readers any time; the
 *     snapshot management calls that are not tied to a backup (QueryProviders,
 *     DeleteSnapshots, Expose/Unexpose) any time; Query, IsVolumeSupported and
 *     GetSnapshotProperties are for backup objects only (§4).
 */
#include "vssd/backup-state.h"

static bool allowed_in_flight(BackupMethod m) {
        switch (m) {
        case BACKUP_METHOD_IS_VOLUME_SUPPORTED:
        case BACKUP_METHOD_GET_SNAPSHOT_PROPERTIES:
        case BACKUP_METHOD_QUERY_SNAPSHOTS:
        case BACKUP_METHOD_QUERY_PROVIDERS:
        case BACKUP_METHOD_DELETE_SNAPSHOTS:
        case BACKUP_METHOD_EXPOSE_SNAPSHOT:
        case BACKUP_METHOD_UNEXPOSE_SNAPSHOT:
        case BACKUP_METHOD_CANCEL:
        case BACKUP_METHOD_SAVE_AS_XML:
        case BACKUP_METHOD_GET_WRITER_COMPONENTS:
                return true;
        default:
                return false;
        }
}

static bool legal(BackupState s, BackupMethod m, const BackupFlags *f) {
        switch (m) {
        case BACKUP_METHOD_INITIALIZE_FOR_BACKUP:
                return s == BACKUP_STATE_NEW;
        case BACKUP_METHOD_SET_CONTEXT:
                return s == BACKUP_STATE_INITIALIZED && !f->context_set && !f->gathered && !f->set_started;
        case BACKUP_METHOD_SET_BACKUP_STATE:
                return s == BACKUP_STATE_INITIALIZED;
        case BACKUP_METHOD_GATHER_WRITER_METADATA:
                return s == BACKUP_STATE_INITIALIZED && !f->gathered;
        case BACKUP_METHOD_ADD_COMPONENT:
                return !f->writerless && s == BACKUP_STATE_INITIALIZED && f->gathered &&
                        f->backup_state_set && f->select_components;
        case BACKUP_METHOD_ENABLE_WRITER_CLASSES:
        case BACKUP_METHOD_DISABLE_WRITER_CLASSES:
        case BACKUP_METHOD_DISABLE_WRITER_INSTANCES:
                return s == BACKUP_STATE_INITIALIZED && !f->gathered;
        case BACKUP_METHOD_START_SNAPSHOT_SET:
                return s == BACKUP_STATE_INITIALIZED && !f->set_started;
        case BACKUP_METHOD_ADD_TO_SNAPSHOT_SET:
                return f->set_started && (s == BACKUP_STATE_INITIALIZED || s == BACKUP_STATE_PREPARED);
        case BACKUP_METHOD_PREPARE_FOR_BACKUP:
                return !f->writerless && s == BACKUP_STATE_INITIALIZED && f->backup_state_set && f->gathered;
        case BACKUP_METHOD_DO_SNAPSHOT_SET:
                if (!f->set_started)
                        return false;
                return f->writerless ? s == BACKUP_STATE_INITIALIZED : s == BACKUP_STATE_PREPARED;
        case BACKUP_METHOD_GET_SNAPSHOT_PROPERTIES:
                return f->snapshot_done;
        case BACKUP_METHOD_SET_BACKUP_SUCCEEDED:
                return !f->writerless && s == BACKUP_STATE_SNAPSHOT_DONE && f->select_components;
        case BACKUP_METHOD_BACKUP_COMPLETE:
                return !f->writerless && s == BACKUP_STATE_SNAPSHOT_DONE;
        case BACKUP_METHOD_GATHER_WRITER_STATUS:
                return f->gathered;
        case BACKUP_METHOD_ABORT_BACKUP:
        case BACKUP_METHOD_IS_VOLUME_SUPPORTED:
        case BACKUP_METHOD_QUERY_SNAPSHOTS:
        case BACKUP_METHOD_QUERY_PROVIDERS:
        case BACKUP_METHOD_DELETE_SNAPSHOTS:
        case BACKUP_METHOD_EXPOSE_SNAPSHOT:
        case BACKUP_METHOD_UNEXPOSE_SNAPSHOT:
                return true;
        case BACKUP_METHOD_CANCEL:
                return f->in_flight;
        case BACKUP_METHOD_SET_BACKUP_OPTIONS:
        case BACKUP_METHOD_SET_PREVIOUS_BACKUP_STAMP:
                return !f->writerless && s == BACKUP_STATE_INITIALIZED && f->backup_state_set && f->select_components;
        case BACKUP_METHOD_SAVE_AS_XML:
        case BACKUP_METHOD_GET_WRITER_COMPONENTS:
                return true;
        default:
                return false;
        }
}

bool backup_state_is_restore(BackupState s) {
        return s == BACKUP_STATE_RESTORE_INITIALIZED || s == BACKUP_STATE_PRE_RESTORED ||
                s == BACKUP_STATE_POST_RESTORED;
}

static bool legal_in_restore(BackupState s, BackupMethod m, const BackupFlags *f) {
        switch (m) {
        case BACKUP_METHOD_SET_RESTORE_STATE:
        case BACKUP_METHOD_SET_RESTORE_OPTIONS:
        case BACKUP_METHOD_SET_ADDITIONAL_RESTORES:
        case BACKUP_METHOD_ADD_NEW_TARGET:
                return s == BACKUP_STATE_RESTORE_INITIALIZED;
        case BACKUP_METHOD_GATHER_WRITER_METADATA:
        case BACKUP_METHOD_ENABLE_WRITER_CLASSES:
        case BACKUP_METHOD_DISABLE_WRITER_CLASSES:
        case BACKUP_METHOD_DISABLE_WRITER_INSTANCES:
                return s == BACKUP_STATE_RESTORE_INITIALIZED && !f->gathered;
        case BACKUP_METHOD_SET_SELECTED_FOR_RESTORE:
        case BACKUP_METHOD_ADD_RESTORE_SUBCOMPONENT:
        case BACKUP_METHOD_PRE_RESTORE:
                return s == BACKUP_STATE_RESTORE_INITIALIZED && f->gathered;
        case BACKUP_METHOD_SET_FILE_RESTORE_STATUS:
        case BACKUP_METHOD_POST_RESTORE:
                return s == BACKUP_STATE_PRE_RESTORED;
        case BACKUP_METHOD_GATHER_WRITER_STATUS:
                return f->gathered;
        case BACKUP_METHOD_QUERY_PROVIDERS:
        case BACKUP_METHOD_DELETE_SNAPSHOTS:
        case BACKUP_METHOD_EXPOSE_SNAPSHOT:
        case BACKUP_METHOD_UNEXPOSE_SNAPSHOT:
        case BACKUP_METHOD_SAVE_AS_XML:
        case BACKUP_METHOD_GET_WRITER_COMPONENTS:
                return true;
        default:
                /* Every backup-only method, AbortBackup included (seed 004). */
                return false;
        }
}

vss_hr backup_state_check(BackupState state, BackupMethod method, const BackupFlags *f) {
        if (state < 0 || state >= _BACKUP_STATE_MAX || method < 0 || method >= _BACKUP_METHOD_MAX || !f)
                return VSS_E_BAD_STATE;

        /* Cancel is about the operation in flight, whatever the phase. */
        if (method == BACKUP_METHOD_CANCEL)
                return f->in_flight ? S_OK : VSS_E_BAD_STATE;

        if (state == BACKUP_STATE_NEW)
                return method == BACKUP_METHOD_INITIALIZE_FOR_BACKUP || method == BACKUP_METHOD_INITIALIZE_FOR_RESTORE
                        ? S_OK : VSS_E_BAD_STATE;

        if (f->in_flight && !allowed_in_flight(method))
                return VSS_E_BAD_STATE;

        if (backup_state_is_restore(state))
                return legal_in_restore(state, method, f) ? S_OK : VSS_E_BAD_STATE;
        return legal(state, method, f) ? S_OK : VSS_E_BAD_STATE;
}

BackupState backup_state_next(BackupState state, BackupMethod method, vss_hr result) {
        switch (method) {
        case BACKUP_METHOD_INITIALIZE_FOR_BACKUP:
                return VSS_SUCCEEDED(result) && state == BACKUP_STATE_NEW ? BACKUP_STATE_INITIALIZED : state;
        case BACKUP_METHOD_PREPARE_FOR_BACKUP:
                /* Writers got the event whatever the result: abort rules now apply (seed 004). */
                return state == BACKUP_STATE_INITIALIZED ? BACKUP_STATE_PREPARED : state;
        case BACKUP_METHOD_DO_SNAPSHOT_SET:
                return result == S_OK ? BACKUP_STATE_SNAPSHOT_DONE : BACKUP_STATE_FAILED;
        case BACKUP_METHOD_BACKUP_COMPLETE:
                return state == BACKUP_STATE_SNAPSHOT_DONE ? BACKUP_STATE_COMPLETED : state;
        case BACKUP_METHOD_ABORT_BACKUP:
                /* After BackupComplete nothing is in progress: the abort is ignored; a
                 * restore cannot be aborted at all (seed 004). */
                if (state == BACKUP_STATE_NEW || state == BACKUP_STATE_COMPLETED || backup_state_is_restore(state))
                        return state;
                return BACKUP_STATE_ABORTED;
        case BACKUP_METHOD_INITIALIZE_FOR_RESTORE:
                return VSS_SUCCEEDED(result) && state == BACKUP_STATE_NEW ? BACKUP_STATE_RESTORE_INITIALIZED : state;
        case BACKUP_METHOD_PRE_RESTORE:
                /* Writers got the event whatever the result: PostRestore is owed to them. */
                return state == BACKUP_STATE_RESTORE_INITIALIZED ? BACKUP_STATE_PRE_RESTORED : state;
        case BACKUP_METHOD_POST_RESTORE:
                return state == BACKUP_STATE_PRE_RESTORED ? BACKUP_STATE_POST_RESTORED : state;
        default:
                return state;
        }
}

bool backup_method_is_deferred(BackupMethod m) {
        switch (m) {
        case BACKUP_METHOD_GATHER_WRITER_METADATA:
        case BACKUP_METHOD_PREPARE_FOR_BACKUP:
        case BACKUP_METHOD_DO_SNAPSHOT_SET:
        case BACKUP_METHOD_BACKUP_COMPLETE:
        case BACKUP_METHOD_GATHER_WRITER_STATUS:
        case BACKUP_METHOD_ABORT_BACKUP:
        case BACKUP_METHOD_PRE_RESTORE:
        case BACKUP_METHOD_POST_RESTORE:
                return true;
        default:
                return false;
        }
}

static const char *const state_names[_BACKUP_STATE_MAX] = {
        [BACKUP_STATE_NEW] = "new",
        [BACKUP_STATE_INITIALIZED] = "initialized",
        [BACKUP_STATE_PREPARED] = "prepared",
        [BACKUP_STATE_SNAPSHOT_DONE] = "snapshot-done",
        [BACKUP_STATE_COMPLETED] = "completed",
        [BACKUP_STATE_FAILED] = "failed",
        [BACKUP_STATE_ABORTED] = "aborted",
        [BACKUP_STATE_RESTORE_INITIALIZED] = "restore-initialized",
        [BACKUP_STATE_PRE_RESTORED] = "pre-restored",
        [BACKUP_STATE_POST_RESTORED] = "post-restored",
};

static const char *const method_names[_BACKUP_METHOD_MAX] = {
        [BACKUP_METHOD_INITIALIZE_FOR_BACKUP] = "InitializeForBackup",
        [BACKUP_METHOD_SET_CONTEXT] = "SetContext",
        [BACKUP_METHOD_SET_BACKUP_STATE] = "SetBackupState",
        [BACKUP_METHOD_GATHER_WRITER_METADATA] = "GatherWriterMetadata",
        [BACKUP_METHOD_ADD_COMPONENT] = "AddComponent",
        [BACKUP_METHOD_ENABLE_WRITER_CLASSES] = "EnableWriterClasses",
        [BACKUP_METHOD_DISABLE_WRITER_CLASSES] = "DisableWriterClasses",
        [BACKUP_METHOD_DISABLE_WRITER_INSTANCES] = "DisableWriterInstances",
        [BACKUP_METHOD_START_SNAPSHOT_SET] = "StartSnapshotSet",
        [BACKUP_METHOD_ADD_TO_SNAPSHOT_SET] = "AddToSnapshotSet",
        [BACKUP_METHOD_IS_VOLUME_SUPPORTED] = "IsVolumeSupported",
        [BACKUP_METHOD_PREPARE_FOR_BACKUP] = "PrepareForBackup",
        [BACKUP_METHOD_DO_SNAPSHOT_SET] = "DoSnapshotSet",
        [BACKUP_METHOD_GET_SNAPSHOT_PROPERTIES] = "GetSnapshotProperties",
        [BACKUP_METHOD_SET_BACKUP_SUCCEEDED] = "SetBackupSucceeded",
        [BACKUP_METHOD_BACKUP_COMPLETE] = "BackupComplete",
        [BACKUP_METHOD_GATHER_WRITER_STATUS] = "GatherWriterStatus",
        [BACKUP_METHOD_ABORT_BACKUP] = "AbortBackup",
        [BACKUP_METHOD_CANCEL] = "Cancel",
        [BACKUP_METHOD_QUERY_SNAPSHOTS] = "QuerySnapshots",
        [BACKUP_METHOD_QUERY_PROVIDERS] = "QueryProviders",
        [BACKUP_METHOD_DELETE_SNAPSHOTS] = "DeleteSnapshots",
        [BACKUP_METHOD_EXPOSE_SNAPSHOT] = "ExposeSnapshot",
        [BACKUP_METHOD_UNEXPOSE_SNAPSHOT] = "UnexposeSnapshot",
        [BACKUP_METHOD_SET_BACKUP_OPTIONS] = "SetBackupOptions",
        [BACKUP_METHOD_SET_PREVIOUS_BACKUP_STAMP] = "SetPreviousBackupStamp",
        [BACKUP_METHOD_SAVE_AS_XML] = "SaveAsXML",
        [BACKUP_METHOD_GET_WRITER_COMPONENTS] = "GetWriterComponents",
        [BACKUP_METHOD_INITIALIZE_FOR_RESTORE] = "InitializeForRestore",
        [BACKUP_METHOD_SET_RESTORE_STATE] = "SetRestoreState",
        [BACKUP_METHOD_SET_SELECTED_FOR_RESTORE] = "SetSelectedForRestore",
        [BACKUP_METHOD_ADD_RESTORE_SUBCOMPONENT] = "AddRestoreSubcomponent",
        [BACKUP_METHOD_SET_RESTORE_OPTIONS] = "SetRestoreOptions",
        [BACKUP_METHOD_SET_ADDITIONAL_RESTORES] = "SetAdditionalRestores",
        [BACKUP_METHOD_ADD_NEW_TARGET] = "AddNewTarget",
        [BACKUP_METHOD_PRE_RESTORE] = "PreRestore",
        [BACKUP_METHOD_SET_FILE_RESTORE_STATUS] = "SetFileRestoreStatus",
        [BACKUP_METHOD_POST_RESTORE] = "PostRestore",
};

const char *backup_state_to_string(BackupState s) {
        if (s < 0 || s >= _BACKUP_STATE_MAX)
                return "unknown";
        return state_names[s];
}

const char *backup_method_to_string(BackupMethod m) {
        if (m < 0 || m >= _BACKUP_METHOD_MAX)
                return "unknown";
        return method_names[m];
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hresult.c: the one table of result codes and the one errno -> HRESULT mapping.
 *
 * Every code in include/vss/vss-common.h has exactly one row here: its value, its symbolic
 * name (spelled as the macro, so a log line can be looked up in Microsoft's documentation)
 * and one sentence that says what happened and, where VSS gives retry advice
 * (vss-semantics §11), what to do next. Names, messages, the D-Bus error names
 * (vss-bus.c) and the reverse lookup all come from this table, so they cannot drift.
 */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "hresult-table.h"
#include "vss-bus.h"

typedef struct HrEntry {
        vss_hr value;
        const char *name;
        const char *message;
} HrEntry;

#define HR(code, msg) { code, #code, msg }

#define RETRY_LATER "Wait about ten minutes and retry, at most three times."

static const HrEntry hr_table[] = {
        HR(S_OK, "The operation succeeded."),
        HR(S_FALSE, "The operation succeeded but had nothing to do, or the answer is negative."),
        HR(E_NOTIMPL, "The operation is not available in this implementation."),
        HR(E_FAIL, "An unspecified failure occurred."),
        HR(E_ABORT, "The operation was aborted."),
        HR(E_UNEXPECTED, "A catastrophic failure occurred; the object is unusable and should be released."),
        HR(E_ACCESSDENIED, "The caller lacks the privilege: run as root or as a member of group 'backup'."),
        HR(E_OUTOFMEMORY, "Out of memory or of another system resource, or a size limit was exceeded."),
        HR(E_INVALIDARG, "An argument is invalid (NULL output pointer, malformed value or value over a limit)."),

        HR(VSS_S_ASYNC_PENDING, "The asynchronous operation is still running."),
        HR(VSS_S_ASYNC_FINISHED, "The asynchronous operation finished successfully."),
        HR(VSS_S_ASYNC_CANCELLED, "The asynchronous operation was cancelled before it finished."),
        HR(VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED, "Some of the snapshots of the set could not be imported."),

        HR(VSS_E_BAD_STATE, "The call is not legal in the object's current state or call sequence."),
        HR(VSS_E_UNEXPECTED, "An unexpected error occurred in the shadow copy service; see vssd's log."),
        HR(VSS_E_PROVIDER_ALREADY_REGISTERED, "The provider is already registered."),
        HR(VSS_E_PROVIDER_NOT_REGISTERED, "No provider with this id is registered."),
        HR(VSS_E_PROVIDER_VETO, "The provider refused the operation; see its log. " RETRY_LATER),
        HR(VSS_E_PROVIDER_IN_USE, "The provider is in use and cannot be unregistered."),
        HR(VSS_E_OBJECT_NOT_FOUND, "The object (snapshot, writer, component, volume or path) does not exist."),
        HR(VSS_E_VOLUME_NOT_SUPPORTED, "No provider can make a shadow copy of this volume."),
        HR(VSS_E_OBJECT_ALREADY_EXISTS, "The object already exists."),
        HR(VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, "The chosen provider does not support this volume."),
        HR(VSS_E_UNEXPECTED_PROVIDER_ERROR, "The provider failed unexpectedly; see vssd's log. " RETRY_LATER),
        HR(VSS_E_CORRUPT_XML_DOCUMENT, "The document is not well formed."),
        HR(VSS_E_INVALID_XML_DOCUMENT, "The document is well formed but breaks its schema or a rule."),
        HR(VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED, "The snapshot set already holds the maximum number of volumes."),
        HR(VSS_E_FLUSH_WRITES_TIMEOUT, "The volumes could not be flushed in time for the snapshot. " RETRY_LATER),
        HR(VSS_E_HOLD_WRITES_TIMEOUT, "Writes could not be held long enough to make the snapshot. " RETRY_LATER),
        HR(VSS_E_UNEXPECTED_WRITER_ERROR, "A writer could not be reached or failed unexpectedly; check the writers' status."),
        HR(VSS_E_SNAPSHOT_SET_IN_PROGRESS, "Another snapshot set is being created; wait for it to finish and retry."),
        HR(VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, "The volume already has the maximum number of snapshots; delete old ones."),
        HR(VSS_E_WRITER_INFRASTRUCTURE, "The writer infrastructure is not working: vssd is unreachable or the connection was lost."),
        HR(VSS_E_WRITER_NOT_RESPONDING, "A writer did not answer within its time-out or disconnected."),
        HR(VSS_E_WRITER_ALREADY_SUBSCRIBED, "This writer is already subscribed on this connection."),
        HR(VSS_E_UNSUPPORTED_CONTEXT, "The snapshot context is not supported."),
        HR(VSS_E_VOLUME_IN_USE, "The volume is in use by another operation."),
        HR(VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED, "The maximum number of diff-area associations was reached."),
        HR(VSS_E_INSUFFICIENT_STORAGE, "Not enough storage for the snapshot; delete stale persistent snapshots, then retry."),
        HR(VSS_E_NO_SNAPSHOTS_IMPORTED, "No snapshot of the set could be imported."),
        HR(VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED, "Some snapshots of the set could not be imported."),
        HR(VSS_E_MAXIMUM_NUMBER_OF_REMOTE_MACHINES_REACHED, "The maximum number of remote machines was reached."),
        HR(VSS_E_REMOTE_SERVER_UNAVAILABLE, "The remote server is unavailable."),
        HR(VSS_E_REMOTE_SERVER_UNSUPPORTED, "The remote server does not support this operation."),
        HR(VSS_E_REVERT_IN_PROGRESS, "A revert is in progress on the volume."),
        HR(VSS_E_REVERT_VOLUME_LOST, "The volume was lost during a revert."),
        HR(VSS_E_REBOOT_REQUIRED, "A reboot is required; do not retry until the machine was restarted."),
        HR(VSS_E_TRANSACTION_FREEZE_TIMEOUT, "Transactions could not be frozen in time. " RETRY_LATER),
        HR(VSS_E_TRANSACTION_THAW_TIMEOUT, "Transactions stayed frozen past their time-out. " RETRY_LATER),
        HR(VSS_E_UNSELECTED_VOLUME, "The volume was not selected for this operation."),
        HR(VSS_E_SNAPSHOT_NOT_IN_SET, "The snapshot is not part of the snapshot set."),
        HR(VSS_E_NESTED_VOLUME_LIMIT, "The volume is nested too deeply to be shadow copied."),
        HR(VSS_E_VOLUME_NOT_LOCAL, "The volume is not local to this machine."),
        HR(VSS_E_CLUSTER_TIMEOUT, "The cluster did not answer in time."),
        HR(VSS_E_NOT_SUPPORTED, "The operation is not supported."),
        HR(VSS_E_WRITERERROR_PARTIAL_FAILURE, "The writer failed on some of its components; check per-component status."),
        HR(VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, "The snapshot holds an inconsistent copy of the writer's data; retry the backup."),
        HR(VSS_E_WRITERERROR_OUTOFRESOURCES, "The writer ran out of resources. " RETRY_LATER),
        HR(VSS_E_WRITERERROR_TIMEOUT, "The writer timed out, usually Freeze to Thaw took too long. " RETRY_LATER),
        HR(VSS_E_WRITERERROR_RETRYABLE, "The writer failed with a transient error. " RETRY_LATER),
        HR(VSS_E_WRITERERROR_NONRETRYABLE, "The writer failed with an error that retrying will not fix; see the writer's log."),
        HR(VSS_E_WRITERERROR_RECOVERY_FAILED, "The writer could not recover the shadow copy volume."),
        HR(VSS_E_BREAK_REVERT_ID_FAILED, "The revert id of the broken snapshot could not be changed."),
        HR(VSS_E_LEGACY_PROVIDER, "The provider is a legacy provider and cannot be used here."),
        HR(VSS_E_MISSING_DISK, "A disk the snapshot needs is missing."),
        HR(VSS_E_MISSING_HIDDEN_VOLUME, "A hidden volume the snapshot needs is missing."),
        HR(VSS_E_MISSING_VOLUME, "A volume the snapshot needs is missing."),
        HR(VSS_E_AUTORECOVERY_FAILED, "Auto-recovery of the snapshot failed."),
        HR(VSS_E_DYNAMIC_DISK_ERROR, "A dynamic disk error occurred."),
        HR(VSS_E_NONTRANSPORTABLE_BCD, "The boot configuration data is not transportable."),
        HR(VSS_E_CANNOT_REVERT_DISKID, "The disk id cannot be reverted."),
        HR(VSS_E_RESYNC_IN_PROGRESS, "A resynchronisation is in progress on the volume."),
        HR(VSS_E_CLUSTER_ERROR, "A cluster error occurred."),
        HR(VSS_E_WRITER_STATUS_NOT_AVAILABLE, "The writer's status is not available yet; gather writer status first."),
};

static const HrEntry *hr_lookup(vss_hr hr) {
        for (size_t i = 0; i < ELEMENTSOF(hr_table); i++)
                if (hr_table[i].value == hr)
                        return &hr_table[i];
        return NULL;
}

VSS_EXTERN const char *vss_hr_name(vss_hr hr) {
        const HrEntry *e = hr_lookup(hr);

        return e ? e->name : "UNKNOWN_HRESULT";
}

VSS_EXTERN const char *vss_hr_message(vss_hr hr) {
        const HrEntry *e = hr_lookup(hr);

        if (e)
                return e->message;
        return VSS_SUCCEEDED(hr) ? "An unknown success code was returned." :
                                   "An unknown error occurred; the code is not a VSS result code.";
}

/*
 * vss_hr_from_name: the value of a code given its exact symbolic name. Sets *ok (if not NULL)
 * to whether the name was known; returns 0 (S_OK) for unknown names.
 */
vss_hr vss_hr_from_name(const char *name, bool *ok) {
        if (name)
                for (size_t i = 0; i < ELEMENTSOF(hr_table); i++)
                        if (streq(hr_table[i].name, name)) {
                                if (ok)
                                        *ok = true;
                                return hr_table[i].value;
                        }

        if (ok)
                *ok = false;
        return S_OK;
}

/*
 * vss_hr_from_errno: see vss-bus.h for the mapping. The sign of err is ignored; 0 is S_OK so
 * that `vss_hr_from_errno(r)` after a successful call does not invent a failure.
 */
vss_hr vss_hr_from_errno(int err) {
        if (err < 0)
                err = -err;

        switch (err) {
        case 0:
                return S_OK;
        case ENOMEM:
                return E_OUTOFMEMORY;
        case EACCES:
        case EPERM:
                return E_ACCESSDENIED;
        case EINVAL:
                return E_INVALIDARG;
        case ENOENT:
        case ENODEV:
                return VSS_E_OBJECT_NOT_FOUND;
        case ENOSPC:
        case EDQUOT:
                return VSS_E_INSUFFICIENT_STORAGE;
        case ENOTSUP: /* == EOPNOTSUPP on Linux */
        case ENOTTY:
                return VSS_E_VOLUME_NOT_SUPPORTED;
        case EBUSY:
                return VSS_E_VOLUME_IN_USE;
        default:
                return VSS_E_UNEXPECTED;
        }
}

/* Table access for tests and tools: the number of rows and the i-th row's value. */
size_t vss_hr_table_size(void) {
        return ELEMENTSOF(hr_table);
}

vss_hr vss_hr_table_value(size_t i) {
        return i < ELEMENTSOF(hr_table) ? hr_table[i].value : S_OK;
}

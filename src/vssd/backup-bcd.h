/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-bcd.h: what vssd does with a backup's Backup Components Document beyond the model's
 * own setters: cut out the slice one writer may see (its own components, for the
 * `components_xml` key of PrepareForBackup, PostSnapshot and BackupComplete), and take back
 * the slice a writer edited, accepting only the edits a writer may make in that event
 * (vss-semantics.md §8; docs/dbus-api.md "Writer edits").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backup-components.h"
#include "macro.h"
#include "vss/vss-common.h"
#include "writer-metadata.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BackupComponents *, backup_components_free);

/*
 * bcd_clone: a deep copy of src with only the components of writer instance_id, or of every
 * writer when instance_id is NULL. The document-wide fields (backup state, context, restore
 * type) are copied too. Returns S_OK with *ret (backup_components_free), E_OUTOFMEMORY, or
 * the code of a setter that refused (cannot happen for a document the setters built).
 */
vss_hr bcd_clone(const BackupComponents *src, const vss_id *instance_id, BackupComponents **ret);

/*
 * bcd_writer_slice_xml: bcd_clone(b, instance_id) saved as XML: what the writer instance may
 * read. Returns 0 with *ret (malloc'd) or -ENOMEM / -EINVAL.
 */
int bcd_writer_slice_xml(const BackupComponents *b, const vss_id *instance_id, char **ret);

/* Who sent an edited slice, and in which event. */
typedef struct BcdEditor {
        vss_id instance_id;
        vss_id writer_id;
        const WriterMetadata *metadata;         /* what it answered Identify with */
        BcdEventWindow window;                  /* event, backup type, the other writers */
} BcdEditor;

/*
 * bcd_apply_writer_edits: take the slice xml (len bytes) that writer e answered an event with.
 * Parsed with the hardened loader; then every difference from *live must be one the writer
 * may make in this event: only its own components (the same set, none added or removed);
 * in PrepareForBackup and PostSnapshot the backup stamp, backup metadata, new differenced
 * files (through every rule of seed 003 against its metadata and the other writers') and new
 * partial files, and in PrepareForBackup the restore metadata; in PreRestore the restore
 * target, new directed targets, the restore metadata and the pre-restore failure message; in
 * PostRestore the post-restore failure message. On S_OK *live is replaced by the edited document (the old
 * one is freed); on failure *live is untouched and *ret_reason (malloc'd, may be NULL on OOM)
 * says why: VSS_E_INVALID_XML_DOCUMENT (unparsable), VSS_E_BAD_STATE (edits outside the
 * window), E_INVALIDARG (an edit a writer may not make, or one the rules refuse),
 * E_OUTOFMEMORY.
 */
vss_hr bcd_apply_writer_edits(BackupComponents **live, const BcdEditor *e, const char *xml, size_t len,
                              char **ret_reason);

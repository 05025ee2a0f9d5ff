/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-catalog.h: vssd's in-memory list of finished snapshots, what QuerySnapshots,
 * GetSnapshotProperties and DeleteSnapshots read, and what releasing a backup prunes
 * (auto-release snapshots belong to the backup that made them). A record owns its
 * ProviderSnapshot; deleting a record asks its provider to delete the snapshot first.
 * Persistence across restarts (the SQLite catalog) is a later layer on top of this.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/provider.h"
#include "vssd/list.h"

/* Hard limit on finished snapshots held at once; AddToSnapshotSet refuses beyond it. */
#define VSSD_MAX_SNAPSHOTS 4096U

typedef struct SnapshotRecord SnapshotRecord;

struct SnapshotRecord {
        ProviderSnapshot *snap;
        const VssProviderOps *ops;
        uint32_t context;          /* the VSS_CTX_* it was made in */
        uint32_t attributes;       /* VSS_VOLSNAP_ATTR_* */
        int64_t created;           /* vss_timestamp */
        int32_t set_count;         /* snapshots in its set */
        vss_id owner;              /* backup id for auto-release snapshots, else null */
        LIST_FIELDS(SnapshotRecord, records);
};

typedef struct SnapshotCatalog {
        SnapshotRecord *records;
        size_t n_records;
} SnapshotCatalog;

/*
 * catalog_add: record a committed snapshot. Takes snap on success (on failure the caller
 * still owns it). owner NULL or null id: not auto-released. Returns 0 or -ENOMEM.
 */
int catalog_add(SnapshotCatalog *c, ProviderSnapshot *snap, const VssProviderOps *ops, uint32_t context,
                int32_t set_count, const vss_id *owner, int64_t created);

/* catalog_find: the record of snapshot id, or NULL. */
SnapshotRecord *catalog_find(const SnapshotCatalog *c, const vss_id *id);

/*
 * catalog_delete: ask the provider to delete the snapshot, then drop the record. Returns the
 * sanitized provider result; on failure the record stays.
 */
vss_hr catalog_delete(SnapshotCatalog *c, SnapshotRecord *r);

/*
 * catalog_delete_owned: delete every snapshot owned by backup id owner (auto-release).
 * Failures are logged and the record dropped anyway (nothing else would ever delete it).
 * Returns the number deleted.
 */
size_t catalog_delete_owned(SnapshotCatalog *c, const vss_id *owner);

/* catalog_done: free every record (memory only; the snapshots stay on disk). */
void catalog_done(SnapshotCatalog *c);

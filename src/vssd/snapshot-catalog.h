/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-catalog.h: vssd's snapshots between creation and deletion: what QuerySnapshots,
 * GetSnapshotProperties, DeleteSnapshots, the exposure calls and the Admin interface read,
 * and what releasing a backup prunes (auto-release snapshots belong to the backup that made
 * them).
 *
 * Finished snapshots are held in memory as SnapshotRecords, each owning its ProviderSnapshot,
 * and every one of them is also a row of the SQLite catalog (catalog.h), written BEFORE the
 * provider acts: an intent row when a volume is added to a set, "created" once DoSnapshotSet
 * succeeded, "deleting" before the provider
 * deletes, removed after. Written is not always fsync'd: a row whose loss in a power failure
 * the next start handles the same way anyway is committed lazily (catalog.h, CatalogSync;
 * the intent row on a volume the catalog already knows is one, see catalog_intend). Exposures are recorded before the mount is made. So a crash at any
 * point leaves a row that names what may exist on disk, and catalog_open's recovery deletes
 * it: every snapshot not yet created, every auto-release snapshot (its requester's
 * connection died with the old vssd), every exposure of those. Persistent snapshots (contexts
 * with VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE) are kept, with their exposures, and served again.
 *
 * Then catalog_open reconciles the catalog with what the providers hold (their query and
 * get_properties ops): a snapshot the provider holds of a volume the catalog knows, but no row
 * names (a crash before the intent row, catalog.db restored from an older copy, a snapshot made
 * with the provider directly) is an orphan and is deleted; a persistent snapshot whose copy is
 * gone from the provider's storage (deleted behind vssd's back, `btrfs subvolume delete`) loses
 * its row. Each is logged. A provider that cannot answer (volume not mounted, provider
 * missing) changes nothing: nothing is deleted or dropped on a guess.
 *
 * Without a database (catalog_open never called, as in unit tests of the set logic) it all
 * works in memory only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "providers/provider-util.h"
#include "vss/sys/provider.h"
#include "vssd/catalog.h"
#include "vssd/list.h"

/* Hard limit on finished snapshots held at once; AddToSnapshotSet refuses beyond it. */
#define VSSD_MAX_SNAPSHOTS 4096U
/* Default per-volume limit (vss-semantics §10: 512 for all but client-accessible types). */
#define VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME 512U
#define VSSD_DEFAULT_EXPOSE_DIR "/run/vss/exposed"

typedef struct SnapshotRecord SnapshotRecord;
typedef struct SnapshotEntry SnapshotEntry;   /* snapshot-set.h */

struct SnapshotRecord {
        ProviderSnapshot *snap;
        VssProvider *ops;  /* NULL: a provider this vssd does not have (listed only) */
        vss_id provider_id;
        uint32_t context;           /* the VSS_CTX_* it was made in */
        uint32_t attributes;        /* VSS_VOLSNAP_ATTR_* (without the exposure bits) */
        int64_t created;            /* vss_timestamp */
        int32_t set_count;          /* snapshots in its set */
        vss_id owner;               /* backup id for auto-release snapshots, else null */
        char *exposed_path;         /* where the exposure was made while exposed, else NULL */
        MountRef exposed_mount;     /* its mount's ids (id 0: recorded by an older vssd) */
        LIST_FIELDS(SnapshotRecord, records);
};

typedef struct SnapshotCatalog {
        CatalogDb *db;              /* NULL: memory only */
        int lock_fd;                /* flock on <state_dir>/catalog.lock, valid when locked */
        bool locked;
        SnapshotRecord *records;    /* oldest first */
        size_t n_records;
        char *expose_dir;           /* where vssd picks exposure directories */
        unsigned max_per_volume;    /* 0: VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME */
} SnapshotCatalog;

/* Whether a snapshot's copy is still in its provider's storage (catalog_record_presence). */
typedef enum SnapshotPresence {
        SNAPSHOT_PRESENT,
        SNAPSHOT_MISSING,           /* the provider sees its storage, and the copy is not there */
        SNAPSHOT_PRESENCE_UNKNOWN,  /* the provider cannot tell (storage not visible, no provider) */
        _SNAPSHOT_PRESENCE_MAX,
} SnapshotPresence;

/* The snapshot set id and context an intent row is written with (from the Backup). */
typedef struct CatalogIntent {
        vss_id set_id;
        uint32_t context;
        vss_id owner;               /* null for persistent contexts */
} CatalogIntent;

/*
 * catalog_open: open <state_dir>/catalog.db and recover (see above): leftovers of a previous
 * vssd deleted with their exposures (each mount found by its recorded ids, wherever it is),
 * persistent snapshots loaded, their exposures kept where their mount still is, or mounted
 * again with the rights of the caller they were made for, or dropped with a log line (never
 * through a symlink, never onto a directory that caller does not own). Only what the catalog
 * names is touched (several vssd instances, each with
 * its own state directory, may share an exposure directory). expose_dir NULL:
 * VSSD_DEFAULT_EXPOSE_DIR. A second vssd on the same state directory is refused (-EBUSY):
 * two daemons recovering each other's live snapshots would delete them. After recovery, the
 * reconciliation described above. Returns 0 or negative errno (the database could not be
 * opened; logged). Recovery and reconciliation failures on single snapshots are logged,
 * their rows kept for the next start, and do not fail the call.
 *
 * Reconciliation deletes, on every volume this catalog has snapshotted, whatever the volume's
 * provider holds that no row of THIS catalog names. Two vssd instances (two state
 * directories) must therefore never snapshot the same volume (for btrfs: the same mount),
 * or each start reclaims the other's snapshots.
 */
int catalog_open(SnapshotCatalog *c, const char *state_dir, const char *expose_dir, unsigned max_per_volume);

/*
 * The most orphans one reconciliation deletes per volume; more are left for the next start
 * (logged). Bounds what a provider's answer makes vssd hold.
 */
#define CATALOG_MAX_ORPHANS_PER_VOLUME VSSD_MAX_SNAPSHOTS

/* catalog_done: free every record and close the database (the snapshots stay on disk). */
void catalog_done(SnapshotCatalog *c);

/* catalog_find: the record of snapshot id, or NULL. */
SnapshotRecord *catalog_find(const SnapshotCatalog *c, const vss_id *id);

/* catalog_find_oldest_for: the oldest record of canonical volume, or NULL. */
SnapshotRecord *catalog_find_oldest_for(const SnapshotCatalog *c, const char *volume);

/* catalog_count_volume: finished snapshots of canonical volume. */
size_t catalog_count_volume(const SnapshotCatalog *c, const char *volume);

/*
 * catalog_check_limits: may one more snapshot of canonical volume be prepared, with
 * n_in_creation snapshots already in the set being made? S_OK or
 * VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED (*detail says which limit).
 */
vss_hr catalog_check_limits(const SnapshotCatalog *c, const char *volume, size_t n_in_creation,
                            const char **detail);

/*
 * catalog_intend: write the intent row for snap (just prepared by ops, state PREPARING),
 * with the device path the provider will use. Returns S_OK, or E_OUTOFMEMORY /
 * VSS_E_INSUFFICIENT_STORAGE / VSS_E_UNEXPECTED when the row could not be written: the
 * caller must then abort the snapshot, as it would leak on a crash.
 */
vss_hr catalog_intend(SnapshotCatalog *c, const ProviderSnapshot *snap, VssProvider *ops,
                      const CatalogIntent *intent);


/* catalog_forget_intent: the provider aborted snap: its row goes (logged on failure). */
void catalog_forget_intent(SnapshotCatalog *c, const vss_id *snapshot_id);

/*
 * catalog_add_set: DoSnapshotSet of intent->set_id succeeded: the n entries become CREATED
 * records. A persistent set's rows are marked CREATED first, durably; any other set's rows
 * are left for catalog_mark_created, which the caller runs once DoSnapshotSet has been
 * answered (recovery deletes such rows whatever their state, so the mark need not hold up
 * the answer: 0.22 ms of vssd's CPU per set, measured). Takes every entries[i].snap in all
 * cases (the array stays the caller's): on failure (out of memory, or a persistent set's rows
 * could not be marked) the snapshots are deleted again and their rows removed. Returns S_OK or
 * the HRESULT of the failure (E_OUTOFMEMORY, VSS_E_INSUFFICIENT_STORAGE, VSS_E_UNEXPECTED).
 */
vss_hr catalog_add_set(SnapshotCatalog *c, SnapshotEntry *entries, size_t n, const CatalogIntent *intent,
                       int64_t created);

/*
 * catalog_mark_created: mark the rows of set_id's records CREATED, with their device paths,
 * without fsync. For a set catalog_add_set did not mark; a set with no records any more
 * (released meanwhile) or a persistent one already marked is left alone. A failure is logged.
 */
void catalog_mark_created(SnapshotCatalog *c, const vss_id *set_id);

/*
 * catalog_delete: delete one snapshot: its exposure is removed, its mount found by id wherever
 * it is now (a busy mount fails with VSS_E_VOLUME_IN_USE, unless releasing, which detaches it
 * lazily; one that cannot be reached safely fails with VSS_E_BAD_STATE), the row marked DELETING,
 * the provider deletes (a snapshot already gone counts as deleted), the row and record go.
 * On a provider failure the record stays (releasing: the record goes, the DELETING row stays
 * for the next start's recovery). Returns S_OK or the failure's HRESULT.
 */
vss_hr catalog_delete(SnapshotCatalog *c, SnapshotRecord *r, bool releasing);

/* Match-all value for catalog_delete_matching's context filter. */
#define CATALOG_ANY_CONTEXT VSS_CTX_ALL

/*
 * catalog_delete_matching: DeleteSnapshots: delete the snapshot id (by_set false) or every
 * snapshot of set id (by_set true), of context (VSS_CTX_ALL: any), oldest first, stopping at
 * the first failure. *ret_deleted: how many went; *ret_failed: the first not deleted (null id
 * on success). Returns S_OK, VSS_E_OBJECT_NOT_FOUND (nothing matched), or the failure.
 */
vss_hr catalog_delete_matching(SnapshotCatalog *c, const vss_id *id, bool by_set, uint32_t context,
                               int32_t *ret_deleted, vss_id *ret_failed);

/*
 * catalog_delete_owned: delete every snapshot owned by backup id owner (auto-release).
 * Returns the number deleted; failures are logged (see catalog_delete, releasing).
 */
size_t catalog_delete_owned(SnapshotCatalog *c, const vss_id *owner);

/* Who an exposure is made for: the peer's credentials (SO_PEERCRED, SO_PEERGROUPS). */
typedef struct ExposeCaller {
        uid_t uid;
        gid_t gid;
        const gid_t *groups;        /* supplementary groups (borrowed) */
        size_t n_groups;
} ExposeCaller;

/*
 * catalog_expose: mount snapshot r read-only (nosuid, nodev, noexec, noatime) at path, an
 * existing empty directory reached without following a symlink anywhere in the path and,
 * unless caller->uid is 0, owned by the caller (checked on the opened directory, not on the
 * path); path NULL or "": a directory vssd makes, <expose_dir>/<snapshot id>. The exposure is
 * recorded with the caller's credentials before the mount is made, and with the mount's ids
 * once it is; recovery re-applies that caller's rights (catalog_open). Returns S_OK with
 * *ret_path (borrowed from the record), or E_INVALIDARG (bad target, a symlink in its path;
 * *detail says why), E_ACCESSDENIED (not the caller's directory), VSS_E_OBJECT_ALREADY_EXISTS
 * (already exposed), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (the provider cannot expose), or a
 * provider code.
 */
vss_hr catalog_expose(SnapshotCatalog *c, SnapshotRecord *r, const char *path, const ExposeCaller *caller,
                      const char **ret_path, const char **detail);

/*
 * catalog_unexpose: unmount the exposure of r, found by its mount id wherever it is now (a
 * directory vssd made is removed too). S_OK, VSS_E_BAD_STATE (not exposed; or its mount
 * exists but cannot be reached safely, or cannot be shown to be the snapshot's: it stays
 * recorded, *detail says which), VSS_E_VOLUME_IN_USE (busy), or a provider code.
 */
vss_hr catalog_unexpose(SnapshotCatalog *c, SnapshotRecord *r, const char **detail);

/*
 * catalog_record_presence: ask r's provider (get_properties) whether its copy still exists.
 * Never fails: a provider without the op, or one that cannot tell, gives
 * SNAPSHOT_PRESENCE_UNKNOWN. Touches the filesystem (a few stat calls).
 */
SnapshotPresence catalog_record_presence(const SnapshotRecord *r);

/* snapshot_presence_to_string: "present", "missing", "unknown" (the Admin interface's words);
 * NULL when out of range. */
const char *snapshot_presence_to_string(SnapshotPresence p);

/* catalog_record_attributes: the attributes to report: the record's plus
 * VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY while exposed. */
uint32_t catalog_record_attributes(const SnapshotRecord *r);

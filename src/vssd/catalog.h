/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.h: vssd's durable record of snapshots, an SQLite database at
 * <state-dir>/catalog.db. This is the only interface to it and catalog.c the only file that
 * speaks SQL; snapshot-catalog.c decides what to write and when.
 *
 * Two tables: snapshot sets (context, owner, creation time, snapshot count) and snapshots
 * (provider, original volume, device path, attributes, state, exposure). An exposure is
 * recorded with the kernel's ids of its mount (the path only says where it was made) and the
 * credentials of the caller it was made for, so a restart can find the mount wherever it is
 * and re-apply that caller's rights (schema version 2; a version-1 catalog gains the columns
 * on open, its exposures with the ids and caller unknown). A snapshot row moves
 * PREPARING (AddToSnapshotSet; the device path is the one the provider WILL use) → CREATED →
 * DELETING → gone, and every step is written (WAL; fsync'd unless CATALOG_LAZY below) before
 * the provider acts on it. Whatever a crash interrupts is therefore named by a row, and
 * recovery can finish or undo it. COMMITTING is what an older vssd wrote at the start of
 * DoSnapshotSet; recovery treats it as PREPARING, and no row is moved to it any more (the
 * write cost DoSnapshotSet 0.17 ms of CPU for a state recovery does not tell apart).
 */
#pragma once

#include "macro.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vss/vss-common.h"

typedef enum CatalogState {
        CATALOG_PREPARING,
        CATALOG_COMMITTING,
        CATALOG_CREATED,
        CATALOG_DELETING,
        _CATALOG_STATE_MAX,
} CatalogState;

/*
 * An exposure as recorded. In CatalogRow the strings are owned; passed to
 * catalog_db_set_exposed they are borrowed.
 */
typedef struct CatalogExposure {
        char *path;                /* where the mount was made; NULL when not exposed */
        uint64_t mount_id;         /* mountinfo's id of the mount; 0 not known (being made, or older vssd) */
        uint64_t mount_unique_id;  /* statx STATX_MNT_ID_UNIQUE; 0 not known */
        char *boot_id;             /* the boot the ids belong to; NULL not known */
        int64_t uid;               /* the caller it was made for; -1 not known (older vssd) */
        char *gids;                /* that caller's gid and supplementary groups, "gid,gid,..."; NULL not known */
} CatalogExposure;

/* One snapshot row joined with its set. Strings owned (catalog_row_done). */
typedef struct CatalogRow {
        vss_id snapshot_id;
        vss_id set_id;
        vss_id provider_id;
        char *volume;              /* canonical original volume */
        char *device;              /* where the snapshot is (or will be); NULL if unknown */
        CatalogExposure exposure;  /* .path NULL when not exposed */
        uint32_t context;          /* of the set */
        uint32_t attributes;       /* VSS_VOLSNAP_ATTR_* */
        int64_t created;           /* VSS_TIMESTAMP; 0 until created */
        int32_t set_count;         /* snapshots of the set at creation; 0 until created */
        vss_id owner;              /* backup id for auto-release snapshots, else null */
        CatalogState state;
} CatalogRow;

/* Volumes remembered without any snapshot row; beyond it the least recently used go. */
#define CATALOG_MAX_VOLUMES 1024

/* One volume vssd has snapshotted, and the provider that did. Strings owned. */
typedef struct CatalogVolume {
        char *volume;              /* canonical volume, as in the snapshot rows */
        vss_id provider_id;
} CatalogVolume;

typedef struct CatalogDb CatalogDb;

/* catalog_state_to_string / _from_string: "preparing", "committing", "created", "deleting". */
const char *catalog_state_to_string(CatalogState s);
int catalog_state_from_string(const char *s);

/*
 * catalog_db_open: open (creating if needed) the database at path: WAL journal,
 * synchronous=FULL, a busy timeout, foreign keys on, schema created or checked. A database
 * with a newer schema version is refused (-EPROTONOSUPPORT). Returns 0 or negative errno
 * (-EIO for SQLite failures, which are logged). *ret is ended by catalog_db_close().
 */
int catalog_db_open(const char *path, CatalogDb **ret);

/* catalog_db_close: close; NULL ok; returns NULL. */
CatalogDb *catalog_db_close(CatalogDb *db);
DEFINE_TRIVIAL_CLEANUP_FUNC(CatalogDb *, catalog_db_close);



/*
 * Whether a change must be on disk when the call returns. CATALOG_LAZY is for a change whose
 * loss in a power failure recovery handles exactly as if it had been written (the rows'
 * earlier durable state leads to the same deletions): it is committed without fsync, and
 * the next durable commit (or checkpoint) carries it to disk, in order. It spares the
 * DoSnapshotSet critical path an fsync per write.
 */
typedef enum CatalogSync {
        CATALOG_DURABLE,
        CATALOG_LAZY,
} CatalogSync;

/*
 * catalog_db_insert: add the snapshot row (and its set row when it is the set's first), in
 * state row->state, and remember (row->volume, row->provider_id) as a volume (most recently
 * used now), committed with sync. For a set already present the set's context and owner must
 * match (-EINVAL otherwise). -EEXIST when the snapshot id is known. 0 or negative errno.
 */
int catalog_db_insert(CatalogDb *db, const CatalogRow *row, CatalogSync sync);

/* catalog_db_set_state: move one snapshot to state, committed with sync. -ENOENT when unknown. */
int catalog_db_set_state(CatalogDb *db, const vss_id *snapshot_id, CatalogState state, CatalogSync sync);

/* catalog_db_volume_known: 1 when (volume, provider_id) is a remembered volume, 0 when not,
 * or negative errno. */
int catalog_db_volume_known(CatalogDb *db, const char *volume, const vss_id *provider_id);


/*
 * catalog_db_mark_created: the set is finished: its snapshots become CREATED with the
 * given attributes and device paths (devices[i] for ids[i]; NULL keeps the recorded one), and
 * the set gets its creation time and snapshot count. One transaction: all or nothing.
 */
int catalog_db_mark_created(CatalogDb *db, const vss_id *set_id, const vss_id *ids, char *const *devices,
                            size_t n, uint32_t attributes, int64_t created, CatalogSync sync);

/*
 * catalog_db_set_exposed: record the exposure e of a snapshot (every field of it, unknown
 * ones as NULL), or clear it (e NULL or e->path NULL). -ENOENT when the snapshot is unknown.
 */
int catalog_db_set_exposed(CatalogDb *db, const vss_id *snapshot_id, const CatalogExposure *e);

/* catalog_db_remove: forget a snapshot (and its set once empty), committed with sync.
 * -ENOENT when unknown. */
int catalog_db_remove(CatalogDb *db, const vss_id *snapshot_id, CatalogSync sync);

/*
 * catalog_db_list: every snapshot row, oldest first (creation time, then insertion order).
 * *ret is an array of *ret_n rows (catalog_rows_free). 0 or negative errno.
 */
int catalog_db_list(CatalogDb *db, CatalogRow **ret, size_t *ret_n);

/*
 * catalog_db_list_volumes: every remembered volume with its provider, most recently used
 * first. *ret is an array of *ret_n (catalog_volumes_free). 0 or negative errno.
 */
int catalog_db_list_volumes(CatalogDb *db, CatalogVolume **ret, size_t *ret_n);

/*
 * catalog_db_forget_volume: stop remembering volume of provider_id, unless snapshot rows still
 * name it. Returns 1 when forgotten, 0 when kept (rows left, or not remembered), or negative
 * errno.
 */
int catalog_db_forget_volume(CatalogDb *db, const char *volume, const vss_id *provider_id);

void catalog_volumes_free(CatalogVolume *volumes, size_t n);

void catalog_row_done(CatalogRow *r);
void catalog_rows_free(CatalogRow *rows, size_t n);

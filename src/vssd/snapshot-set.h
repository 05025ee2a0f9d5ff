/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-set.h: one snapshot set in creation: its volumes, the ProviderSnapshot of each with
 * the provider that owns it, and the provider phases of DoSnapshotSet run per provider over
 * that provider's snapshots (vss-semantics.md §11). No bus, no writers: backup.c interleaves
 * these phases with the writer events.
 *
 * Rules kept here: at most VSS_MAX_VOLUMES_PER_SET volumes
 * (VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED); a volume (canonical path) at most once
 * (VSS_E_OBJECT_ALREADY_EXISTS); every provider result goes through provider_hr_sanitize; the
 * first failure of any phase stops the phase, and the caller then aborts the whole set: there
 * is no partial commit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vss/sys/provider.h"
#include "vssd/snapshot-catalog.h"

typedef enum SnapshotPhase {
        SNAPSHOT_PHASE_END_PREPARE,
        SNAPSHOT_PHASE_PRE_COMMIT,
        SNAPSHOT_PHASE_COMMIT,
        SNAPSHOT_PHASE_POST_COMMIT,
        SNAPSHOT_PHASE_PRE_FINAL_COMMIT,
        SNAPSHOT_PHASE_POST_FINAL_COMMIT,
        _SNAPSHOT_PHASE_MAX,
} SnapshotPhase;

struct SnapshotEntry {
        ProviderSnapshot *snap;
        VssProvider *ops;
};

typedef struct SnapshotSet {
        vss_id id;
        SnapshotEntry *entries;
        size_t n_entries;
        bool test_enabled;        /* may pick VSS_PROVIDER_TEST_ONLY providers */
        SnapshotCatalog *catalog; /* NULL: no intent rows (snapshot_set_attach_catalog) */
        CatalogIntent intent;
} SnapshotSet;

/* snapshot_set_new: an empty set with id. Returns 0 or -ENOMEM. */
int snapshot_set_new(const vss_id *id, bool test_enabled, SnapshotSet **ret);

/*
 * snapshot_set_attach_catalog: from now on every prepared snapshot gets its intent row in
 * catalog (context and owner as given; owner NULL or null: persistent) before
 * snapshot_set_add returns, and aborted ones lose it again.
 */
void snapshot_set_attach_catalog(SnapshotSet *s, SnapshotCatalog *catalog, uint32_t context, const vss_id *owner);

/* snapshot_set_add_flags: or flags (VSS_PROVIDER_SNAPSHOT_*) into every snapshot of the set. */
void snapshot_set_add_flags(SnapshotSet *s, uint32_t flags);

/*
 * snapshot_set_free: aborts whatever the providers still hold for this set (prepared or
 * committed but not taken out with snapshot_set_take), then frees. NULL ok; returns NULL.
 */
SnapshotSet *snapshot_set_free(SnapshotSet *s);

/*
 * snapshot_set_add: AddToSnapshotSet. Selects the provider (provider_id NULL/null: automatic),
 * checks the limits, and runs the provider's begin_prepare. S_OK with *ret_snapshot_id, or
 * E_INVALIDARG, E_OUTOFMEMORY, VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED,
 * VSS_E_OBJECT_ALREADY_EXISTS, a provider_select / begin_prepare code (sanitized), or the
 * catalog_intend failure (the snapshot is then aborted).
 */
vss_hr snapshot_set_add(SnapshotSet *s, const char *volume, const vss_id *provider_id, vss_id *ret_snapshot_id);

/*
 * snapshot_set_run_phase: run one phase on every provider of the set, provider by provider in
 * the order volumes were added. Returns S_OK or the first failure (sanitized); the phases
 * after a failure are not run. On success each snapshot's state moves on.
 */
vss_hr snapshot_set_run_phase(SnapshotSet *s, SnapshotPhase phase);

/*
 * snapshot_set_abort: every provider's abort over its snapshots of the set (results logged,
 * not translated, as VSS does for AbortSnapshots), then the snapshots are dropped. The set
 * stays, empty. Cannot fail.
 */
void snapshot_set_abort(SnapshotSet *s);

/*
 * snapshot_set_take: hand the finished snapshots out (e.g. to the catalog). *ret_entries is an
 * array of *ret_n entries owned by the caller (free() it and each snap); the set is empty
 * afterwards. Returns 0 (and NULL/0 for an empty set).
 */
int snapshot_set_take(SnapshotSet *s, SnapshotEntry **ret_entries, size_t *ret_n);

/*
 * snapshot_set_drop: abort and remove the one snapshot snapshot_id (undoing a
 * snapshot_set_add whose caller could not finish its own bookkeeping). Unknown id: no-op.
 */
void snapshot_set_drop(SnapshotSet *s, const vss_id *snapshot_id);

/* snapshot_set_find: the entry for snapshot id, or NULL. */
const SnapshotEntry *snapshot_set_find(const SnapshotSet *s, const vss_id *snapshot_id);

const char *snapshot_phase_to_string(SnapshotPhase p);

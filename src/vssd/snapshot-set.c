/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-set.c: the provider side of one snapshot set (snapshot-set.h).
 *
 * Providers get their snapshots grouped: one call per provider per phase with all of that
 * provider's volumes, so a provider that commits a whole set at one instant
 * (VSS_PROVIDER_ATOMIC_SET) can. Groups are formed on the fly from the entry order, which is
 * small (at most VSS_MAX_VOLUMES_PER_SET) and avoids keeping a second index in sync.
 */
#include <stdlib.h>
#include <string.h>

#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/log.h"
#include "vssd/snapshot-set.h"

static const char *const phase_names[_SNAPSHOT_PHASE_MAX] = {
        [SNAPSHOT_PHASE_END_PREPARE] = "end-prepare",
        [SNAPSHOT_PHASE_PRE_COMMIT] = "pre-commit",
        [SNAPSHOT_PHASE_COMMIT] = "commit",
        [SNAPSHOT_PHASE_POST_COMMIT] = "post-commit",
        [SNAPSHOT_PHASE_PRE_FINAL_COMMIT] = "pre-final-commit",
        [SNAPSHOT_PHASE_POST_FINAL_COMMIT] = "post-final-commit",
};

/* The state a snapshot reaches when a phase succeeds. */
static const vss_snapshot_state phase_done_state[_SNAPSHOT_PHASE_MAX] = {
        [SNAPSHOT_PHASE_END_PREPARE] = VSS_SS_PREPARED,
        [SNAPSHOT_PHASE_PRE_COMMIT] = VSS_SS_PRECOMMITTED,
        [SNAPSHOT_PHASE_COMMIT] = VSS_SS_COMMITTED,
        [SNAPSHOT_PHASE_POST_COMMIT] = VSS_SS_POSTCOMMITTED,
        [SNAPSHOT_PHASE_PRE_FINAL_COMMIT] = VSS_SS_PREFINALCOMMITTED,
        [SNAPSHOT_PHASE_POST_FINAL_COMMIT] = VSS_SS_CREATED,
};

const char *snapshot_phase_to_string(SnapshotPhase p) {
        if (p < 0 || p >= _SNAPSHOT_PHASE_MAX)
                return "unknown";
        return phase_names[p];
}

int snapshot_set_new(const vss_id *id, bool test_enabled, SnapshotSet **ret) {
        SnapshotSet *s;

        assert(id);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->id = *id;
        s->test_enabled = test_enabled;
        *ret = s;
        return 0;
}

void snapshot_set_attach_catalog(SnapshotSet *s, SnapshotCatalog *catalog, uint32_t context, const vss_id *owner) {
        assert(s);

        s->catalog = catalog;
        s->intent = (CatalogIntent) {
                .set_id = s->id,
                .context = context,
                .owner = owner ? *owner : VSS_ID_NULL,
        };
}

void snapshot_set_add_flags(SnapshotSet *s, uint32_t flags) {
        assert(s);

        for (size_t i = 0; i < s->n_entries; i++)
                s->entries[i].snap->flags |= flags;
}

SnapshotSet *snapshot_set_free(SnapshotSet *s) {
        if (!s)
                return NULL;

        snapshot_set_abort(s);
        free(s->entries);
        free(s);
        return NULL;
}

vss_hr snapshot_set_add(SnapshotSet *s, const char *volume, const vss_id *provider_id, vss_id *ret_snapshot_id) {
        _cleanup_free_ char *canonical = NULL;
        VssProvider *ops = NULL;
        ProviderSnapshot *snap;
        SnapshotEntry *entries;
        vss_hr hr;

        assert(s);

        if (!ret_snapshot_id)
                return E_INVALIDARG;
        if (s->n_entries >= VSS_MAX_VOLUMES_PER_SET)
                return VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED;

        hr = provider_select(volume, provider_id, s->test_enabled, &ops, &canonical);
        if (VSS_FAILED(hr))
                return hr;

        for (size_t i = 0; i < s->n_entries; i++)
                if (streq(s->entries[i].snap->volume, canonical))
                        return VSS_E_OBJECT_ALREADY_EXISTS;

        entries = realloc(s->entries, (s->n_entries + 1) * sizeof(*entries));
        if (!entries)
                return E_OUTOFMEMORY;
        s->entries = entries;

        snap = calloc(1, sizeof(*snap));
        if (!snap)
                return E_OUTOFMEMORY;
        vss_id_generate(&snap->snapshot_id);
        snap->snapshot_set_id = s->id;
        snap->volume = TAKE_PTR(canonical);
        snap->state = VSS_SS_PREPARING;

        hr = ops->begin_prepare ? provider_hr_sanitize(ops->begin_prepare(ops, snap)) : S_OK;
        if (VSS_FAILED(hr)) {
                log_info("Provider %s refused to prepare %s: %s", ops->name, snap->volume, vss_hr_name(hr));
                provider_snapshot_free(snap);
                return hr;
        }
        snap->state = VSS_SS_PROCESSING_PREPARE;

        /* The row comes before anything the provider makes on disk (commit): see
         * snapshot-catalog.h. */
        if (s->catalog) {
                hr = catalog_intend(s->catalog, snap, ops, &s->intent);
                if (VSS_FAILED(hr)) {
                        ProviderSnapshot *one[1] = { snap };

                        if (ops->abort)
                                (void) ops->abort(ops, one, 1);
                        provider_snapshot_free(snap);
                        return hr;
                }
        }

        s->entries[s->n_entries++] = (SnapshotEntry) { .snap = snap, .ops = ops };
        *ret_snapshot_id = snap->snapshot_id;
        return S_OK;
}

static vss_hr (*phase_op(VssProvider *ops, SnapshotPhase p))(VssProvider *, ProviderSnapshot *const *, size_t) {
        switch (p) {
        case SNAPSHOT_PHASE_END_PREPARE:
                return ops->end_prepare;
        case SNAPSHOT_PHASE_PRE_COMMIT:
                return ops->pre_commit;
        case SNAPSHOT_PHASE_COMMIT:
                return ops->commit;
        case SNAPSHOT_PHASE_POST_COMMIT:
                return ops->post_commit;
        case SNAPSHOT_PHASE_PRE_FINAL_COMMIT:
                return ops->pre_final_commit;
        case SNAPSHOT_PHASE_POST_FINAL_COMMIT:
                return ops->post_final_commit;
        default:
                return NULL;
        }
}

/* Collect the snapshots of the first provider not yet visited; returns that provider. */
static VssProvider *next_group(const SnapshotSet *s, VssProvider *const *done, size_t n_done,
                               ProviderSnapshot **group, size_t *ret_n) {
        VssProvider *ops = NULL;
        size_t n = 0;

        for (size_t i = 0; i < s->n_entries; i++) {
                VssProvider *o = s->entries[i].ops;
                bool seen = false;

                for (size_t j = 0; j < n_done; j++)
                        if (done[j] == o)
                                seen = true;
                if (seen)
                        continue;
                if (!ops)
                        ops = o;
                if (o == ops)
                        group[n++] = s->entries[i].snap;
        }

        *ret_n = n;
        return ops;
}

vss_hr snapshot_set_run_phase(SnapshotSet *s, SnapshotPhase phase) {
        ProviderSnapshot *group[VSS_MAX_VOLUMES_PER_SET];
        VssProvider *done[VSS_MAX_VOLUMES_PER_SET];
        size_t n_done = 0, n;

        assert(s);
        assert(phase >= 0 && phase < _SNAPSHOT_PHASE_MAX);

        for (VssProvider *ops; (ops = next_group(s, done, n_done, group, &n)); done[n_done++] = ops) {
                vss_hr (*op)(VssProvider *, ProviderSnapshot *const *, size_t) = phase_op(ops, phase);
                vss_hr hr;

                if (!op)
                        continue;

                hr = provider_hr_sanitize(op(ops, group, n));
                if (VSS_FAILED(hr)) {
                        log_warning("Provider %s failed %s of snapshot set %s: %s", ops->name,
                                    snapshot_phase_to_string(phase), vss_id_to_str(&s->id).s, vss_hr_name(hr));
                        return hr;
                }
        }

        for (size_t i = 0; i < s->n_entries; i++)
                s->entries[i].snap->state = phase_done_state[phase];
        return S_OK;
}

void snapshot_set_abort(SnapshotSet *s) {
        ProviderSnapshot *group[VSS_MAX_VOLUMES_PER_SET];
        VssProvider *done[VSS_MAX_VOLUMES_PER_SET];
        size_t n_done = 0, n;

        if (!s || s->n_entries == 0)
                return;

        for (VssProvider *ops; (ops = next_group(s, done, n_done, group, &n)); done[n_done++] = ops) {
                vss_hr hr;

                if (!ops->abort)
                        continue;
                hr = ops->abort(ops, group, n);
                if (VSS_FAILED(hr))
                        log_warning("Provider %s could not abort snapshot set %s completely: %s", ops->name,
                                    vss_id_to_str(&s->id).s, vss_hr_name(hr));
        }

        for (size_t i = 0; i < s->n_entries; i++) {
                if (s->catalog)
                        catalog_forget_intent(s->catalog, &s->entries[i].snap->snapshot_id);
                provider_snapshot_free(s->entries[i].snap);
        }
        free(s->entries);
        s->entries = NULL;
        s->n_entries = 0;
}

int snapshot_set_take(SnapshotSet *s, SnapshotEntry **ret_entries, size_t *ret_n) {
        assert(s);
        assert(ret_entries);
        assert(ret_n);

        *ret_entries = TAKE_PTR(s->entries);
        *ret_n = s->n_entries;
        s->n_entries = 0;
        return 0;
}

void snapshot_set_drop(SnapshotSet *s, const vss_id *snapshot_id) {
        assert(s);

        for (size_t i = 0; i < s->n_entries; i++) {
                SnapshotEntry e = s->entries[i];
                ProviderSnapshot *one[1] = { e.snap };

                if (!vss_id_equal(&e.snap->snapshot_id, snapshot_id))
                        continue;
                if (e.ops->abort)
                        (void) e.ops->abort(e.ops, one, 1);
                if (s->catalog)
                        catalog_forget_intent(s->catalog, &e.snap->snapshot_id);
                provider_snapshot_free(e.snap);
                memmove(s->entries + i, s->entries + i + 1, (s->n_entries - i - 1) * sizeof(*s->entries));
                s->n_entries--;
                return;
        }
}

const SnapshotEntry *snapshot_set_find(const SnapshotSet *s, const vss_id *snapshot_id) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_entries; i++)
                if (vss_id_equal(&s->entries[i].snap->snapshot_id, snapshot_id))
                        return &s->entries[i];
        return NULL;
}

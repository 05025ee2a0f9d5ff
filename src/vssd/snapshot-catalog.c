/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-catalog.c: the in-memory list of finished snapshots (snapshot-catalog.h).
 * A plain linked list: it holds at most VSSD_MAX_SNAPSHOTS records and is walked only by
 * requester calls, never inside a freeze window.
 */
#include <stdlib.h>

#include "vss-bus.h"
#include "vssd/log.h"
#include "vssd/snapshot-catalog.h"

int catalog_add(SnapshotCatalog *c, ProviderSnapshot *snap, const VssProviderOps *ops, uint32_t context,
                int32_t set_count, const vss_id *owner, int64_t created) {
        SnapshotRecord *r;

        assert(c);
        assert(snap);
        assert(ops);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;

        r->snap = snap;
        r->ops = ops;
        r->context = context;
        r->attributes = context;
        r->created = created;
        r->set_count = set_count;
        r->owner = owner ? *owner : VSS_ID_NULL;
        LIST_PREPEND(records, c->records, r);
        c->n_records++;
        return 0;
}

SnapshotRecord *catalog_find(const SnapshotCatalog *c, const vss_id *id) {
        assert(c);

        LIST_FOREACH(records, r, c->records)
                if (vss_id_equal(&r->snap->snapshot_id, id))
                        return r;
        return NULL;
}

static void record_drop(SnapshotCatalog *c, SnapshotRecord *r) {
        LIST_REMOVE(records, c->records, r);
        c->n_records--;
        provider_snapshot_free(r->snap);
        free(r);
}

vss_hr catalog_delete(SnapshotCatalog *c, SnapshotRecord *r) {
        vss_hr hr = S_OK;

        assert(c);
        assert(r);

        if (r->ops->delete_snapshot)
                hr = provider_hr_sanitize(r->ops->delete_snapshot(r->snap));
        if (VSS_FAILED(hr)) {
                log_warning("Provider %s could not delete snapshot %s of %s: %s", r->ops->name,
                            vss_id_to_str(&r->snap->snapshot_id).s, r->snap->volume, vss_hr_name(hr));
                return hr;
        }

        log_info("Deleted snapshot %s of %s.", vss_id_to_str(&r->snap->snapshot_id).s, r->snap->volume);
        record_drop(c, r);
        return S_OK;
}

size_t catalog_delete_owned(SnapshotCatalog *c, const vss_id *owner) {
        size_t n = 0;

        assert(c);

        if (!owner || vss_id_is_null(owner))
                return 0;

        LIST_FOREACH_SAFE(records, r, next, c->records) {
                if (!vss_id_equal(&r->owner, owner))
                        continue;
                if (VSS_FAILED(catalog_delete(c, r)))
                        record_drop(c, r); /* nobody else would ever delete it; it stays on disk */
                else
                        n++;
        }
        return n;
}

void catalog_done(SnapshotCatalog *c) {
        assert(c);

        LIST_FOREACH_SAFE(records, r, next, c->records)
                record_drop(c, r);
}

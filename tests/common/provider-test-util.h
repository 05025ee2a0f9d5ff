/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-test-util.h: small file helpers and a snapshot driver shared by the provider
 * tests. Header-only (static functions) so each test stays one executable from one source.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "providers/provider-registry.h"

static inline void *mfree_ptr(void *p) {
        free(p);
        return NULL;
}

static inline int write_text(const char *dir, const char *name, const char *text) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -errno;
}

/* Reads up to size-1 bytes of dir/name into buf; returns buf or NULL. */
static inline char *read_text(const char *dir, const char *name, char *buf, size_t size) {
        char path[4096];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static inline bool path_exists(const char *dir, const char *name) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return lstat(path, &st) == 0;
}

/* A new ProviderSnapshot for volume with fresh ids, as vssd makes in AddToSnapshotSet. */
static inline ProviderSnapshot *snapshot_new(const char *canonical_volume, const vss_id *set_id) {
        ProviderSnapshot *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        vss_id_generate(&s->snapshot_id);
        s->snapshot_set_id = *set_id;
        s->volume = strdup(canonical_volume);
        if (!s->volume) {
                free(s);
                return NULL;
        }
        s->state = VSS_SS_PREPARING;
        return s;
}

/*
 * Runs DoSnapshotSet's provider phases in order on snaps. Returns the first failing code,
 * with *ret_phase naming the phase, or S_OK.
 */
static inline vss_hr run_set_phases(VssProvider *p, ProviderSnapshot **snaps, size_t n,
                                    const char **ret_phase) {
        static const char *const names[] = {
                "end_prepare", "pre_commit", "commit", "post_commit", "pre_final_commit", "post_final_commit",
        };
        vss_hr (*const ops[])(VssProvider *, ProviderSnapshot *const *, size_t) = {
                p->end_prepare, p->pre_commit, p->commit, p->post_commit, p->pre_final_commit, p->post_final_commit,
        };

        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                vss_hr hr = ops[i](p, snaps, n);

                if (hr != S_OK) {
                        if (ret_phase)
                                *ret_phase = names[i];
                        return hr;
                }
        }
        return S_OK;
}

/* What a query op reported: up to QUERY_MAX snapshots. */
#define QUERY_MAX 16
typedef struct QueryResult {
        vss_id ids[QUERY_MAX];
        char devices[QUERY_MAX][4096];
        vss_timestamp created[QUERY_MAX];
        size_t n;
        size_t stop_after;      /* 0: never; else return VSS_E_PROVIDER_VETO on that call */
} QueryResult;

static inline vss_hr query_collect(const vss_id *id, const char *device, vss_timestamp created, void *userdata) {
        QueryResult *q = userdata;

        if (q->n >= QUERY_MAX)
                return E_OUTOFMEMORY;
        q->ids[q->n] = *id;
        snprintf(q->devices[q->n], sizeof(q->devices[q->n]), "%s", device);
        q->created[q->n] = created;
        q->n++;
        if (q->stop_after > 0 && q->n == q->stop_after)
                return VSS_E_PROVIDER_VETO;
        return S_OK;
}

/* Index of id in q, or -1. */
static inline int query_find(const QueryResult *q, const vss_id *id) {
        for (size_t i = 0; i < q->n; i++)
                if (vss_id_equal(&q->ids[i], id))
                        return (int) i;
        return -1;
}

/* A ProviderSnapshot as vssd rebuilds it from a catalog row: ids, volume, device, no data. */
static inline ProviderSnapshot *snapshot_from_record(const ProviderSnapshot *s) {
        ProviderSnapshot *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->snapshot_id = s->snapshot_id;
        r->snapshot_set_id = s->snapshot_set_id;
        r->volume = strdup(s->volume);
        r->device = s->device ? strdup(s->device) : NULL;
        r->state = VSS_SS_CREATED;
        if (!r->volume || (s->device && !r->device)) {
                provider_snapshot_free(r);
                return NULL;
        }
        return r;
}

/* Now as a vss_timestamp. */
static inline vss_timestamp timestamp_now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return vss_timestamp_from_unix_ns((int64_t) ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-zfs.c: the ZFS provider: ZFS snapshots of mounted datasets, made through
 * libzfs_core.
 *
 * A volume is a mounted ZFS filesystem dataset (mountinfo type "zfs", source "pool/fs"); any
 * path inside one resolves to the dataset's mount point, the canonical volume. A snapshot is
 * "<dataset>@vss-<snapshot id>" (provider_object_name: the name is what recovery goes by), and
 * what a reader sees of it is the dataset's own read-only view, "<mount point>/.zfs/snapshot/
 * vss-<snapshot id>" (s->device): the kernel mounts it read-only on first access, so backup
 * tools read it like any directory, and expose bind-mounts it read-only (provider-util.h).
 *
 * Why libzfs_core and not the zfs command or libzfs: lzc_snapshot takes every snapshot of one
 * pool in a single ioctl, atomically (one transaction group: the set is one point in time
 * without any freeze), lzc_hold/lzc_release/lzc_destroy_snaps are single ioctls with errno
 * results, and nothing is forked from vssd. What libzfs_core cannot do, list a dataset's
 * snapshots with their creation times, a read-only channel program does (zfs-program(8)),
 * still through libzfs_core (lzc_channel_program_nosync: no transaction group is synced).
 *
 * commit groups the set's snapshots by pool: one lzc_snapshot per pool. A set spanning pools
 * is taken by one call per pool, all started at once on threads of their own, inside the
 * writers' freeze. ZFS (2.1) refuses FIFREEZE (EOPNOTSUPP, checked in the lab), so the
 * guardian has nothing it could hold across the calls; the writers' freeze is what holds the
 * applications still, and the skew between the pools' points in time is measured and logged
 * instead (provider_zfs_last_skew_usec: how far apart the calls started; each pool's point
 * in time is the start of the transaction-group sync its call waits for). One pool's
 * failure destroys the other pools' snapshots: no partial commit.
 *
 * A finished snapshot carries a user hold (lzc_hold, tag "vss"), taken in pre_final_commit,
 * after the writers thawed (a hold syncs a transaction group, too slow for the freeze
 * window): `zfs destroy` by someone else then fails with "dataset is busy" while vssd still
 * serves the snapshot. delete_snapshot releases the hold and destroys the snapshot; query
 * lists a dataset's snapshots named vss-<id>, so vssd's start-up reconciliation removes what
 * a crash left behind.
 *
 * Zvols are not volumes of this provider yet (a filesystem on a zvol needs a freeze to be
 * consistent, which ZFS's snapshot alone does not give).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libzfs_core.h>
/* libspl's sys/sysmacros.h and sys/time.h define these too, identically in effect. */
#undef MIN
#undef MAX
#undef NSEC_PER_USEC

#include "macro.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "providers/provider-zfs.h"
#include "vss-bus.h"

#define ZFS_PROVIDER_NAME "zfs"
#define ZFS_PROVIDER_ID "2f6c1a9e-8d43-4b7a-a5e0-3c9d71b6e804"
#define SNAPSHOT_DIR "/.zfs/snapshot/"
#define HOLD_TAG "vss"
/* Channel program limits: far above a listing of thousands of snapshots. */
#define CP_INSTR_LIMIT UINT64_C(10000000)
#define CP_MEM_LIMIT UINT64_C(10485760)

typedef struct ZfsProvider {
        VssProvider parent;
        uint64_t last_skew_usec;   /* last multi-pool commit: spread of the calls' starts */
        uint64_t last_window_usec; /* and from the first start to the last return */
} ZfsProvider;

typedef struct ZfsSnapshot {
        char *dataset;  /* pool/fs */
        char *name;     /* pool/fs@vss-<id> */
        char *path;     /* <mount point>/.zfs/snapshot/vss-<id> */
        bool created;
        bool held;
} ZfsSnapshot;

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

static ZfsSnapshot *zfs_snapshot_free(ZfsSnapshot *z) {
        if (!z)
                return NULL;
        free(z->dataset);
        free(z->name);
        free(z->path);
        free(z);
        return NULL;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

uint64_t provider_zfs_last_skew_usec(VssProvider *self) {
        return self ? ((ZfsProvider *) self)->last_skew_usec : 0;
}

/* libzfs_core answers with errno values; a few mean something to VSS. */
static vss_hr hr_from_zfs(int err) {
        switch (err) {
        case 0:
                return S_OK;
        case ENOSPC:
        case EDQUOT:
                return VSS_E_INSUFFICIENT_STORAGE;
        case EEXIST:
                return VSS_E_PROVIDER_VETO;
        case ENOENT:
                return VSS_E_OBJECT_NOT_FOUND;
        default:
                return vss_hr_from_errno(err > 0 ? err : EIO);
        }
}

/* The pool of a dataset or snapshot name: what comes before the first '/' or '@'. */
static size_t pool_len(const char *name) {
        return strcspn(name, "/@");
}

/*
 * The mounted ZFS filesystem path is in: its mount point (ret_mnt) and dataset (ret_dataset).
 * VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, with a phrase in *ret_why when wanted, when it is not
 * one: not ZFS, a bind mount of a subdirectory, a mounted snapshot.
 */
static vss_hr zfs_volume_resolve(const char *volume, char **ret_mnt, char **ret_dataset, const char **ret_why) {
        _cleanup_(mount_entry_done) MountEntry e = {};
        _cleanup_free_ char *real = NULL;
        int r;

        if (isempty(volume) || volume[0] != '/')
                return E_INVALIDARG;
        real = realpath(volume, NULL);
        if (!real)
                return vss_hr_from_errno(errno);

        r = mount_find(real, NULL, &e);
        if (r < 0 && r != -ENOENT)
                return vss_hr_from_errno(r);
        if (r == -ENOENT || !streq(e.fstype, "zfs")) {
                if (ret_why)
                        *ret_why = "not a ZFS dataset";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (strchr(e.source, '@')) {
                if (ret_why)
                        *ret_why = "a mounted ZFS snapshot, already read-only";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (!streq(e.root, "/")) {
                if (ret_why)
                        *ret_why = "a bind mount of part of a ZFS dataset";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }

        if (ret_mnt)
                *ret_mnt = TAKE_PTR(e.mnt);
        if (ret_dataset)
                *ret_dataset = TAKE_PTR(e.source);
        return S_OK;
}

static vss_hr zfs_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        if (!ret_canonical)
                return E_INVALIDARG;
        return zfs_volume_resolve(volume, ret_canonical, NULL, NULL);
}

static char *zfs_why_unsupported(VssProvider *self, const char *volume) {
        const char *why = NULL;
        vss_hr hr;

        hr = zfs_volume_resolve(volume, NULL, NULL, &why);
        if (hr == VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER && why)
                return strdup(why);
        return strdup(VSS_SUCCEEDED(hr) ? "supported" : vss_hr_message(hr));
}

/* "<mnt>/.zfs/snapshot/vss-<id>" and "<dataset>@vss-<id>". */
static vss_hr snapshot_names(const char *mnt, const char *dataset, const vss_id *id, char **ret_path,
                             char **ret_name) {
        char obj[PROVIDER_OBJECT_NAME_MAX];
        _cleanup_free_ char *path = NULL, *name = NULL;

        provider_object_name(id, obj);
        if (asprintf(&path, "%s" SNAPSHOT_DIR "%s", streq(mnt, "/") ? "" : mnt, obj) < 0 ||
            asprintf(&name, "%s@%s", dataset, obj) < 0)
                return E_OUTOFMEMORY;
        if (strlen(name) >= ZFS_MAX_DATASET_NAME_LEN)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        *ret_path = TAKE_PTR(path);
        *ret_name = TAKE_PTR(name);
        return S_OK;
}

static vss_hr zfs_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        _cleanup_free_ char *mnt = NULL, *dataset = NULL, *path = NULL, *name = NULL;
        ZfsSnapshot *z;
        vss_hr hr;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        if (s->data)
                return VSS_E_BAD_STATE;

        hr = zfs_volume_resolve(s->volume, &mnt, &dataset, NULL);
        if (VSS_FAILED(hr))
                return hr;
        hr = snapshot_names(mnt, dataset, &s->snapshot_id, &path, &name);
        if (VSS_FAILED(hr))
                return hr;
        if (lzc_exists(name)) {
                provider_log(ZFS_PROVIDER_NAME, "%s already exists, refusing to reuse it", name);
                return VSS_E_PROVIDER_VETO;
        }

        z = calloc(1, sizeof(*z));
        if (!z)
                return E_OUTOFMEMORY;
        z->dataset = TAKE_PTR(dataset);
        z->name = TAKE_PTR(name);
        z->path = TAKE_PTR(path);
        s->data = z;
        return S_OK;
}

static vss_hr check_prepared(ProviderSnapshot *const *snaps, size_t n, bool want_created) {
        if (!snaps && n > 0)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++) {
                ZfsSnapshot *z = snaps[i] ? snaps[i]->data : NULL;

                if (!z || z->created != want_created)
                        return VSS_E_BAD_STATE;
        }
        return S_OK;
}

static vss_hr zfs_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;
        /* Dirty data written now, while writers run, leaves little for the snapshot's sync. */
        return provider_flush_volumes(ZFS_PROVIDER_NAME, snaps, n);
}

static vss_hr zfs_pre_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, false);
}

/*
 * libzfs_core's calls on several snapshots (snapshot, hold, release, destroy) take the
 * snapshots of one pool each: calls fn once per pool with that pool's names, in the order the
 * pools first appear, and stops at the first nonzero result (which it returns).
 */
typedef int (*PoolFn)(char *const *names, size_t n, void *userdata);

static int for_each_pool(char *const *names, size_t n, PoolFn fn, void *userdata) {
        char *group[VSS_MAX_VOLUMES_PER_SET] = {};

        if (n > ELEMENTSOF(group))
                return E2BIG;
        for (size_t i = 0; i < n; i++) {
                size_t pn = pool_len(names[i]), k = 0;
                bool seen = false;
                int r;

                for (size_t j = 0; j < i && !seen; j++)
                        seen = pool_len(names[j]) == pn && strncmp(names[j], names[i], pn) == 0;
                if (seen)
                        continue;
                for (size_t j = i; j < n; j++)
                        if (pool_len(names[j]) == pn && strncmp(names[j], names[i], pn) == 0)
                                group[k++] = names[j];
                r = fn(group, k, userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* An nvlist with each name as a boolean (lzc_snapshot, lzc_destroy_snaps) or mapped to the
 * hold tag as a string (lzc_hold) or as a set (lzc_release). NULL when out of memory. */
typedef enum NameListKind { NAMES_BOOLEAN, NAMES_HOLD, NAMES_RELEASE } NameListKind;

static nvlist_t *name_list(char *const *names, size_t n, NameListKind kind) {
        nvlist_t *list = NULL;

        if (nvlist_alloc(&list, NV_UNIQUE_NAME, 0) != 0)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                nvlist_t *tags = NULL;
                int r;

                switch (kind) {
                case NAMES_BOOLEAN:
                        r = nvlist_add_boolean(list, names[i]);
                        break;
                case NAMES_HOLD:
                        r = nvlist_add_string(list, names[i], HOLD_TAG);
                        break;
                default:
                        r = nvlist_alloc(&tags, NV_UNIQUE_NAME, 0);
                        if (r == 0)
                                r = nvlist_add_boolean(tags, HOLD_TAG);
                        if (r == 0)
                                r = nvlist_add_nvlist(list, names[i], tags);
                        nvlist_free(tags);
                }
                if (r != 0) {
                        nvlist_free(list);
                        return NULL;
                }
        }
        return list;
}

/* Logs each entry of a libzfs_core error list (snapshot name -> errno). */
static void log_errlist(const char *what, nvlist_t *errs) {
        for (nvpair_t *p = errs ? nvlist_next_nvpair(errs, NULL) : NULL; p; p = nvlist_next_nvpair(errs, p)) {
                int32_t e = 0;

                (void) nvpair_value_int32(p, &e);
                provider_log(ZFS_PROVIDER_NAME, "%s %s: %s", what, nvpair_name(p), strerror(e));
        }
}

/* One pool's snapshots destroyed, our hold released first; the first error kept in *userdata,
 * and the walk goes on to the other pools. */
static int destroy_pool(char *const *names, size_t n, void *userdata) {
        nvlist_t *holds = name_list(names, n, NAMES_RELEASE), *snaps = name_list(names, n, NAMES_BOOLEAN);
        nvlist_t *errs = NULL;
        int *first = userdata, r = ENOMEM;

        if (holds && snaps) {
                /* Snapshots without our hold (never held, or released already) fail with
                 * ESRCH here: nothing to do for them. */
                (void) lzc_release(holds, &errs);
                nvlist_free(errs);
                errs = NULL;
                r = lzc_destroy_snaps(snaps, B_FALSE, &errs);
                if (r != 0)
                        log_errlist("could not destroy", errs);
        }
        if (r != 0 && *first == 0)
                *first = r;
        nvlist_free(errs);
        nvlist_free(snaps);
        nvlist_free(holds);
        return 0;
}

/* Destroys the named snapshots, of any pools; logs what it cannot. Returns the first errno. */
static int destroy_snapshots(char *const *names, size_t n) {
        int first = 0;

        (void) for_each_pool(names, n, destroy_pool, &first);
        return first;
}

/*
 * One pool's part of a commit: its snapshots, taken by one lzc_snapshot call on a thread of
 * its own, so that the pools of a set are snapshotted at the same time rather than one after
 * the other (each call waits for its pool's transaction group to sync, hundreds of
 * milliseconds on a busy pool; the snapshot's point in time is the start of that sync).
 */
typedef struct PoolJob {
        char *names[VSS_MAX_VOLUMES_PER_SET];
        size_t n;
        int result;
        uint64_t start_usec, end_usec;
        pthread_t thread;
        bool started;
} PoolJob;

typedef struct CommitJobs {
        PoolJob jobs[VSS_MAX_VOLUMES_PER_SET];
        size_t n;
} CommitJobs;

static int collect_pool(char *const *names, size_t n, void *userdata) {
        CommitJobs *c = userdata;
        PoolJob *j = &c->jobs[c->n++];

        memcpy(j->names, names, n * sizeof(*names));
        j->n = n;
        return 0;
}

/* lzc_snapshot of one pool's snapshots, atomically. */
static void *snapshot_pool(void *userdata) {
        PoolJob *j = userdata;
        nvlist_t *list = name_list(j->names, j->n, NAMES_BOOLEAN), *errs = NULL;

        j->start_usec = now_usec();
        j->result = list ? lzc_snapshot(list, NULL, &errs) : ENOMEM;
        j->end_usec = now_usec();
        nvlist_free(errs);
        nvlist_free(list);
        return NULL;
}

/* Runs every job, each pool on its own thread when there are several; the first error. */
static int commit_jobs_run(CommitJobs *c) {
        int r = 0;

        if (c->n == 1) {
                (void) snapshot_pool(&c->jobs[0]);
                return c->jobs[0].result;
        }
        for (size_t i = 0; i < c->n; i++) {
                int k = pthread_create(&c->jobs[i].thread, NULL, snapshot_pool, &c->jobs[i]);

                if (k != 0) {
                        c->jobs[i].result = k; /* this pool is not snapshotted: the set fails */
                        continue;
                }
                c->jobs[i].started = true;
        }
        for (size_t i = 0; i < c->n; i++) {
                if (c->jobs[i].started)
                        (void) pthread_join(c->jobs[i].thread, NULL);
                if (c->jobs[i].result != 0 && r == 0)
                        r = c->jobs[i].result;
        }
        return r;
}

/* Collects the snapshot names of a set (borrowed from the snapshots' data). */
static void set_names(ProviderSnapshot *const *snaps, size_t n, char **ret) {
        for (size_t i = 0; i < n; i++)
                ret[i] = ((ZfsSnapshot *) snaps[i]->data)->name;
}

static void set_created(ProviderSnapshot *const *snaps, size_t n, bool created) {
        for (size_t i = 0; i < n; i++)
                ((ZfsSnapshot *) snaps[i]->data)->created = created;
}

static vss_hr zfs_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        ZfsProvider *zp = (ZfsProvider *) self;
        char *names[VSS_MAX_VOLUMES_PER_SET] = {};
        _cleanup_free_ CommitJobs *jobs = NULL;
        vss_hr hr;
        int r;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;
        if (n > ELEMENTSOF(names))
                return E_INVALIDARG;
        set_names(snaps, n, names);

        /* One call per pool, all at once: nothing else happens meanwhile. */
        jobs = calloc(1, sizeof(*jobs));
        if (!jobs)
                return E_OUTOFMEMORY;
        (void) for_each_pool(names, n, collect_pool, jobs);
        r = commit_jobs_run(jobs);
        zp->last_skew_usec = 0;
        zp->last_window_usec = 0;
        if (jobs->n > 1) {
                uint64_t first_start = UINT64_MAX, last_start = 0, last_end = 0;

                for (size_t i = 0; i < jobs->n; i++) {
                        first_start = MIN(first_start, jobs->jobs[i].start_usec);
                        last_start = MAX(last_start, jobs->jobs[i].start_usec);
                        last_end = MAX(last_end, jobs->jobs[i].end_usec);
                }
                zp->last_skew_usec = last_start - first_start;
                zp->last_window_usec = last_end - first_start;
        }
        if (r != 0) {
                /* No partial commit: the pools that made theirs are undone. */
                for (size_t i = 0; i < jobs->n; i++)
                        if (jobs->jobs[i].result == 0)
                                (void) destroy_snapshots(jobs->jobs[i].names, jobs->jobs[i].n);
                provider_log(ZFS_PROVIDER_NAME, "snapshot failed: %s", strerror(r));
                return hr_from_zfs(r);
        }
        set_created(snaps, n, true);

        for (size_t i = 0; i < n; i++) {
                char *device = strdup(((ZfsSnapshot *) snaps[i]->data)->path);

                if (!device) {
                        (void) destroy_snapshots(names, n);
                        set_created(snaps, n, false);
                        for (size_t j = 0; j < n; j++)
                                snaps[j]->device = mfree_str(snaps[j]->device);
                        return E_OUTOFMEMORY;
                }
                free(snaps[i]->device);
                snaps[i]->device = device;
        }
        if (jobs->n > 1)
                provider_log(ZFS_PROVIDER_NAME,
                             "%zu pools snapshotted in parallel: calls started within %.3f ms, all done %.3f ms "
                             "after the first began",
                             jobs->n, (double) zp->last_skew_usec / (double) USEC_PER_MSEC,
                             (double) zp->last_window_usec / (double) USEC_PER_MSEC);
        return S_OK;
}

static vss_hr zfs_post_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, true);
}

/* One pool's snapshots held; cleanup_fd -1: the hold outlives vssd, as the persistent
 * snapshots it protects do. */
static int hold_pool(char *const *names, size_t n, void *userdata) {
        nvlist_t *holds = name_list(names, n, NAMES_HOLD), *errs = NULL;
        int r;

        if (!holds)
                return ENOMEM;
        r = lzc_hold(holds, -1, &errs);
        if (r != 0)
                log_errlist("could not hold", errs);
        nvlist_free(errs);
        nvlist_free(holds);
        return r;
}

/* After Thaw: hold every snapshot of the set against deletion by others while vssd serves it.
 * A failure aborts the set, which destroys the snapshots (releasing the holds made). */
static vss_hr zfs_pre_final_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        char *names[VSS_MAX_VOLUMES_PER_SET] = {};
        vss_hr hr;
        int r;

        hr = check_prepared(snaps, n, true);
        if (VSS_FAILED(hr) || n == 0)
                return hr;
        if (n > ELEMENTSOF(names))
                return E_INVALIDARG;
        set_names(snaps, n, names);

        r = for_each_pool(names, n, hold_pool, NULL);
        if (r != 0) {
                provider_log(ZFS_PROVIDER_NAME, "cannot hold the snapshots of the set: %s", strerror(r));
                return hr_from_zfs(r);
        }
        for (size_t i = 0; i < n; i++)
                ((ZfsSnapshot *) snaps[i]->data)->held = true;
        return S_OK;
}

static vss_hr zfs_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                ProviderSnapshot *s = snaps[i];
                ZfsSnapshot *z;

                if (!s || !s->data)
                        continue;
                z = s->data;
                if (z->created)
                        (void) destroy_snapshots(&z->name, 1);
                s->data = zfs_snapshot_free(z);
                s->device = mfree_str(s->device);
        }
        return S_OK;
}

/*
 * The snapshot name for s: from its data, or, for one known only from the catalog, from its
 * device path "<mnt>/.zfs/snapshot/vss-<id>" and the dataset mounted at <mnt>. Only names of
 * that exact form are ever produced: a damaged record must not name another snapshot.
 */
static vss_hr snapshot_name_of(const ProviderSnapshot *s, char **ret) {
        _cleanup_free_ char *mnt = NULL, *dataset = NULL;
        const ZfsSnapshot *z = s->data;
        const char *dir, *obj;
        vss_id id;
        vss_hr hr;

        if (z) {
                *ret = strdup(z->name);
                return *ret ? S_OK : E_OUTOFMEMORY;
        }
        if (isempty(s->device) || s->device[0] != '/')
                return E_INVALIDARG;
        dir = strstr(s->device, SNAPSHOT_DIR);
        if (!dir || strstr(dir + 1, SNAPSHOT_DIR))
                return E_INVALIDARG;
        obj = dir + strlen(SNAPSHOT_DIR);
        if (!provider_object_name_parse(obj, &id))
                return E_INVALIDARG;
        mnt = dir == s->device ? strdup("/") : strndup(s->device, (size_t) (dir - s->device));
        if (!mnt)
                return E_OUTOFMEMORY;

        hr = zfs_volume_resolve(mnt, NULL, &dataset, NULL);
        if (VSS_FAILED(hr))
                return hr;
        if (asprintf(ret, "%s@%s", dataset, obj) < 0)
                return E_OUTOFMEMORY;
        return S_OK;
}

static vss_hr zfs_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        _cleanup_free_ char *name = NULL;
        vss_hr hr;
        int r;

        if (!s)
                return E_INVALIDARG;
        if (s->data && !((ZfsSnapshot *) s->data)->created)
                return VSS_E_OBJECT_NOT_FOUND;

        hr = snapshot_name_of(s, &name);
        if (VSS_FAILED(hr))
                return hr;
        if (!lzc_exists(name)) {
                /* Destroyed behind our back: done with it all the same. */
                s->data = zfs_snapshot_free(s->data);
                return VSS_E_OBJECT_NOT_FOUND;
        }
        r = destroy_snapshots(&name, 1);
        if (r != 0)
                return hr_from_zfs(r);
        s->data = zfs_snapshot_free(s->data);
        return S_OK;
}

static vss_hr zfs_device_path(VssProvider *self, const ProviderSnapshot *s, char **ret_path) {
        const ZfsSnapshot *z = s ? s->data : NULL;
        char *p;

        if (!z || !ret_path)
                return E_INVALIDARG;
        p = strdup(z->path);
        if (!p)
                return E_OUTOFMEMORY;
        *ret_path = p;
        return S_OK;
}

/* The snapshot directory mounts itself on first access; the bind mount then copies that mount. */
static vss_hr zfs_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        _cleanup_close_ int fd = -EBADF;

        if (!s || isempty(s->device))
                return E_INVALIDARG;
        /* Opening it mounts it (stat would not: it never triggers an automount). */
        fd = open(s->device, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vss_hr_from_errno(errno);
        return provider_expose_bind(s, target_fd, target_path);
}

static vss_hr zfs_unexpose(VssProvider *self, const ProviderSnapshot *s, const char *target) {
        return provider_unexpose_umount(s, target);
}

/*
 * Every snapshot of dataset with its creation time (seconds since the epoch), read by a
 * read-only channel program: *ret holds snapshot name -> int64. Returns 0 or an errno.
 */
static int list_snapshots(const char *dataset, nvlist_t **ret) {
        static const char program[] =
                "local args = ...\n"
                "local out = {}\n"
                "for snap in zfs.list.snapshots(args[\"dataset\"]) do\n"
                "        out[snap] = zfs.get_prop(snap, \"creation\")\n"
                "end\n"
                "return out\n";
        nvlist_t *args = NULL, *out = NULL, *list = NULL;
        char pool[ZFS_MAX_DATASET_NAME_LEN];
        size_t pn = pool_len(dataset);
        int r;

        if (pn >= sizeof(pool))
                return ENAMETOOLONG;
        memcpy(pool, dataset, pn);
        pool[pn] = 0;

        if (nvlist_alloc(&args, NV_UNIQUE_NAME, 0) != 0 || nvlist_add_string(args, "dataset", dataset) != 0) {
                nvlist_free(args);
                return ENOMEM;
        }
        r = lzc_channel_program_nosync(pool, program, CP_INSTR_LIMIT, CP_MEM_LIMIT, args, &out);
        nvlist_free(args);
        if (r == 0 && nvlist_lookup_nvlist(out, ZCP_RET_RETURN, &list) == 0)
                r = nvlist_dup(list, ret, 0);
        else if (r == 0)
                r = EPROTO;
        nvlist_free(out);
        return r;
}

static vss_timestamp timestamp_from_seconds(int64_t seconds) {
        return seconds > 0 ? vss_timestamp_from_unix_ns(seconds * INT64_C(1000000000)) : 0;
}

static vss_hr zfs_query(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata) {
        _cleanup_free_ char *mnt = NULL, *dataset = NULL;
        nvlist_t *list = NULL;
        vss_hr hr = S_OK;
        size_t dn;
        int r;

        if (!cb)
                return E_INVALIDARG;
        hr = zfs_volume_resolve(volume, &mnt, &dataset, NULL);
        if (VSS_FAILED(hr))
                return hr;
        r = list_snapshots(dataset, &list);
        if (r != 0) {
                provider_log(ZFS_PROVIDER_NAME, "cannot list the snapshots of %s: %s", dataset, strerror(r));
                return hr_from_zfs(r);
        }

        dn = strlen(dataset);
        for (nvpair_t *p = nvlist_next_nvpair(list, NULL); p && VSS_SUCCEEDED(hr); p = nvlist_next_nvpair(list, p)) {
                _cleanup_free_ char *path = NULL, *name = NULL;
                const char *snap = nvpair_name(p);
                int64_t created = 0;
                vss_id id;

                /* Only "<this dataset>@vss-<id>": the one name vss-linux gives its snapshots. */
                if (strncmp(snap, dataset, dn) != 0 || snap[dn] != '@' || !provider_object_name_parse(snap + dn + 1, &id))
                        continue;
                (void) nvpair_value_int64(p, &created);
                hr = snapshot_names(mnt, dataset, &id, &path, &name);
                if (VSS_SUCCEEDED(hr))
                        hr = cb(&id, path, timestamp_from_seconds(created), userdata);
        }
        nvlist_free(list);
        return hr;
}

static vss_hr zfs_get_properties(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret) {
        _cleanup_free_ char *name = NULL, *dataset = NULL;
        nvlist_t *list = NULL;
        int64_t created = 0;
        vss_hr hr;
        int r;

        if (!s || !ret)
                return E_INVALIDARG;
        if (s->data && !((ZfsSnapshot *) s->data)->created) {
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        /* Fails (unknown, not missing) when the dataset is not mounted where it was. */
        hr = snapshot_name_of(s, &name);
        if (VSS_FAILED(hr))
                return hr;
        if (!lzc_exists(name)) {
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }

        dataset = strndup(name, strcspn(name, "@"));
        if (!dataset)
                return E_OUTOFMEMORY;
        r = list_snapshots(dataset, &list);
        if (r == 0)
                (void) nvlist_lookup_int64(list, name, &created);
        nvlist_free(list);

        /* ZFS keeps no size for a snapshot that a reader would call its size: reported unknown. */
        *ret = (ProviderSnapshotProperties) {
                .present = true,
                .creation_time = timestamp_from_seconds(created),
        };
        return S_OK;
}

static void zfs_free(VssProvider *self) {
        if (!self)
                return;
        libzfs_core_fini();
        free(self);
}

static const VssProvider zfs_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = ZFS_PROVIDER_NAME,
        .id = ZFS_PROVIDER_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = VSS_PROVIDER_ATOMIC_SET,
        .free = zfs_free,
        .is_volume_supported = zfs_is_volume_supported,
        .begin_prepare = zfs_begin_prepare,
        .end_prepare = zfs_end_prepare,
        .pre_commit = zfs_pre_commit,
        .commit = zfs_commit,
        .post_commit = zfs_post_commit,
        .pre_final_commit = zfs_pre_final_commit,
        .post_final_commit = zfs_post_commit,
        .abort = zfs_abort,
        .delete_snapshot = zfs_delete_snapshot,
        .device_path = zfs_device_path,
        .expose = zfs_expose,
        .unexpose = zfs_unexpose,
        .query = zfs_query,
        .get_properties = zfs_get_properties,
        .why_unsupported = zfs_why_unsupported,
};

vss_hr provider_zfs_new(const ProviderConfig *config, VssProvider **ret) {
        ZfsProvider *zp;
        int r;

        if (!ret)
                return E_INVALIDARG;
        /* Opens /dev/zfs: absent when the kernel has no ZFS, and then there is nothing to do. */
        r = libzfs_core_init();
        if (r != 0) {
                provider_log(ZFS_PROVIDER_NAME, "no ZFS in this kernel (/dev/zfs: %s)", strerror(r));
                return VSS_E_PROVIDER_NOT_REGISTERED;
        }
        zp = calloc(1, sizeof(*zp));
        if (!zp) {
                libzfs_core_fini();
                return E_OUTOFMEMORY;
        }
        zp->parent = zfs_provider;
        *ret = &zp->parent;
        return S_OK;
}

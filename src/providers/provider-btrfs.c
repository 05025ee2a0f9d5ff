/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-btrfs.c: the btrfs provider: read-only btrfs snapshots made with libbtrfsutil.
 *
 * A volume is a btrfs subvolume. Any path inside one resolves to the nearest enclosing
 * subvolume's root (so a path in a nested subvolume names the nested one, which is what a
 * btrfs snapshot can copy: snapshots never descend into nested subvolumes). The canonical
 * volume is that root's absolute path as mounted.
 *
 * Snapshots live in "<mount point>/.vss-snapshots/<snapshot id>", where the mount point is
 * the btrfs mount the volume is reached through (from /proc/self/mountinfo; subvolumes have
 * their own st_dev, so walking up by device would stop at the subvolume, not the mount).
 *
 * Nested subvolumes inside a volume are not part of its snapshot (btrfs never descends into
 * them); begin_prepare reports each one in the log rather than let them go missing silently.
 *
 * query needs no record of its own: btrfs keeps, in every snapshot's root item, the UUID of
 * the subvolume it was taken of (parent_uuid) and its creation time (otime). A volume's
 * snapshots are therefore exactly the read-only subvolumes of its mount's snapshot area named
 * like a snapshot id whose parent_uuid is the volume's UUID; sibling subvolumes of the same
 * mount share the area and are told apart by that UUID.
 *
 * btrfs commits a snapshot atomically per subvolume by itself, so this provider never
 * freezes anything. What it does do is flush the filesystem in end_prepare, before writers
 * freeze: a snapshot of a filesystem with dirty data must first write that data out, and
 * doing it here keeps that work out of the freeze window (baselines: 256 MiB dirty makes the
 * snapshot take 113 ms instead of 5 ms). Atomicity is per subvolume only, hence no
 * VSS_PROVIDER_ATOMIC_SET.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "macro.h"
#include "path-util.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

#define BTRFS_PROVIDER_NAME "btrfs"
#define BTRFS_PROVIDER_ID "5c0f6a0e-3b8d-4d2a-9f71-b7e2c4a90d13"
#define SNAPSHOT_AREA ".vss-snapshots"
#define SUBVOLUME_ROOT_INO 256 /* BTRFS_FIRST_FREE_OBJECTID: every subvolume's root directory */

typedef struct BtrfsSnapshot {
        char *path;     /* <area>/<snapshot id> */
        bool created;
        /* On the instance's list of live snapshot data (BtrfsProvider.live). */
        struct BtrfsSnapshot **prev_next, *next;
} BtrfsSnapshot;

/*
 * The instance: the ops table and every snapshot's ->data still held. A persistent snapshot
 * outlives the process, so its ->data is never handed back through abort or delete; the
 * instance frees what is left when vssd frees it.
 */
typedef struct BtrfsProvider {
        VssProvider ops;
        BtrfsSnapshot *live;
} BtrfsProvider;

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

static BtrfsSnapshot *btrfs_snapshot_free(BtrfsSnapshot *b) {
        if (!b)
                return NULL;
        if (b->prev_next) {
                *b->prev_next = b->next;
                if (b->next)
                        b->next->prev_next = b->prev_next;
        }
        free(b->path);
        free(b);
        return NULL;
}

/* ProviderSnapshot.data_free: whoever frees the snapshot frees this provider's data too. */
static void btrfs_snapshot_data_free(void *data) {
        btrfs_snapshot_free(data);
}

/* libbtrfsutil keeps errno from the failing call; "not btrfs" has no errno of its own. */
static vss_hr hr_from_btrfs(enum btrfs_util_error err) {
        if (err == BTRFS_UTIL_ERROR_NOT_BTRFS || err == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        if (err == BTRFS_UTIL_ERROR_NO_MEMORY)
                return E_OUTOFMEMORY;
        return vss_hr_from_errno(errno > 0 ? errno : EIO);
}

/* The mount point of the btrfs mount that path is reached through (provider-util.h). */
static int btrfs_mount_point(const char *path, char **ret) {
        MountEntry e = {};
        int r;

        r = mount_find(path, "btrfs", &e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e.mnt);
        mount_entry_done(&e);
        return 0;
}

static bool is_btrfs(const char *path) {
        struct statfs sfs;

        return statfs(path, &sfs) >= 0 && (uint32_t) sfs.f_type == (uint32_t) BTRFS_SUPER_MAGIC;
}

static vss_hr btrfs_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        _cleanup_free_ char *cur = NULL;
        struct statvfs svfs;
        struct stat st;
        dev_t dev;

        if (isempty(volume) || volume[0] != '/' || !ret_canonical)
                return E_INVALIDARG;

        cur = realpath(volume, NULL);
        if (!cur)
                return vss_hr_from_errno(errno);
        if (stat(cur, &st) < 0)
                return vss_hr_from_errno(errno);
        if (!S_ISDIR(st.st_mode)) {
                char *slash = strrchr(cur, '/');

                if (slash == cur)
                        slash[1] = 0;
                else
                        *slash = 0;
        }

        if (!is_btrfs(cur))
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        /* Snapshots are written next to the volume; a read-only mount cannot take them. */
        if (statvfs(cur, &svfs) < 0)
                return vss_hr_from_errno(errno);
        if (svfs.f_flag & ST_RDONLY)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;

        if (stat(cur, &st) < 0)
                return vss_hr_from_errno(errno);
        dev = st.st_dev;

        /* Every directory of one subvolume shares its st_dev; the root has inode 256. */
        for (;;) {
                enum btrfs_util_error err;
                char *slash;

                err = btrfs_util_is_subvolume(cur);
                if (err == BTRFS_UTIL_OK)
                        break;
                if (err != BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
                        return hr_from_btrfs(err);

                if (streq(cur, "/"))
                        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
                slash = strrchr(cur, '/');
                if (slash == cur)
                        slash[1] = 0;
                else
                        *slash = 0;

                /* Left the subvolume without meeting its root: a bind mount of a subdirectory. */
                if (stat(cur, &st) < 0)
                        return vss_hr_from_errno(errno);
                if (st.st_dev != dev)
                        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }

        *ret_canonical = TAKE_PTR(cur);
        return S_OK;
}

static char *btrfs_why_unsupported(VssProvider *self, const char *volume) {
        struct statvfs svfs;

        if (!is_btrfs(volume))
                return strdup("not btrfs");
        if (statvfs(volume, &svfs) == 0 && (svfs.f_flag & ST_RDONLY))
                return strdup("btrfs mounted read-only (snapshots are written next to the volume)");
        return strdup("a btrfs directory bind-mounted on its own, not a subvolume");
}

/* Creates the snapshot area if needed; refuses anything there that is not a plain directory. */
static vss_hr snapshot_area_ensure(const char *area) {
        struct stat st;

        if (mkdir(area, 0700) < 0 && errno != EEXIST)
                return vss_hr_from_errno(errno);
        if (lstat(area, &st) < 0)
                return vss_hr_from_errno(errno);
        if (!S_ISDIR(st.st_mode)) {
                provider_log(BTRFS_PROVIDER_NAME, "%s exists and is not a directory", area);
                return VSS_E_PROVIDER_VETO;
        }
        return S_OK;
}

/* At most this many nested subvolume names go into the report line; the count is always exact. */
#define NESTED_REPORT_NAMES 8

/*
 * A btrfs snapshot does not descend into nested subvolumes: their directories appear empty in
 * it. That is a silent data loss for whoever backs up the volume, so say which ones are left
 * out (adding them to the set snapshots them too). Our own snapshot area, which sits inside the
 * volume when the volume is the mount's root, is not user data and is not reported.
 * Returns the number of nested subvolumes found, or a negative errno if they cannot be listed.
 */
static int report_nested_subvolumes(const char *volume) {
        struct btrfs_util_subvolume_iterator *iter = NULL;
        enum btrfs_util_error err;
        char names[NESTED_REPORT_NAMES * 64] = "";
        size_t used = 0;
        int n = 0;

        err = btrfs_util_create_subvolume_iterator(volume, 0, 0, &iter);
        if (err != BTRFS_UTIL_OK)
                return -(errno > 0 ? errno : EIO);

        for (;;) {
                _cleanup_free_ char *rel = NULL;
                uint64_t id;

                err = btrfs_util_subvolume_iterator_next(iter, &rel, &id);
                if (err == BTRFS_UTIL_ERROR_STOP_ITERATION)
                        break;
                if (err != BTRFS_UTIL_OK) {
                        btrfs_util_destroy_subvolume_iterator(iter);
                        return -(errno > 0 ? errno : EIO);
                }
                if (path_is_under(rel, SNAPSHOT_AREA))
                        continue;
                if (n < NESTED_REPORT_NAMES && used < sizeof(names)) {
                        int k = snprintf(names + used, sizeof(names) - used, "%s%s", n ? ", " : "", rel);

                        if (k > 0)
                                used = MIN(used + (size_t) k, sizeof(names));
                }
                n++;
        }
        btrfs_util_destroy_subvolume_iterator(iter);

        if (n > 0)
                provider_log(BTRFS_PROVIDER_NAME,
                             "%s contains %d nested subvolume(s) its snapshot will NOT include: %s%s "
                             "(add them to the snapshot set to include them)",
                             volume, n, names, n > NESTED_REPORT_NAMES ? ", ..." : "");
        return n;
}

static vss_hr btrfs_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        _cleanup_free_ char *mnt = NULL, *area = NULL, *path = NULL;
        BtrfsSnapshot *b;
        enum btrfs_util_error err;
        struct stat st;
        vss_hr hr;
        int r;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        if (s->data)
                return VSS_E_BAD_STATE;

        err = btrfs_util_is_subvolume(s->volume);
        if (err != BTRFS_UTIL_OK)
                return hr_from_btrfs(err);

        r = btrfs_mount_point(s->volume, &mnt);
        if (r == -ENOENT)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        if (r < 0)
                return vss_hr_from_errno(r);

        if (asprintf(&area, "%s%s" SNAPSHOT_AREA, mnt, streq(mnt, "/") ? "" : "/") < 0)
                return E_OUTOFMEMORY;
        hr = snapshot_area_ensure(area);
        if (VSS_FAILED(hr))
                return hr;

        if (asprintf(&path, "%s/%s", area, vss_id_to_str(&s->snapshot_id).s) < 0)
                return E_OUTOFMEMORY;
        if (lstat(path, &st) >= 0) {
                provider_log(BTRFS_PROVIDER_NAME, "%s already exists, refusing to reuse it", path);
                return VSS_E_PROVIDER_VETO;
        }

        r = report_nested_subvolumes(s->volume);
        if (r < 0)
                provider_log(BTRFS_PROVIDER_NAME, "cannot list the subvolumes nested in %s: %s", s->volume,
                             strerror(-r));

        b = calloc(1, sizeof(*b));
        if (!b)
                return E_OUTOFMEMORY;
        b->path = TAKE_PTR(path);
        b->next = ((BtrfsProvider *) self)->live;
        if (b->next)
                b->next->prev_next = &b->next;
        b->prev_next = &((BtrfsProvider *) self)->live;
        *b->prev_next = b;
        s->data = b;
        s->data_free = btrfs_snapshot_data_free;
        return S_OK;
}

static vss_hr check_prepared(ProviderSnapshot *const *snaps, size_t n, bool want_created) {
        if (!snaps && n > 0)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++) {
                BtrfsSnapshot *b = snaps[i] ? snaps[i]->data : NULL;

                if (!b || b->created != want_created)
                        return VSS_E_BAD_STATE;
        }
        return S_OK;
}

static bool all_flagged(ProviderSnapshot *const *snaps, size_t n, uint32_t flag) {
        for (size_t i = 0; i < n; i++)
                if (!(snaps[i]->flags & flag))
                        return false;
        return true;
}

static vss_hr btrfs_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;

        /* Write dirty data out now, while writers still run, so the commit inside the freeze
         * window has almost nothing to flush. With no writer to freeze there is no window:
         * the snapshot ioctl flushes the subvolume's dirty data itself, and a syncfs first
         * only added a transaction commit of its own (2-3 ms measured even on a synced
         * volume). */
        if (all_flagged(snaps, n, VSS_PROVIDER_SNAPSHOT_NO_FREEZE))
                return S_OK;
        return provider_flush_volumes(BTRFS_PROVIDER_NAME, snaps, n);
}

static vss_hr btrfs_pre_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, false);
}

static void snapshot_remove(BtrfsSnapshot *b) {
        enum btrfs_util_error err;

        if (!b->created)
                return;
        err = btrfs_util_delete_subvolume(b->path, 0);
        if (err != BTRFS_UTIL_OK && errno != ENOENT)
                provider_log(BTRFS_PROVIDER_NAME, "could not delete %s: %s", b->path, btrfs_util_strerror(err));
        b->created = false;
}

static vss_hr btrfs_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;

        for (size_t i = 0; i < n; i++) {
                BtrfsSnapshot *b = snaps[i]->data;
                enum btrfs_util_error err;
                char *device;

                device = strdup(b->path);
                if (!device)
                        hr = E_OUTOFMEMORY;
                else {
                        err = btrfs_util_create_snapshot(snaps[i]->volume, b->path,
                                                         BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
                        if (err != BTRFS_UTIL_OK) {
                                hr = hr_from_btrfs(err);
                                free(device);
                        }
                }

                if (VSS_FAILED(hr)) {
                        /* No partial commit: undo the snapshots this call made. */
                        for (size_t j = 0; j < i; j++) {
                                snapshot_remove(snaps[j]->data);
                                snaps[j]->device = mfree_str(snaps[j]->device);
                        }
                        return hr;
                }

                b->created = true;
                free(snaps[i]->device);
                snaps[i]->device = device;
        }
        return S_OK;
}

static vss_hr btrfs_after_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, true);
}

static vss_hr btrfs_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                ProviderSnapshot *s = snaps[i];

                if (!s || !s->data)
                        continue;
                snapshot_remove(s->data);
                s->data = btrfs_snapshot_free(s->data);
                s->device = mfree_str(s->device);
        }
        return S_OK;
}

static vss_hr btrfs_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        enum btrfs_util_error err;
        const char *path;

        if (!s)
                return E_INVALIDARG;

        /* The device path is enough, so a snapshot known only from its record can go too. */
        path = s->device ?: (s->data ? ((BtrfsSnapshot *) s->data)->path : NULL);
        if (!path || (s->data && !((BtrfsSnapshot *) s->data)->created))
                return VSS_E_OBJECT_NOT_FOUND;

        err = btrfs_util_delete_subvolume(path, 0);
        if (err != BTRFS_UTIL_OK) {
                if (errno != ENOENT)
                        return hr_from_btrfs(err);
                /* Already deleted behind our back: done with it all the same. */
                s->data = btrfs_snapshot_free(s->data);
                return VSS_E_OBJECT_NOT_FOUND;
        }

        s->data = btrfs_snapshot_free(s->data);
        return S_OK;
}

static vss_timestamp timestamp_from_timespec(const struct timespec *ts) {
        return vss_timestamp_from_unix_ns((int64_t) ts->tv_sec * INT64_C(1000000000) + (int64_t) ts->tv_nsec);
}

/* query's filter: a read-only snapshot of the volume whose UUID is data. */
static int btrfs_area_match(int area_fd, const char *name, const char *path, const vss_id *id, void *data,
                            vss_timestamp *ret_created) {
        struct btrfs_util_subvolume_info info;
        enum btrfs_util_error err;
        struct stat st;
        bool ro = false;

        /* libbtrfsutil follows symlinks; a snapshot is a real directory, its subvolume's root. */
        if (fstatat(area_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode) || st.st_ino != SUBVOLUME_ROOT_INO)
                return 0;

        err = btrfs_util_subvolume_info(path, 0, &info);
        if (err == BTRFS_UTIL_ERROR_NOT_SUBVOLUME || err == BTRFS_UTIL_ERROR_NOT_BTRFS)
                return 0;
        if (err != BTRFS_UTIL_OK)
                return -(errno > 0 ? errno : EIO);
        if (memcmp(info.parent_uuid, data, sizeof(info.parent_uuid)) != 0)
                return 0;
        err = btrfs_util_get_subvolume_read_only(path, &ro);
        if (err != BTRFS_UTIL_OK)
                return -(errno > 0 ? errno : EIO);
        if (!ro) /* commit only ever makes read-only snapshots */
                return 0;

        *ret_created = timestamp_from_timespec(&info.otime);
        return 1;
}

static vss_hr btrfs_query(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata) {
        _cleanup_free_ char *mnt = NULL, *area = NULL;
        struct btrfs_util_subvolume_info info;
        enum btrfs_util_error err;
        int r;

        if (isempty(volume) || volume[0] != '/' || !cb)
                return E_INVALIDARG;

        /* The volume must still be the subvolume it was: its UUID is what the snapshots name. */
        err = btrfs_util_subvolume_info(volume, 0, &info);
        if (err != BTRFS_UTIL_OK)
                return hr_from_btrfs(err);

        r = btrfs_mount_point(volume, &mnt);
        if (r == -ENOENT)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        if (r < 0)
                return vss_hr_from_errno(r);
        if (asprintf(&area, "%s%s" SNAPSHOT_AREA, mnt, streq(mnt, "/") ? "" : "/") < 0)
                return E_OUTOFMEMORY;

        return provider_area_query(BTRFS_PROVIDER_NAME, area, NULL, btrfs_area_match, info.uuid, cb, userdata);
}

static vss_hr btrfs_get_properties(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret) {
        const BtrfsSnapshot *b = s ? s->data : NULL;
        struct btrfs_util_subvolume_info info;
        enum btrfs_util_error err;
        const char *path;
        struct stat st;
        vss_hr hr;

        if (!s || !ret)
                return E_INVALIDARG;
        path = s->device ?: (b ? b->path : NULL);
        if (isempty(path) || path[0] != '/')
                return E_INVALIDARG;
        if (b && !b->created) {
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }

        hr = provider_area_visible(path, (uint32_t) BTRFS_SUPER_MAGIC);
        if (VSS_FAILED(hr))
                return hr;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return vss_hr_from_errno(errno);
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        err = btrfs_util_subvolume_info(path, 0, &info);
        if (err == BTRFS_UTIL_ERROR_NOT_SUBVOLUME || err == BTRFS_UTIL_ERROR_NOT_BTRFS) {
                /* Something else took its name: the snapshot itself is gone. */
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        if (err != BTRFS_UTIL_OK)
                return hr_from_btrfs(err);

        /* btrfs keeps no per-snapshot size without quota groups: reported as unknown. */
        *ret = (ProviderSnapshotProperties) {
                .present = true,
                .creation_time = timestamp_from_timespec(&info.otime),
        };
        return S_OK;
}

static vss_hr btrfs_device_path(VssProvider *self, const ProviderSnapshot *s, char **ret_path) {
        const BtrfsSnapshot *b = s ? s->data : NULL;
        char *p;

        if (!b || !ret_path)
                return E_INVALIDARG;
        p = strdup(b->path);
        if (!p)
                return E_OUTOFMEMORY;
        *ret_path = p;
        return S_OK;
}

/* Snapshots are directories: exposed as read-only bind mounts (provider-util.h). */
static vss_hr btrfs_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        return provider_expose_bind(s, target_fd, target_path);
}

static vss_hr btrfs_unexpose(VssProvider *self, const ProviderSnapshot *s, const char *target) {
        return provider_unexpose_umount(s, target);
}

static void btrfs_free(VssProvider *self) {
        BtrfsProvider *p = (BtrfsProvider *) self;

        while (p->live)
                (void) btrfs_snapshot_free(p->live);
        free(p);
}

/* Besides the ops table, an instance keeps only the list of its snapshots' ->data. */
static const VssProvider btrfs_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = BTRFS_PROVIDER_NAME,
        .id = BTRFS_PROVIDER_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = 0,
        .free = btrfs_free,
        .is_volume_supported = btrfs_is_volume_supported,
        .begin_prepare = btrfs_begin_prepare,
        .end_prepare = btrfs_end_prepare,
        .pre_commit = btrfs_pre_commit,
        .commit = btrfs_commit,
        .post_commit = btrfs_after_commit,
        .pre_final_commit = btrfs_after_commit,
        .post_final_commit = btrfs_after_commit,
        .abort = btrfs_abort,
        .delete_snapshot = btrfs_delete_snapshot,
        .device_path = btrfs_device_path,
        .expose = btrfs_expose,
        .unexpose = btrfs_unexpose,
        .query = btrfs_query,
        .get_properties = btrfs_get_properties,
        .why_unsupported = btrfs_why_unsupported,
};

vss_hr provider_btrfs_new(const ProviderConfig *config, VssProvider **ret) {
        BtrfsProvider *p;

        if (!ret)
                return E_INVALIDARG;
        p = calloc(1, sizeof(*p));
        if (!p)
                return E_OUTOFMEMORY;
        p->ops = btrfs_provider;
        *ret = &p->ops;
        return S_OK;
}

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
 * writers' freeze. ZFS (2.1) refuses FIFREEZE (EOPNOTSUPP, checked in the lab), so for
 * datasets the guardian has nothing it could hold across the calls (zvols: below); the
 * writers' freeze is what holds the
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
 * Zvols: a volume is also an ext2/3/4 or XFS filesystem mounted (its root) from a whole zvol,
 * /dev/zdN (/dev/zvol/POOL/VOL is udev's link to it). Which zvol a device is, the kernel says
 * through the BLKZNAME ioctl on the device (what udev's zvol_id asks), so nothing depends on
 * udev having run. Its snapshot is "<pool/vol>@vss-<id>" like a dataset's, taken by the same
 * one lzc_snapshot per pool (a set with datasets and zvol filesystems of one pool is still one
 * atomic call). A ZFS snapshot of a zvol does not freeze the filesystem on top, so the
 * guardian (provider_hold_*, provider-util.h) holds FIFREEZE of every zvol filesystem of the
 * set, one deadline, around the lzc_snapshot calls, as the image provider holds its FICLONEs;
 * inside the hold nothing here logs, allocates a path or touches a filesystem: only the
 * ioctls on /dev/zfs. end_prepare starts the guardian and freezes and thaws them once, out of
 * the writers' window. A set of datasets only holds no freeze (none is possible on ZFS).
 *
 * The snapshot of a zvol becomes a read-only block device of its own when the zvol's snapdev
 * property is "visible": begin_prepare sets it when it is not (`zfs set`, the one property
 * libzfs_core cannot set; it stays set, and every snapshot of that zvol then has a device),
 * and pre_final_commit finds the snapshot's zdN device (by BLKZNAME again, over /sys/block)
 * and mounts it read-only at "<state dir>/zfs/<snapshot id>", the snapshot's device path
 * (ext4 "noload", XFS "norecovery,nouuid": the copy of a frozen filesystem is clean, and the
 * origin with the same UUID is mounted), through provider_mount_ro. delete_snapshot unmounts
 * it (lazily when a reader still has it open) before destroying the snapshot, which takes the
 * device away; expose mounts it again where a reboot left it unmounted. A snapshot known only
 * from the catalog is named from the zvol its volume is mounted from and the id in its path.
 */
#include <errno.h>
#include <pthread.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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
#include "time-util.h"

#define ZFS_PROVIDER_NAME "zfs"
#define ZFS_PROVIDER_ID "2f6c1a9e-8d43-4b7a-a5e0-3c9d71b6e804"
#define SNAPSHOT_DIR "/.zfs/snapshot/"
#define HOLD_TAG "vss"
/* Channel program limits: far above a listing of thousands of snapshots. */
#define CP_INSTR_LIMIT UINT64_C(10000000)
#define CP_MEM_LIMIT UINT64_C(10485760)
/* How long pre_final_commit waits for a zvol snapshot's device (ZFS makes it on a task queue
 * right after the snapshot: milliseconds; the bound is for a stuck queue). */
#define ZVOL_DEVICE_WAIT_MS 10000u

typedef struct ZfsProvider {
        VssProvider parent;
        char *mount_root;          /* <state dir>/zfs: where zvol snapshots are mounted */
        ProviderHold hold;         /* freezes zvol filesystems; unusable without the guardian */
        uint64_t last_skew_usec;   /* last multi-pool commit: spread of the calls' starts */
        uint64_t last_window_usec; /* and from the first start to the last return */
} ZfsProvider;

typedef struct ZfsSnapshot {
        char *dataset;  /* pool/fs, or pool/vol for a zvol */
        char *name;     /* <dataset>@vss-<id> */
        char *path;     /* dataset: <mount point>/.zfs/snapshot/vss-<id>; zvol: <mount root>/<id> */
        char *fstype;   /* zvol only: the filesystem on it (NULL for a dataset) */
        bool created;
        bool held;
        bool mounted;   /* zvol only: the snapshot is mounted at path */
} ZfsSnapshot;

/* The volume a path is in, as this provider sees it. */
typedef struct ZfsVolume {
        char *mnt;      /* the canonical volume: the mount point */
        char *dataset;  /* pool/fs, or the zvol pool/vol the filesystem is mounted from */
        char *fstype;   /* "zfs", or the filesystem on the zvol */
        bool zvol;
} ZfsVolume;

static void zfs_volume_done(ZfsVolume *v) {
        free(v->mnt);
        free(v->dataset);
        free(v->fstype);
        *v = (ZfsVolume) {};
}

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
        free(z->fstype);
        free(z);
        return NULL;
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

/* The filesystems a zvol volume may carry: those FIFREEZE holds and that mount cleanly
 * read-only from the copy of a frozen one. */
static bool zvol_fstype_supported(const char *fstype) {
        return streq(fstype, "ext4") || streq(fstype, "ext3") || streq(fstype, "ext2") || streq(fstype, "xfs");
}

/*
 * The ZFS name of the zvol or zvol snapshot whose device is /dev/<devname>: BLKZNAME, what
 * udev's zvol_id asks. expect_rdev non-zero: the device must be that one (a node swapped under
 * /dev is not believed). 0 with the name in ret (ZFS_MAX_DATASET_NAME_LEN), or -errno.
 */
static int zvol_name_of(const char *devname, dev_t expect_rdev, char ret[static ZFS_MAX_DATASET_NAME_LEN]) {
        _cleanup_close_ int fd = -EBADF;
        char path[64];
        struct stat st;

        if (snprintf(path, sizeof(path), "/dev/%s", devname) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode) || (expect_rdev != 0 && st.st_rdev != expect_rdev))
                return -ENODEV;
        memset(ret, 0, ZFS_MAX_DATASET_NAME_LEN);
        if (ioctl(fd, BLKZNAME, ret) < 0)
                return -errno;
        ret[ZFS_MAX_DATASET_NAME_LEN - 1] = 0;
        return isempty(ret) ? -ENODEV : 0;
}

/* The whole zvol the filesystem of mount e lives on: its name into ret. VSS_E_VOLUME_NOT_-
 * SUPPORTED_BY_PROVIDER with *ret_why when it is not on one. */
static vss_hr zvol_of_mount(const MountEntry *e, char ret[static ZFS_MAX_DATASET_NAME_LEN], const char **ret_why) {
        char sys[96], link[PATH_MAX];
        const char *base;
        struct stat st;
        ssize_t k;
        int r;

        if (stat(e->mnt, &st) < 0)
                return vss_hr_from_errno(errno);
        snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
        k = readlink(sys, link, sizeof(link) - 1);
        if (k < 0) {
                *ret_why = "not a ZFS dataset or zvol";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        link[k] = 0;
        base = strrchr(link, '/');
        base = base ? base + 1 : link;
        if (strncmp(base, "zd", 2) != 0) {
                *ret_why = "not a ZFS dataset or zvol";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        strncat(sys, "/partition", sizeof(sys) - strlen(sys) - 1);
        if (access(sys, F_OK) == 0) {
                *ret_why = "on a partition of a zvol (only a filesystem on a whole zvol is supported)";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (!zvol_fstype_supported(e->fstype)) {
                *ret_why = "on a zvol, but neither ext2/3/4 nor XFS (which can be frozen)";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (!streq(e->root, "/")) {
                *ret_why = "a bind mount of part of a filesystem on a zvol";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        r = zvol_name_of(base, st.st_dev, ret);
        if (r < 0) {
                provider_log(ZFS_PROVIDER_NAME, "cannot tell which zvol /dev/%s is: %s", base, strerror(-r));
                *ret_why = "on a zvol ZFS does not name";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (strchr(ret, '@')) {
                *ret_why = "a mounted zvol snapshot, already read-only";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        return S_OK;
}

/*
 * The volume path is in: a mounted ZFS filesystem dataset, or an ext2/3/4 or XFS filesystem
 * mounted from a whole zvol (*ret filled when ret is non-NULL; end it with zfs_volume_done).
 * VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, with a phrase in *ret_why when wanted, when it is
 * neither: not ZFS, a bind mount of a subdirectory, a mounted snapshot, a zvol partition.
 */
static vss_hr zfs_volume_resolve(const char *volume, ZfsVolume *ret, const char **ret_why) {
        _cleanup_(mount_entry_done) MountEntry e = {};
        _cleanup_free_ char *real = NULL;
        char zvol[ZFS_MAX_DATASET_NAME_LEN];
        const char *why = NULL;
        bool is_zvol = false;
        vss_hr hr;
        int r;

        if (isempty(volume) || volume[0] != '/')
                return E_INVALIDARG;
        real = realpath(volume, NULL);
        if (!real)
                return vss_hr_from_errno(errno);

        r = mount_find(real, NULL, &e);
        if (r < 0 && r != -ENOENT)
                return vss_hr_from_errno(r);
        if (r == -ENOENT)
                why = "not a ZFS dataset or zvol";
        else if (streq(e.fstype, "zfs")) {
                if (strchr(e.source, '@'))
                        why = "a mounted ZFS snapshot, already read-only";
                else if (!streq(e.root, "/"))
                        why = "a bind mount of part of a ZFS dataset";
        } else {
                hr = zvol_of_mount(&e, zvol, &why);
                if (VSS_FAILED(hr) && hr != VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                        return hr;
                is_zvol = VSS_SUCCEEDED(hr);
        }
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }

        if (ret) {
                *ret = (ZfsVolume) { .zvol = is_zvol };
                ret->mnt = TAKE_PTR(e.mnt);
                ret->fstype = TAKE_PTR(e.fstype);
                ret->dataset = is_zvol ? strdup(zvol) : TAKE_PTR(e.source);
                if (!ret->dataset) {
                        zfs_volume_done(ret);
                        return E_OUTOFMEMORY;
                }
        }
        return S_OK;
}

/* Zvol filesystems need the guardian's freeze: without one they are not this provider's. */
static vss_hr zfs_volume_check(ZfsProvider *zp, const char *volume, ZfsVolume *ret, const char **ret_why) {
        ZfsVolume v = {};
        vss_hr hr;

        hr = zfs_volume_resolve(volume, &v, ret_why);
        if (VSS_FAILED(hr))
                return hr;
        if (v.zvol && !provider_hold_usable(&zp->hold)) {
                zfs_volume_done(&v);
                if (ret_why)
                        *ret_why = "a filesystem on a zvol, which needs the freeze guardian (vss-guardian is missing)";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (ret)
                *ret = v;
        else
                zfs_volume_done(&v);
        return S_OK;
}

static vss_hr zfs_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        ZfsVolume v = {};
        vss_hr hr;

        if (!ret_canonical)
                return E_INVALIDARG;
        hr = zfs_volume_check((ZfsProvider *) self, volume, &v, NULL);
        if (VSS_FAILED(hr))
                return hr;
        *ret_canonical = TAKE_PTR(v.mnt);
        zfs_volume_done(&v);
        return S_OK;
}

static char *zfs_why_unsupported(VssProvider *self, const char *volume) {
        const char *why = NULL;
        vss_hr hr;

        hr = zfs_volume_check((ZfsProvider *) self, volume, NULL, &why);
        if (hr == VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER && why)
                return strdup(why);
        return strdup(VSS_SUCCEEDED(hr) ? "supported" : vss_hr_message(hr));
}

/* A dataset's snapshot path "<mnt>/.zfs/snapshot/vss-<id>", or a zvol's "<mount root>/<id>";
 * and the name "<dataset>@vss-<id>". */
static vss_hr snapshot_names(const ZfsProvider *zp, const ZfsVolume *v, const vss_id *id, char **ret_path,
                             char **ret_name) {
        char obj[PROVIDER_OBJECT_NAME_MAX];
        _cleanup_free_ char *path = NULL, *name = NULL;
        int k;

        provider_object_name(id, obj);
        if (v->zvol)
                k = asprintf(&path, "%s/%s", zp->mount_root, vss_id_to_str(id).s);
        else
                k = asprintf(&path, "%s" SNAPSHOT_DIR "%s", streq(v->mnt, "/") ? "" : v->mnt, obj);
        if (k < 0 || asprintf(&name, "%s@%s", v->dataset, obj) < 0)
                return E_OUTOFMEMORY;
        if (strlen(name) >= ZFS_MAX_DATASET_NAME_LEN)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        *ret_path = TAKE_PTR(path);
        *ret_name = TAKE_PTR(name);
        return S_OK;
}

/* Whether path is a zvol snapshot's mount directory: exactly "<mount root>/<id>" (its id in *ret). */
static bool zvol_snapshot_path(const ZfsProvider *zp, const char *path, vss_id *ret) {
        size_t n = strlen(zp->mount_root);

        return path && strncmp(path, zp->mount_root, n) == 0 && path[n] == '/' &&
               provider_snapshot_name_parse(path + n + 1, NULL, ret);
}

/*
 * The zvol's snapdev property (read by a read-only channel program, no fork): whether its
 * snapshots get block devices. 1 visible, 0 hidden, or -errno.
 */
static int zvol_snapdev_visible(const char *zvol) {
        static const char program[] =
                "local args = ...\n"
                "local value = zfs.get_prop(args[\"dataset\"], \"snapdev\")\n"
                "return value\n";
        nvlist_t *args = NULL, *out = NULL;
        char pool[ZFS_MAX_DATASET_NAME_LEN];
        size_t pn = pool_len(zvol);
        char *value = NULL;
        uint64_t number = 0;
        int r;

        if (pn >= sizeof(pool))
                return -ENAMETOOLONG;
        memcpy(pool, zvol, pn);
        pool[pn] = 0;
        if (nvlist_alloc(&args, NV_UNIQUE_NAME, 0) != 0 || nvlist_add_string(args, "dataset", zvol) != 0) {
                nvlist_free(args);
                return -ENOMEM;
        }
        r = lzc_channel_program_nosync(pool, program, CP_INSTR_LIMIT, CP_MEM_LIMIT, args, &out);
        nvlist_free(args);
        if (r == 0 && nvlist_lookup_string(out, ZCP_RET_RETURN, &value) == 0)
                r = streq(value, "visible") ? 1 : 0;
        else if (r == 0 && nvlist_lookup_uint64(out, ZCP_RET_RETURN, &number) == 0)
                r = number == 1 ? 1 : 0; /* ZFS_SNAPDEV_VISIBLE */
        else if (r == 0)
                r = -EPROTO;
        else
                r = -r;
        nvlist_free(out);
        return r;
}

/*
 * `zfs set snapdev=visible <zvol>`: libzfs_core has no call that sets a native property (a
 * channel program sets user properties only), and libzfs would bring the whole of ZFS's
 * administration library into vssd for this one line. Run once per zvol, in begin_prepare,
 * far from any freeze. 0, or -errno / -EIO when it failed.
 */
static int zvol_snapdev_set_visible(const char *zvol) {
        static const char *const exes[] = { "/usr/sbin/zfs", "/sbin/zfs" };
        char *argv[] = { (char *) "zfs", (char *) "set", (char *) "snapdev=visible", (char *) zvol, NULL };
        char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
        posix_spawn_file_actions_t fa;
        const char *exe = NULL;
        int r, status;
        pid_t pid;

        for (size_t i = 0; i < ELEMENTSOF(exes) && !exe; i++)
                if (access(exes[i], X_OK) == 0)
                        exe = exes[i];
        if (!exe)
                return -ENOENT;
        if (posix_spawn_file_actions_init(&fa) != 0)
                return -ENOMEM;
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawn(&pid, exe, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static vss_hr zvol_make_snapshots_visible(const char *zvol) {
        int r;

        r = zvol_snapdev_visible(zvol);
        if (r > 0)
                return S_OK;
        if (r < 0)
                provider_log(ZFS_PROVIDER_NAME, "cannot read the snapdev property of %s: %s; setting it", zvol,
                             strerror(-r));
        r = zvol_snapdev_set_visible(zvol);
        if (r < 0) {
                provider_log(ZFS_PROVIDER_NAME, "cannot set snapdev=visible on %s (its snapshots need a device "
                             "to be read): %s", zvol, strerror(-r));
                return VSS_E_PROVIDER_VETO;
        }
        provider_log(ZFS_PROVIDER_NAME, "set snapdev=visible on %s: its snapshots have block devices now", zvol);
        return S_OK;
}

static void zfs_snapshot_data_free(void *data) {
        zfs_snapshot_free(data);
}

static vss_hr zfs_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        ZfsProvider *zp = (ZfsProvider *) self;
        _cleanup_free_ char *path = NULL, *name = NULL;
        _cleanup_(zfs_volume_done) ZfsVolume v = {};
        ZfsSnapshot *z;
        vss_hr hr;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        if (s->data)
                return VSS_E_BAD_STATE;

        hr = zfs_volume_check(zp, s->volume, &v, NULL);
        if (VSS_FAILED(hr))
                return hr;
        hr = snapshot_names(zp, &v, &s->snapshot_id, &path, &name);
        if (VSS_FAILED(hr))
                return hr;
        if (lzc_exists(name)) {
                provider_log(ZFS_PROVIDER_NAME, "%s already exists, refusing to reuse it", name);
                return VSS_E_PROVIDER_VETO;
        }
        if (v.zvol) {
                hr = zvol_make_snapshots_visible(v.dataset);
                if (VSS_FAILED(hr))
                        return hr;
        }

        z = calloc(1, sizeof(*z));
        if (!z)
                return E_OUTOFMEMORY;
        z->dataset = TAKE_PTR(v.dataset);
        z->fstype = v.zvol ? TAKE_PTR(v.fstype) : NULL;
        z->name = TAKE_PTR(name);
        z->path = TAKE_PTR(path);
        s->data = z;
        s->data_free = zfs_snapshot_data_free;
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

/* The mount points of the set's zvol filesystems, the ones the hold freezes; how many. */
static size_t zvol_volumes(ProviderSnapshot *const *snaps, size_t n, char **ret) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (((ZfsSnapshot *) snaps[i]->data)->fstype)
                        ret[k++] = snaps[i]->volume;
        return k;
}

static vss_hr zfs_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        char *frozen[VSS_MAX_VOLUMES_PER_SET];
        size_t nz;
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;
        if (n > ELEMENTSOF(frozen))
                return E_INVALIDARG;
        /* Dirty data written now, while writers run, leaves little for the snapshot's sync. */
        hr = provider_flush_volumes(ZFS_PROVIDER_NAME, snaps, n);
        if (VSS_FAILED(hr))
                return hr;
        /* The guardian started, and the zvol filesystems' first-freeze work done, out of the
         * writers' window. */
        nz = zvol_volumes(snaps, n, frozen);
        return nz > 0 ? provider_hold_prepare(&((ZfsProvider *) self)->hold, frozen, nz) : S_OK;
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
        char *names[VSS_MAX_VOLUMES_PER_SET] = {}, *frozen[VSS_MAX_VOLUMES_PER_SET];
        _cleanup_free_ CommitJobs *jobs = NULL;
        vss_hr hr, thaw_hr = S_OK;
        size_t nz;
        int r;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;
        if (n > ELEMENTSOF(names))
                return E_INVALIDARG;
        set_names(snaps, n, names);

        /* One call per pool, all at once: nothing else happens meanwhile. With zvol
         * filesystems in the set, inside the guardian's freeze of them: between begin and end
         * only the snapshot ioctls run (no log, no allocation of a path, no file I/O). */
        jobs = calloc(1, sizeof(*jobs));
        if (!jobs)
                return E_OUTOFMEMORY;
        (void) for_each_pool(names, n, collect_pool, jobs);
        nz = zvol_volumes(snaps, n, frozen);
        if (nz > 0) {
                hr = provider_hold_begin(&zp->hold, frozen, nz);
                if (VSS_FAILED(hr)) {
                        provider_log(ZFS_PROVIDER_NAME, "freezing %zu zvol filesystem(s) failed: %s", nz,
                                     vss_hr_name(hr));
                        return hr;
                }
        }
        r = commit_jobs_run(jobs);
        if (nz > 0)
                thaw_hr = provider_hold_end(&zp->hold, r == 0);
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
        if (VSS_FAILED(thaw_hr)) {
                /* The zvol filesystems were not held to the end: not a point in time. */
                (void) destroy_snapshots(names, n);
                provider_log(ZFS_PROVIDER_NAME, "the hold of %zu zvol filesystem(s) broke: %s", nz,
                             vss_hr_name(thaw_hr));
                return thaw_hr;
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
        if (nz > 0)
                provider_log(ZFS_PROVIDER_NAME, "held %zu zvol filesystem(s) frozen for %.3f ms", nz,
                             (double) zp->hold.last_usec / (double) USEC_PER_MSEC);
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

/*
 * The /dev/zdN device of the zvol snapshot name, into ret (PATH_MAX): udev's /dev/zvol link
 * when there is one, else every zd device of /sys/block asked its name (BLKZNAME), so that no
 * udev is needed. 0, -ENOENT when there is none (yet), or -errno.
 */
static int zvol_device_find(const char *name, char ret[static PATH_MAX]) {
        _cleanup_free_ char *link = NULL, *real = NULL;
        char found[ZFS_MAX_DATASET_NAME_LEN];
        struct dirent *de;
        DIR *d;

        if (asprintf(&link, "/dev/zvol/%s", name) < 0)
                return -ENOMEM;
        real = realpath(link, NULL);
        if (real && strncmp(real, "/dev/zd", 7) == 0 && zvol_name_of(real + 5, 0, found) == 0 && streq(found, name)) {
                snprintf(ret, PATH_MAX, "%s", real);
                return 0;
        }

        d = opendir("/sys/block");
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "zd", 2) == 0 && zvol_name_of(de->d_name, 0, found) == 0 &&
                    streq(found, name)) {
                        snprintf(ret, PATH_MAX, "/dev/%s", de->d_name);
                        closedir(d);
                        return 0;
                }
        closedir(d);
        return -ENOENT;
}

/* As zvol_device_find, waiting up to ZVOL_DEVICE_WAIT_MS for ZFS to make the device. */
static int zvol_device_wait(const char *name, char ret[static PATH_MAX]) {
        for (unsigned waited = 0;; waited += 10) {
                int r = zvol_device_find(name, ret);

                if (r != -ENOENT || waited >= ZVOL_DEVICE_WAIT_MS)
                        return r;
                (void) usleep(10000);
        }
}

/* How a zvol snapshot's filesystem mounts: the copy of a frozen filesystem is clean, never
 * replay a journal; XFS also refuses a second mount of the same UUID without nouuid. */
static const char *zvol_mount_options(const char *fstype) {
        return streq(fstype, "xfs") ? "norecovery,nouuid" : "noload";
}

/* Mounts the zvol snapshot name (its filesystem fstype) read-only at dir (made if absent,
 * under the mount root) through provider_mount_ro. 0 or -errno; dir is removed on failure. */
static int zvol_snapshot_mount(const ZfsProvider *zp, const char *name, const char *fstype, const char *dir) {
        char dev[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = zvol_device_wait(name, dev);
        if (r < 0)
                return r;
        if (mkdir(zp->mount_root, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = path_open_nofollow(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = fd < 0 ? fd : provider_mount_ro(dev, streq(fstype, "xfs") ? "xfs" : "ext4", zvol_mount_options(fstype), fd, NULL);
        if (r < 0)
                (void) rmdir(dir);
        return r;
}

/* Takes the read-only mount at dir away (lazily when a reader still has it open: the snapshot
 * then stays busy until they go) and removes the directory. 0 or -errno. */
static int zvol_snapshot_umount(const char *dir) {
        int r;

        r = provider_umount_path(dir, false);
        if (r == -EBUSY)
                r = provider_umount_path(dir, true);
        if (r < 0 && r != -ENOENT)
                return r;
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static bool is_mount_point(const char *path) {
        _cleanup_(mount_entry_done) MountEntry e = {};

        return mount_find(path, NULL, &e) >= 0 && streq(e.mnt, path);
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

        /* Each zvol snapshot readable at its device path. */
        for (size_t i = 0; i < n; i++) {
                ZfsSnapshot *z = snaps[i]->data;

                if (!z->fstype || z->mounted)
                        continue;
                r = zvol_snapshot_mount((ZfsProvider *) self, z->name, z->fstype, z->path);
                if (r < 0) {
                        provider_log(ZFS_PROVIDER_NAME, "cannot mount %s at %s: %s", z->name, z->path, strerror(-r));
                        return VSS_E_PROVIDER_VETO;
                }
                z->mounted = true;
        }
        return S_OK;
}

static vss_hr zfs_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                ProviderSnapshot *s = snaps[i];
                ZfsSnapshot *z;

                if (!s || !s->data)
                        continue;
                z = s->data;
                if (z->mounted)
                        (void) zvol_snapshot_umount(z->path);
                if (z->created)
                        (void) destroy_snapshots(&z->name, 1);
                s->data = zfs_snapshot_free(z);
                s->device = mfree_str(s->device);
        }
        return S_OK;
}

/*
 * The snapshot name for s: from its data, or, for one known only from the catalog, from its
 * device path and volume: a dataset's "<mnt>/.zfs/snapshot/vss-<id>" with the dataset mounted
 * at <mnt>, a zvol's "<mount root>/<id>" with the zvol s->volume is mounted from. Only names
 * of that exact form are ever produced: a damaged record must not name another snapshot.
 */
static vss_hr snapshot_name_of(const ZfsProvider *zp, const ProviderSnapshot *s, char **ret) {
        _cleanup_(zfs_volume_done) ZfsVolume v = {};
        _cleanup_free_ char *mnt = NULL;
        const ZfsSnapshot *z = s->data;
        char obj[PROVIDER_OBJECT_NAME_MAX];
        const char *dir;
        vss_id id;
        vss_hr hr;

        if (z) {
                *ret = strdup(z->name);
                return *ret ? S_OK : E_OUTOFMEMORY;
        }
        if (isempty(s->device) || s->device[0] != '/')
                return E_INVALIDARG;

        if (zvol_snapshot_path(zp, s->device, &id)) {
                if (isempty(s->volume))
                        return E_INVALIDARG;
                hr = zfs_volume_resolve(s->volume, &v, NULL);
                if (VSS_FAILED(hr))
                        return hr;
                if (!v.zvol)
                        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
                provider_object_name(&id, obj);
        } else {
                dir = strstr(s->device, SNAPSHOT_DIR);
                if (!dir || strstr(dir + 1, SNAPSHOT_DIR))
                        return E_INVALIDARG;
                if (!provider_object_name_parse(dir + strlen(SNAPSHOT_DIR), &id))
                        return E_INVALIDARG;
                snprintf(obj, sizeof(obj), "%s", dir + strlen(SNAPSHOT_DIR));
                mnt = dir == s->device ? strdup("/") : strndup(s->device, (size_t) (dir - s->device));
                if (!mnt)
                        return E_OUTOFMEMORY;
                hr = zfs_volume_resolve(mnt, &v, NULL);
                if (VSS_FAILED(hr))
                        return hr;
                if (v.zvol)
                        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (asprintf(ret, "%s@%s", v.dataset, obj) < 0)
                return E_OUTOFMEMORY;
        return S_OK;
}

static vss_hr zfs_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        ZfsProvider *zp = (ZfsProvider *) self;
        _cleanup_free_ char *name = NULL;
        ZfsSnapshot *z;
        vss_hr hr;
        vss_id id;
        int r;

        if (!s)
                return E_INVALIDARG;
        z = s->data;
        if (z && !z->created)
                return VSS_E_OBJECT_NOT_FOUND;

        hr = snapshot_name_of(zp, s, &name);
        if (VSS_FAILED(hr))
                return hr;
        /* A zvol snapshot's mount goes first: a mounted device keeps the snapshot busy. */
        if ((z && z->mounted) || (!z && zvol_snapshot_path(zp, s->device, &id))) {
                const char *dir = z ? z->path : s->device;

                r = zvol_snapshot_umount(dir);
                if (r < 0) {
                        provider_log(ZFS_PROVIDER_NAME, "cannot unmount %s: %s", dir, strerror(-r));
                        return vss_hr_from_errno(r);
                }
                if (z)
                        z->mounted = false;
        }
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

/* A zvol snapshot mounted at its device path, mounting it when it is not (after a reboot). */
static vss_hr zvol_snapshot_ensure_mounted(const ZfsProvider *zp, const ProviderSnapshot *s) {
        _cleanup_(zfs_volume_done) ZfsVolume v = {};
        _cleanup_free_ char *name = NULL;
        const ZfsSnapshot *z = s->data;
        const char *fstype;
        vss_hr hr;
        int r;

        if (is_mount_point(s->device))
                return S_OK;
        hr = snapshot_name_of(zp, s, &name);
        if (VSS_FAILED(hr))
                return hr;
        if (!lzc_exists(name))
                return VSS_E_OBJECT_NOT_FOUND;
        fstype = z ? z->fstype : NULL;
        if (!fstype) {
                /* Known from the catalog only: the origin's filesystem is the copy's. */
                hr = zfs_volume_resolve(s->volume, &v, NULL);
                if (VSS_FAILED(hr))
                        return hr;
                fstype = v.fstype;
        }
        r = zvol_snapshot_mount(zp, name, fstype, s->device);
        if (r < 0) {
                provider_log(ZFS_PROVIDER_NAME, "cannot mount %s at %s: %s", name, s->device, strerror(-r));
                return vss_hr_from_errno(r);
        }
        return S_OK;
}

/* A dataset's snapshot directory mounts itself on first access, a zvol's snapshot is mounted
 * at its device path; the bind mount then copies that mount. */
static vss_hr zfs_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        const ZfsProvider *zp = (const ZfsProvider *) self;
        _cleanup_close_ int fd = -EBADF;
        vss_id id;

        if (!s || isempty(s->device))
                return E_INVALIDARG;
        if (zvol_snapshot_path(zp, s->device, &id)) {
                vss_hr hr = zvol_snapshot_ensure_mounted(zp, s);

                return VSS_FAILED(hr) ? hr : provider_expose_bind(s, target_fd, target_path);
        }
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
        ZfsProvider *zp = (ZfsProvider *) self;
        _cleanup_(zfs_volume_done) ZfsVolume v = {};
        const char *dataset;
        nvlist_t *list = NULL;
        vss_hr hr = S_OK;
        size_t dn;
        int r;

        if (!cb)
                return E_INVALIDARG;
        hr = zfs_volume_resolve(volume, &v, NULL);
        if (VSS_FAILED(hr))
                return hr;
        dataset = v.dataset;
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
                hr = snapshot_names(zp, &v, &id, &path, &name);
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
        /* Fails (unknown, not missing) when the volume is not mounted where it was. */
        hr = snapshot_name_of((ZfsProvider *) self, s, &name);
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
        ZfsProvider *zp = (ZfsProvider *) self;

        if (!zp)
                return;
        provider_hold_done(&zp->hold);
        free(zp->mount_root);
        libzfs_core_fini();
        free(zp);
}

static const VssProvider zfs_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = ZFS_PROVIDER_NAME,
        .id = ZFS_PROVIDER_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = VSS_PROVIDER_NEEDS_HOLD | VSS_PROVIDER_ATOMIC_SET, /* the hold: zvol filesystems only */
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
        vss_hr hr;
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
        if (asprintf(&zp->mount_root, "%s/zfs", config && config->state_dir ? config->state_dir : "/var/lib/vss") < 0) {
                zp->mount_root = NULL;
                zfs_free(&zp->parent);
                return E_OUTOFMEMORY;
        }
        /* Without the guardian, datasets still work; zvol filesystems are then refused. */
        hr = provider_hold_init(&zp->hold, ZFS_PROVIDER_NAME, config);
        if (hr == VSS_E_PROVIDER_NOT_REGISTERED)
                provider_log(ZFS_PROVIDER_NAME, "filesystems on zvols are not supported without the guardian");
        else if (VSS_FAILED(hr)) {
                zfs_free(&zp->parent);
                return hr;
        }
        *ret = &zp->parent;
        return S_OK;
}

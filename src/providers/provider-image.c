/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-image.c: the image provider: point-in-time copies of loop-mounted filesystem
 * images, made with FICLONE inside one freeze of every volume of the set (VSS's
 * flush-and-hold, for real).
 *
 * A volume is any freezable filesystem (ext2/3/4, XFS, btrfs) mounted (its root, not a
 * subdirectory) from a whole loop device whose backing file lives on a reflink-capable
 * filesystem (XFS or btrfs). The canonical volume is the mount point; the loop device is the
 * mount's source in /proc/self/mountinfo, its backing file comes from
 * /sys/block/loopN/loop/backing_file.
 *
 * A snapshot is a reflink clone of the image, "<dir of image>/.vss-snapshots/<snapshot id>.img"
 * (same filesystem as the image, so the clone shares its blocks and costs almost nothing).
 * commit receives every snapshot of this provider in the set at once and does, in this order:
 * open every image and create every clone file; freeze all volumes together through the
 * guardian (one hold: the set is one point in time across volumes); FICLONE each image; thaw;
 * only then check, fsync, measure and log. While the volumes are frozen nothing here writes
 * to them, logs, allocates a path or forks: the hold lasts a few FICLONE calls. The freeze is
 * held by vss-guardian, never by vssd (a freezer that dies leaves the filesystem frozen; the
 * guardian thaws at its deadline or when vssd dies), started on first use in end_prepare, so
 * its fork+exec stays out of the writers' freeze window. end_prepare also flushes and freezes
 * and thaws every volume once (prefreeze), so the journal checkpoint a first FIFREEZE does is
 * not paid inside the hold.
 *
 * Each clone carries its origin in an extended attribute, user.vss.origin = the image's path
 * (the loop device's backing file, as the kernel names it), set when commit creates the clone
 * file, before the hold. That is what query goes by: images of several volumes often share
 * one directory and so one snapshot area, and neither the clone's name (the snapshot id) nor
 * its contents say which image it came from. A clone without the attribute (or whose image was
 * moved since) is never listed: query lists only what it can prove is the volume's.
 *
 * A frozen ext4/XFS is clean on disk, so the clone mounts read-only without journal replay
 * (image_clone_mount_ro). The image's host filesystem must not itself be a volume of the set:
 * FICLONE into a frozen filesystem would block until the thaw, which waits for FICLONE.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "guardian-client.h"
#include "macro.h"
#include "providers/provider-image.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

#define IMAGE_PROVIDER_NAME "image"
#define IMAGE_PROVIDER_ID "933ab730-6d9a-41c7-8d8b-2445850a23ef"
#define SNAPSHOT_AREA ".vss-snapshots"
#define CLONE_SUFFIX ".img"
#define ORIGIN_XATTR "user.vss.origin"

typedef struct ImageSnapshot {
        char *image;        /* the backing file of the volume's loop device */
        char *clone;        /* <dir of image>/.vss-snapshots/<snapshot id>.img */
        char *fstype;       /* the volume's filesystem, for mounting the clone */
        char *source;       /* the volume's loop device, /dev/loopN */
        char *host_source;  /* the device the image's own filesystem is mounted from */
        bool file_made;     /* commit created the clone file (abort removes it) */
        bool created;       /* the clone holds the point in time */
} ImageSnapshot;


/* One instance (provider.h): its configuration and the guardian it holds freezes through. */
typedef struct ImageProvider {
        VssProvider parent;
        ProviderHold hold;           /* the guardian, its path and the hold's deadline */
} ImageProvider;

static ImageProvider *image_of(VssProvider *self) {
        return (ImageProvider *) self;
}


static ImageSnapshot *image_snapshot_free(ImageSnapshot *d) {
        if (!d)
                return NULL;
        free(d->image);
        free(d->clone);
        free(d->fstype);
        free(d->source);
        free(d->host_source);
        free(d);
        return NULL;
}

/* ProviderSnapshot.data_free: whoever frees the snapshot frees this provider's data too. */
static void image_snapshot_data_free(void *data) {
        image_snapshot_free(data);
}

uint64_t provider_image_last_hold_usec(VssProvider *self) {
        return self ? image_of(self)->hold.last_usec : 0;
}

/* Reads a small sysfs attribute, without its trailing newline. */
static int read_attr(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        ssize_t k;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = read(fd, buf, size - 1);
        if (k < 0)
                return -errno;
        if ((size_t) k == size - 1)
                return -ENAMETOOLONG;
        buf[k] = 0;
        if (k > 0 && buf[k - 1] == '\n')
                buf[k - 1] = 0;
        return 0;
}

/* "/dev/loopN" -> "loopN"; NULL for anything else (partitions, other devices). */
static const char *loop_name(const char *source) {
        const char *name;

        if (strncmp(source, "/dev/loop", strlen("/dev/loop")) != 0)
                return NULL;
        name = source + strlen("/dev/");
        if (!name[4])
                return NULL;
        for (const char *p = name + 4; *p; p++)
                if (*p < '0' || *p > '9')
                        return NULL;
        return name;
}

static bool fstype_freezable(const char *fstype) {
        return streq(fstype, "ext4") || streq(fstype, "ext3") || streq(fstype, "ext2") || streq(fstype, "xfs") ||
               streq(fstype, "btrfs");
}

/*
 * The backing file of loop device name, when the whole file backs it (no offset, no size
 * limit: the clone must be exactly the filesystem). -ENOENT when detached or deleted,
 * -EOPNOTSUPP when only part of the file is used.
 */
static int loop_backing_file(const char *name, char **ret) {
        char path[PATH_MAX + 32], attr[PATH_MAX + 16];
        static const char deleted[] = " (deleted)";
        size_t len;
        int r;

        (void) snprintf(path, sizeof(path), "/sys/block/%s/loop/offset", name);
        r = read_attr(path, attr, sizeof(attr));
        if (r < 0)
                return r;
        if (!streq(attr, "0"))
                return -EOPNOTSUPP;
        (void) snprintf(path, sizeof(path), "/sys/block/%s/loop/sizelimit", name);
        r = read_attr(path, attr, sizeof(attr));
        if (r < 0)
                return r;
        if (!streq(attr, "0"))
                return -EOPNOTSUPP;

        (void) snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
        r = read_attr(path, attr, sizeof(attr));
        if (r < 0)
                return r;
        len = strlen(attr);
        if (attr[0] != '/' || (len >= strlen(deleted) && streq(attr + len - strlen(deleted), deleted)))
                return -ENOENT;

        *ret = strdup(attr);
        return *ret ? 0 : -ENOMEM;
}

/* Sets *ret_why (when wanted) to a phrase built like printf; always returns the refusal. */
static vss_hr refuse(char **ret_why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static vss_hr refuse(char **ret_why, const char *fmt, ...) {
        va_list ap;

        if (ret_why) {
                va_start(ap, fmt);
                if (vasprintf(ret_why, fmt, ap) < 0)
                        *ret_why = NULL;
                va_end(ap);
        }
        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
}

/*
 * Resolves volume to its mount (ret) and backing image (ret_image), or says why not ours:
 * VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER with *ret_why (if ret_why; malloc'd, NULL when out of
 * memory) naming what is missing.
 */
static vss_hr image_volume_resolve(const char *volume, MountEntry *ret, char **ret_image, char **ret_why) {
        _cleanup_free_ char *real = NULL, *image = NULL;
        _cleanup_(mount_entry_done) MountEntry e = {};
        struct statfs sfs;
        struct stat st;
        const char *name;
        int r;

        if (isempty(volume) || volume[0] != '/')
                return E_INVALIDARG;

        real = realpath(volume, NULL);
        if (!real)
                return vss_hr_from_errno(errno);

        r = mount_find(real, NULL, &e);
        if (r == -ENOENT)
                return refuse(ret_why, "not mounted");
        if (r < 0)
                return vss_hr_from_errno(r);

        name = loop_name(e.source);
        if (!name)
                return refuse(ret_why, "not on a loop device");
        if (!fstype_freezable(e.fstype))
                return refuse(ret_why, "%s on a loop device cannot be frozen (needs ext2/3/4, XFS or btrfs)",
                              e.fstype);
        if (!streq(e.root, "/"))
                return refuse(ret_why, "a bind mount of part of a loop-mounted filesystem");

        r = loop_backing_file(name, &image);
        if (r == -ENOMEM)
                return E_OUTOFMEMORY;
        if (r == -EOPNOTSUPP)
                return refuse(ret_why, "%s maps only part of its file", e.source);
        if (r < 0 || stat(image, &st) < 0 || !S_ISREG(st.st_mode) || statfs(image, &sfs) < 0)
                return refuse(ret_why, "the image behind %s is gone or not a regular file", e.source);
        /* Clones must share blocks with the image: only a reflink filesystem can make them. */
        if ((uint32_t) sfs.f_type != (uint32_t) XFS_SUPER_MAGIC && (uint32_t) sfs.f_type != (uint32_t) BTRFS_SUPER_MAGIC)
                return refuse(ret_why, "image %s is on a filesystem that cannot share blocks (needs XFS or btrfs)",
                              image);

        *ret = e;
        e = (MountEntry) {};
        *ret_image = TAKE_PTR(image);
        return S_OK;
}

static vss_hr image_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        _cleanup_free_ char *image = NULL;
        MountEntry e = {};
        vss_hr hr;

        if (!ret_canonical)
                return E_INVALIDARG;

        hr = image_volume_resolve(volume, &e, &image, NULL);
        if (VSS_FAILED(hr))
                return hr;

        *ret_canonical = TAKE_PTR(e.mnt);
        mount_entry_done(&e);
        return S_OK;
}

static char *image_why_unsupported(VssProvider *self, const char *volume) {
        _cleanup_(mount_entry_done) MountEntry e = {};
        _cleanup_free_ char *image = NULL;
        char *why = NULL;
        vss_hr hr;

        hr = image_volume_resolve(volume, &e, &image, &why);
        if (hr == VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                return why;
        free(why);
        if (VSS_SUCCEEDED(hr))
                return strdup("supported");
        return strdup(vss_hr_message(hr));
}

/* Creates the snapshot area if needed; refuses anything there that is not a plain directory. */
static vss_hr snapshot_area_ensure(const char *area) {
        struct stat st;

        if (mkdir(area, 0700) < 0 && errno != EEXIST) {
                if (errno == EROFS) {
                        provider_log(IMAGE_PROVIDER_NAME, "cannot keep clones in %s: read-only filesystem", area);
                        return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
                }
                return vss_hr_from_errno(errno);
        }
        if (lstat(area, &st) < 0)
                return vss_hr_from_errno(errno);
        if (!S_ISDIR(st.st_mode)) {
                provider_log(IMAGE_PROVIDER_NAME, "%s exists and is not a directory", area);
                return VSS_E_PROVIDER_VETO;
        }
        return S_OK;
}

static vss_hr hr_from_clone_errno(int e) {
        /* EXDEV/EINVAL/EOPNOTSUPP/ENOTTY: no reflink here (or not across these files). */
        if (e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        return vss_hr_from_errno(e);
}

/*
 * Can the area's filesystem reflink the image? Clones one block of it into an unnamed
 * O_TMPFILE (gone at close, so a crash leaves nothing): an XFS made with reflink=0 says no
 * here rather than inside the hold.
 */
static vss_hr reflink_probe(const char *area, const char *image) {
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        struct file_clone_range range = {};
        struct stat st;

        src = open(image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src < 0 || fstat(src, &st) < 0)
                return vss_hr_from_errno(errno);
        dst = open(area, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (dst < 0)
                return hr_from_clone_errno(errno);

        range.src_fd = src;
        range.src_length = st.st_size >= st.st_blksize ? (uint64_t) st.st_blksize : 0; /* 0: to EOF */
        if (ioctl(dst, FICLONERANGE, &range) < 0) {
                int e = errno;

                if (hr_from_clone_errno(e) == VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                        provider_log(IMAGE_PROVIDER_NAME, "%s cannot be reflinked into %s: %s", image, area,
                                     strerror(e));
                return hr_from_clone_errno(e);
        }
        return S_OK;
}

static vss_hr image_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        _cleanup_free_ char *image = NULL, *dir = NULL, *area = NULL, *clone = NULL;
        _cleanup_(mount_entry_done) MountEntry e = {}, host = {};
        ImageSnapshot *d;
        struct stat st;
        char *slash;
        vss_hr hr;
        int r;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        if (s->data)
                return VSS_E_BAD_STATE;

        hr = image_volume_resolve(s->volume, &e, &image, NULL);
        if (VSS_FAILED(hr))
                return hr;
        r = mount_find(image, NULL, &host);
        if (r < 0)
                return vss_hr_from_errno(r);

        dir = strdup(image);
        if (!dir)
                return E_OUTOFMEMORY;
        slash = strrchr(dir, '/');
        slash[slash == dir ? 1 : 0] = 0;

        if (asprintf(&area, "%s%s" SNAPSHOT_AREA, dir, streq(dir, "/") ? "" : "/") < 0)
                return E_OUTOFMEMORY;
        hr = snapshot_area_ensure(area);
        if (VSS_FAILED(hr))
                return hr;
        hr = reflink_probe(area, image);
        if (VSS_FAILED(hr))
                return hr;

        if (asprintf(&clone, "%s/%s" CLONE_SUFFIX, area, vss_id_to_str(&s->snapshot_id).s) < 0)
                return E_OUTOFMEMORY;
        if (lstat(clone, &st) >= 0) {
                provider_log(IMAGE_PROVIDER_NAME, "%s already exists, refusing to reuse it", clone);
                return VSS_E_PROVIDER_VETO;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return E_OUTOFMEMORY;
        d->image = TAKE_PTR(image);
        d->clone = TAKE_PTR(clone);
        d->fstype = TAKE_PTR(e.fstype);
        d->source = TAKE_PTR(e.source);
        d->host_source = TAKE_PTR(host.source);
        s->data = d;
        s->data_free = image_snapshot_data_free;
        return S_OK;
}

static vss_hr check_prepared(ProviderSnapshot *const *snaps, size_t n, bool want_created) {
        if (!snaps && n > 0)
                return E_INVALIDARG;
        if (n > GUARDIAN_MAX_PATHS) /* vssd's own set limit is the same; never reached */
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++) {
                ImageSnapshot *d = snaps[i] ? snaps[i]->data : NULL;

                if (!d || d->created != want_created)
                        return VSS_E_BAD_STATE;
        }
        return S_OK;
}

static vss_hr image_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;

        /* FICLONE into a filesystem frozen by this same hold would wait for the thaw forever. */
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                        ImageSnapshot *di = snaps[i]->data, *dj = snaps[j]->data;

                        if (streq(di->host_source, dj->source)) {
                                provider_log(IMAGE_PROVIDER_NAME, "the image of %s lives on %s, also in this set",
                                             snaps[i]->volume, snaps[j]->volume);
                                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
                        }
                }

        /* Write dirty data out now, while writers still run, so FIFREEZE has little to flush. */
        hr = provider_flush_volumes(IMAGE_PROVIDER_NAME, snaps, n);
        if (VSS_FAILED(hr))
                return hr;

        {
                char *volumes[GUARDIAN_MAX_PATHS];

                for (size_t i = 0; i < n; i++)
                        volumes[i] = snaps[i]->volume;
                return provider_hold_prepare(&image_of(self)->hold, volumes, n);
        }
}

static vss_hr image_pre_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, false);
}

static void clone_remove(ImageSnapshot *d) {
        if (d->file_made && unlink(d->clone) < 0 && errno != ENOENT)
                provider_log(IMAGE_PROVIDER_NAME, "could not delete %s: %s", d->clone, strerror(errno));
        d->file_made = false;
        d->created = false;
}

/* Per commit: the open files, made before the freeze so the hold does only FICLONEs. */
typedef struct CommitFiles {
        int src[GUARDIAN_MAX_PATHS];
        int dst[GUARDIAN_MAX_PATHS];
        char *volumes[GUARDIAN_MAX_PATHS];
        size_t n;
} CommitFiles;

static void commit_files_close(CommitFiles *f) {
        for (size_t i = 0; i < f->n; i++) {
                if (f->src[i] >= 0)
                        (void) close(f->src[i]);
                if (f->dst[i] >= 0)
                        (void) close(f->dst[i]);
        }
        f->n = 0;
}

static vss_hr commit_files_open(ProviderSnapshot *const *snaps, size_t n, CommitFiles *f) {
        for (size_t i = 0; i < n; i++) {
                ImageSnapshot *d = snaps[i]->data;

                f->volumes[i] = snaps[i]->volume;
                f->src[i] = open(d->image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                f->dst[i] = f->src[i] < 0 ? -EBADF
                                          : open(d->clone, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                f->n = i + 1;
                if (f->src[i] < 0 || f->dst[i] < 0) {
                        int e = errno;

                        provider_log(IMAGE_PROVIDER_NAME, "cannot open %s or create %s: %s", d->image, d->clone,
                                     strerror(e));
                        return e == EEXIST ? VSS_E_PROVIDER_VETO : vss_hr_from_errno(e);
                }
                d->file_made = true;

                /* Which image this is a clone of, for query. Without it the clone is still a
                 * good snapshot (its catalog row names it), only one query will not list. */
                if (fsetxattr(f->dst[i], ORIGIN_XATTR, d->image, strlen(d->image), 0) < 0)
                        provider_log(IMAGE_PROVIDER_NAME, "cannot record the origin of %s: %s", d->clone,
                                     strerror(errno));
        }
        return S_OK;
}

/* Removes whatever this commit made; the snapshots go back to "prepared". */
static void commit_undo(ProviderSnapshot *const *snaps, size_t n, CommitFiles *f) {
        commit_files_close(f);
        for (size_t i = 0; i < n; i++)
                clone_remove(snaps[i]->data);
}

static vss_hr image_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        ImageProvider *ip = image_of(self);
        CommitFiles f = {};
        vss_hr hr, thaw_hr;
        int clone_errno = 0;
        size_t failed_at = 0;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;
        if (n == 0)
                return S_OK;

        hr = commit_files_open(snaps, n, &f);
        if (VSS_FAILED(hr)) {
                commit_undo(snaps, n, &f);
                return hr;
        }

        /* The hold: freeze all, clone all, thaw. Nothing else in between (but the test-only
         * delay, 0 in production). */
        hr = provider_hold_begin(&ip->hold, f.volumes, n);
        if (VSS_FAILED(hr)) {
                commit_undo(snaps, n, &f);
                provider_log(IMAGE_PROVIDER_NAME, "freezing %zu volume(s) failed: %s", n, vss_hr_name(hr));
                return hr;
        }
        for (size_t i = 0; i < n && clone_errno == 0; i++)
                if (ioctl(f.dst[i], FICLONE, f.src[i]) < 0) {
                        clone_errno = errno;
                        failed_at = i;
                }
        thaw_hr = provider_hold_end(&ip->hold, clone_errno == 0);

        if (clone_errno != 0 || VSS_FAILED(thaw_hr)) {
                hr = clone_errno != 0 ? hr_from_clone_errno(clone_errno) : thaw_hr;
                if (clone_errno != 0)
                        provider_log(IMAGE_PROVIDER_NAME, "cloning %s failed: %s", f.volumes[failed_at],
                                     strerror(clone_errno));
                else
                        provider_log(IMAGE_PROVIDER_NAME, "the hold of %zu volume(s) broke: %s", n,
                                     vss_hr_name(thaw_hr));
                commit_undo(snaps, n, &f);
                return hr;
        }

        /* Thawed: now make the clones durable, which may take a while. */
        for (size_t i = 0; i < n; i++)
                if (fsync(f.dst[i]) < 0) {
                        int e = errno;

                        provider_log(IMAGE_PROVIDER_NAME, "cannot persist the clone of %s: %s", f.volumes[i],
                                     strerror(e));
                        commit_undo(snaps, n, &f);
                        return vss_hr_from_errno(e);
                }

        for (size_t i = 0; i < n; i++) {
                ImageSnapshot *d = snaps[i]->data;
                char *device = strdup(d->clone);

                if (!device) {
                        commit_undo(snaps, n, &f);
                        for (size_t j = 0; j < i; j++) {
                                free(snaps[j]->device);
                                snaps[j]->device = NULL;
                        }
                        return E_OUTOFMEMORY;
                }
                free(snaps[i]->device);
                snaps[i]->device = device;
                d->created = true;
        }
        commit_files_close(&f);

        provider_log(IMAGE_PROVIDER_NAME, "held %zu volume(s) frozen for %.3f ms", n,
                     (double) ip->hold.last_usec / (double) USEC_PER_MSEC);
        return S_OK;
}

static vss_hr image_after_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, true);
}

static vss_hr image_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                ProviderSnapshot *s = snaps[i];

                if (!s || !s->data)
                        continue;
                clone_remove(s->data);
                s->data = image_snapshot_free(s->data);
                free(s->device);
                s->device = NULL;
        }
        return S_OK;
}

/* Only ever delete "<...>/.vss-snapshots/<name>.img": a damaged record must not name any file. */
static bool clone_path_valid(const char *path) {
        const char *slash = strrchr(path, '/'), *name;
        size_t dirlen;

        if (!slash || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./"))
                return false;
        name = slash + 1;
        if (strlen(name) <= strlen(CLONE_SUFFIX) || !streq(name + strlen(name) - strlen(CLONE_SUFFIX), CLONE_SUFFIX))
                return false;
        dirlen = (size_t) (slash - path);
        return dirlen > strlen(SNAPSHOT_AREA) &&
               strncmp(slash - strlen(SNAPSHOT_AREA) - 1, "/" SNAPSHOT_AREA, strlen(SNAPSHOT_AREA) + 1) == 0;
}

static vss_hr image_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        ImageSnapshot *d;
        const char *path;

        if (!s)
                return E_INVALIDARG;
        d = s->data;
        if (d && !d->created)
                return VSS_E_OBJECT_NOT_FOUND;

        /* The device path is enough, so a snapshot known only from its record can go too. */
        path = s->device ?: (d ? d->clone : NULL);
        if (!path)
                return VSS_E_OBJECT_NOT_FOUND;
        if (!clone_path_valid(path))
                return E_INVALIDARG;

        if (unlink(path) < 0) {
                if (errno != ENOENT)
                        return vss_hr_from_errno(errno);
                /* Already removed behind our back: done with it all the same. */
                s->data = image_snapshot_free(d);
                return VSS_E_OBJECT_NOT_FOUND;
        }

        s->data = image_snapshot_free(d);
        return S_OK;
}

static vss_hr image_device_path(VssProvider *self, const ProviderSnapshot *s, char **ret_path) {
        const ImageSnapshot *d = s ? s->data : NULL;
        char *p;

        if (!d || !ret_path)
                return E_INVALIDARG;
        p = strdup(d->clone);
        if (!p)
                return E_OUTOFMEMORY;
        *ret_path = p;
        return S_OK;
}

/* query's filter: a regular file whose origin attribute names the image data. */
static int image_area_match(int area_fd, const char *name, const char *path, const vss_id *id, void *data,
                            vss_timestamp *ret_created) {
        const char *image = data;
        _cleanup_close_ int fd = -EBADF;
        char origin[PATH_MAX];
        struct stat st;
        ssize_t n;
        int r;

        fd = openat(area_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP || errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0;

        n = fgetxattr(fd, ORIGIN_XATTR, origin, sizeof(origin) - 1);
        if (n < 0)
                return errno == ENODATA || errno == ERANGE || errno == EOPNOTSUPP ? 0 : -errno;
        origin[n] = 0;
        if (!streq(origin, image))
                return 0;

        r = provider_birth_time(area_fd, name, ret_created);
        return r < 0 ? r : 1;
}

static vss_hr image_query(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata) {
        _cleanup_free_ char *image = NULL, *area = NULL;
        _cleanup_(mount_entry_done) MountEntry e = {};
        const char *slash;
        vss_hr hr;

        if (!cb)
                return E_INVALIDARG;
        hr = image_volume_resolve(volume, &e, &image, NULL);
        if (VSS_FAILED(hr))
                return hr;

        slash = strrchr(image, '/');
        if (asprintf(&area, "%.*s/" SNAPSHOT_AREA, (int) (slash - image), image) < 0)
                return E_OUTOFMEMORY;
        return provider_area_query(IMAGE_PROVIDER_NAME, area, CLONE_SUFFIX, image_area_match, image, cb, userdata);
}

static vss_hr image_get_properties(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret) {
        const ImageSnapshot *d = s ? s->data : NULL;
        vss_timestamp created = 0;
        const char *path;
        struct stat st;
        vss_hr hr;

        if (!s || !ret)
                return E_INVALIDARG;
        path = s->device ?: (d ? d->clone : NULL);
        if (!path || !clone_path_valid(path))
                return E_INVALIDARG;
        if (d && !d->created) {
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }

        hr = provider_area_visible(path, 0);
        if (VSS_FAILED(hr))
                return hr;
        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return vss_hr_from_errno(errno);
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        if (!S_ISREG(st.st_mode)) { /* something else took its name: the clone is gone */
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        (void) provider_birth_time(AT_FDCWD, path, &created);

        *ret = (ProviderSnapshotProperties) {
                .present = true,
                .creation_time = created,
                .size = (uint64_t) st.st_size,
        };
        return S_OK;
}

/* Attaches file read-only to a free loop device that detaches itself when unused. */
static int loop_attach_ro(const char *file, char **ret_path, int *ret_fd) {
        _cleanup_close_ int control = -EBADF, file_fd = -EBADF;

        control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (control < 0)
                return -errno;
        file_fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (file_fd < 0)
                return -errno;

        for (unsigned attempt = 0; attempt < 64; attempt++) {
                struct loop_config config = {
                        .fd = (uint32_t) file_fd,
                        .info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY,
                };
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;
                int nr;

                nr = ioctl(control, LOOP_CTL_GET_FREE);
                if (nr < 0)
                        return -errno;
                if (asprintf(&path, "/dev/loop%d", nr) < 0)
                        return -ENOMEM;
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT) { /* devtmpfs adds the node a moment after allocation */
                                (void) nanosleep(&(struct timespec) { .tv_nsec = 10000000L }, NULL);
                                continue;
                        }
                        return -errno;
                }
                if (ioctl(fd, LOOP_CONFIGURE, &config) < 0) {
                        if (errno == EBUSY) /* another process took it since GET_FREE */
                                continue;
                        return -errno;
                }
                *ret_path = TAKE_PTR(path);
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        return -EBUSY;
}

/*
 * How each filesystem's clone is mounted: never replaying a journal or log (the clone of a
 * frozen filesystem is clean, and the device is read-only anyway), and for XFS without the
 * UUID check, since the original with the same UUID is mounted.
 */
static const struct {
        const char *fstype;
        const char *driver;
        const char *options;  /* comma-separated key[=value] */
} clone_mount_table[] = {
        { "ext4",  "ext4",  "noload" },
        { "ext3",  "ext4",  "noload" },
        { "ext2",  "ext4",  "noload" },
        { "xfs",   "xfs",   "norecovery,nouuid" },
        { "btrfs", "btrfs", "rescue=nologreplay" },
};

/* Applies "ro" and the comma-separated options to an fsopen() context. */
/* Mounts dev as fstype with the clone's options, through provider_mount_ro (read-only,
 * nosuid, nodev, noexec, noatime, attached exactly on target_fd). */
static int mount_clone(const char *dev, const char *fstype, int target_fd) {
        const char *driver = NULL, *options = NULL;

        for (size_t i = 0; i < ELEMENTSOF(clone_mount_table); i++)
                if (streq(fstype, clone_mount_table[i].fstype)) {
                        driver = clone_mount_table[i].driver;
                        options = clone_mount_table[i].options;
                }
        if (!driver)
                return -EOPNOTSUPP;
        return provider_mount_ro(dev, driver, options, target_fd, NULL);
}

static int clone_mount_at(const char *clone, const char *fstype, int target_fd) {
        static const char *const guesses[] = { "ext4", "xfs", "btrfs" };
        _cleanup_free_ char *dev = NULL;
        _cleanup_close_ int loop_fd = -EBADF;
        int r;

        if (isempty(clone) || target_fd < 0)
                return -EINVAL;

        r = loop_attach_ro(clone, &dev, &loop_fd);
        if (r < 0)
                return r;

        /* Closing loop_fd on return detaches the device, unless the mount now holds it. */
        if (fstype)
                return mount_clone(dev, fstype, target_fd);
        for (size_t i = 0; i < ELEMENTSOF(guesses); i++) {
                r = mount_clone(dev, guesses[i], target_fd);
                if (r == 0)
                        return 0;
        }
        return r;
}

int image_clone_mount_ro(const char *clone, const char *fstype, const char *where) {
        _cleanup_close_ int fd = -EBADF;

        fd = path_open_nofollow(where, O_PATH | O_DIRECTORY);
        if (fd < 0)
                return fd;
        return clone_mount_at(clone, fstype, fd);
}

int image_clone_umount(const char *where) {
        return provider_umount_path(where, false);
}

static vss_hr image_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        const ImageSnapshot *d;
        int r;

        if (!s || isempty(s->device) || target_fd < 0 || isempty(target_path))
                return E_INVALIDARG;
        d = s->data;

        r = clone_mount_at(s->device, d ? d->fstype : NULL, target_fd);
        return r < 0 ? vss_hr_from_errno(r) : S_OK;
}

/* target is the located mount vssd passes (provider-util.h); the loop device detaches itself. */
static vss_hr image_unexpose(VssProvider *self, const ProviderSnapshot *s, const char *target) {
        return provider_unexpose_umount(s, target);
}

static void image_free(VssProvider *self) {
        ImageProvider *ip = image_of(self);

        if (!ip)
                return;
        provider_hold_done(&ip->hold);
        free(ip);
}

static const VssProvider image_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = IMAGE_PROVIDER_NAME,
        .id = IMAGE_PROVIDER_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = VSS_PROVIDER_NEEDS_HOLD | VSS_PROVIDER_ATOMIC_SET,
        .free = image_free,
        .is_volume_supported = image_is_volume_supported,
        .begin_prepare = image_begin_prepare,
        .end_prepare = image_end_prepare,
        .pre_commit = image_pre_commit,
        .commit = image_commit,
        .post_commit = image_after_commit,
        .pre_final_commit = image_after_commit,
        .post_final_commit = image_after_commit,
        .abort = image_abort,
        .delete_snapshot = image_delete_snapshot,
        .device_path = image_device_path,
        .expose = image_expose,
        .unexpose = image_unexpose,
        .query = image_query,
        .get_properties = image_get_properties,
        .why_unsupported = image_why_unsupported,
};

vss_hr provider_image_new(const ProviderConfig *config, VssProvider **ret) {
        ImageProvider *ip;
        vss_hr hr;

        if (!ret)
                return E_INVALIDARG;
        ip = calloc(1, sizeof(*ip));
        if (!ip)
                return E_OUTOFMEMORY;
        ip->parent = image_provider;
        hr = provider_hold_init(&ip->hold, IMAGE_PROVIDER_NAME, config);
        if (VSS_FAILED(hr)) {
                image_free(&ip->parent);
                return hr;
        }
        *ret = &ip->parent;
        return S_OK;
}

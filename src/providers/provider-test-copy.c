/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-test-copy.c: a test-only provider (VSS_PROVIDER_TEST_ONLY) that "snapshots" a
 * directory by copying it, so the whole backup sequence can be exercised in unit and
 * integration tests without root, btrfs or loop devices. vssd registers it only when started
 * with its test provider enabled; it is never a fallback for real volumes.
 *
 * Volumes: any existing directory; the canonical volume is its realpath().
 *
 * Snapshots: commit copies the tree (regular files with their mode, directories, symlinks;
 * other file types are skipped) into "<state_dir>/test-copy/<snapshot id>/", state_dir
 * coming from init's ProviderConfig. The copy is bounded: a tree of more than 10000 entries,
 * more than 64 MiB of file data or deeper than 128 levels is refused with
 * VSS_E_INSUFFICIENT_STORAGE and nothing is left behind. The copy never follows symlinks and
 * skips the copy area itself should it lie inside the volume. Next to each finished copy, a
 * hidden ".<snapshot id>.origin" holds the canonical path of the volume it was copied from
 * (written once the copy is complete): that is how query tells the copies of one volume from
 * those of another, all in the same area; a copy without it is never listed. abort and
 * delete_snapshot remove both. device_path names the copy from begin_prepare on; expose
 * bind-mounts it read-only (root only, like any mount).
 *
 * Fault injection: if the volume directory holds a file named ".vss-test-provider", each of
 * its lines of the form
 *
 *         PHASE=0xHRESULT
 *
 * makes that phase return that code for that volume, for example
 *
 *         end_prepare=0x80042306        (VSS_E_PROVIDER_VETO)
 *         commit=0x80004005             (E_FAIL)
 *
 * PHASE is one of is_volume_supported, begin_prepare, end_prepare, pre_commit, commit,
 * post_commit, pre_final_commit, post_final_commit, delete_snapshot. The code is returned
 * exactly as written, NOT sanitized: it is vssd's job to pass it through
 * provider_hr_sanitize(), so a test injecting E_FAIL must see
 * VSS_E_UNEXPECTED_PROVIDER_ERROR come out of DoSnapshotSet. A set-wide phase (end_prepare
 * and later) fails if any volume of the set injects a fault for it; the injected phase does
 * no work. Other lines are ignored; the file is read at each phase (at most 64 lines), so a
 * test may change it between calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

#define TEST_COPY_NAME "test-copy"
#define TEST_COPY_ID "9e1d7a40-5b2c-4f3e-8a6d-0c4b3a2f1e5d"
#define FAULT_FILE ".vss-test-provider"
#define FAULT_MAX_LINES 64
#define ORIGIN_SUFFIX ".origin"

#define COPY_MAX_ENTRIES 10000U
#define COPY_MAX_BYTES (UINT64_C(64) * 1024 * 1024)
#define COPY_MAX_DEPTH 128U

typedef struct TestCopySnapshot {
        char *dest;     /* <state_dir>/test-copy/<snapshot id> */
        bool created;
} TestCopySnapshot;

typedef struct CopyBudget {
        unsigned entries;
        uint64_t bytes;
        dev_t skip_dev;  /* the copy area, never copied into itself */
        ino_t skip_ino;
} CopyBudget;

/* One instance (provider.h): where its copies go. */
typedef struct TestCopyProvider {
        VssProvider parent;
        char *copy_area; /* <state_dir>/test-copy */
} TestCopyProvider;

static const char *area_of(VssProvider *self) {
        return ((TestCopyProvider *) self)->copy_area;
}

static TestCopySnapshot *test_copy_snapshot_free(TestCopySnapshot *t) {
        if (!t)
                return NULL;
        free(t->dest);
        free(t);
        return NULL;
}

/* ProviderSnapshot.data_free: whoever frees the snapshot frees this provider's data too. */
static void test_copy_snapshot_data_free(void *data) {
        test_copy_snapshot_free(data);
}

/* The injected code for phase on volume, S_OK if none. Read errors mean "no fault". */
static vss_hr fault_for(const char *volume, const char *phase) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        size_t size = 0, plen = strlen(phase);
        vss_hr hr = S_OK;
        FILE *f;

        if (!volume || asprintf(&path, "%s/" FAULT_FILE, volume) < 0)
                return S_OK;
        f = fopen(path, "re");
        if (!f)
                return S_OK;

        for (unsigned n = 0; n < FAULT_MAX_LINES && getline(&line, &size, f) > 0; n++) {
                unsigned long v;
                char *end;

                if (strncmp(line, phase, plen) != 0 || strncmp(line + plen, "=0x", 3) != 0)
                        continue;
                errno = 0;
                v = strtoul(line + plen + 3, &end, 16);
                if (errno != 0 || end == line + plen + 3 || v > UINT32_MAX || (*end && *end != '\n'))
                        continue;
                hr = VSS_HRESULT(v);
                break;
        }
        fclose(f);
        return hr;
}

static vss_hr fault_for_set(ProviderSnapshot *const *snaps, size_t n, const char *phase) {
        for (size_t i = 0; i < n; i++) {
                vss_hr hr = fault_for(snaps[i]->volume, phase);

                if (hr != S_OK)
                        return hr;
        }
        return S_OK;
}

/* Removes everything below dirfd (not dirfd itself), staying on its filesystem. */
static int rm_children(int dirfd, dev_t dev, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (depth > COPY_MAX_DEPTH)
                return -ELOOP;

        fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);

        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;

                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = -EBADF;

                        if (st.st_dev != dev)
                                continue;
                        sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                int k = rm_children(sub, dev, depth + 1);

                                if (k < 0 && r == 0)
                                        r = k;
                        }
                        if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (unlinkat(dirfd, de->d_name, 0) < 0 && r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

/* rm -rf path, without following symlinks or leaving the filesystem. ENOENT is reported. */
static int rm_rf(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        r = rm_children(fd, st.st_dev, 0);
        if (rmdir(path) < 0 && r == 0)
                r = -errno;
        return r;
}

/* A snapshot is a faithful point-in-time copy: times too, so backups that select by time see
 * the copy as they would see the volume. */
static int copy_times(int fd, const struct stat *st) {
        const struct timespec times[2] = { st->st_atim, st->st_mtim };

        return futimens(fd, times) < 0 ? -errno : 0;
}

static int copy_file(int src_dirfd, int dst_dirfd, const char *name, const struct stat *st, CopyBudget *b) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        char buf[64 * 1024];

        in = openat(src_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
                return -errno;
        out = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777);
        if (out < 0)
                return -errno;

        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                /* The file may grow while we copy: the budget counts what is really copied. */
                b->bytes += (uint64_t) n;
                if (b->bytes > COPY_MAX_BYTES)
                        return -EFBIG;
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = write(out, buf + done, (size_t) (n - done));

                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        done += w;
                }
        }
        return copy_times(out, st);
}

static int copy_tree(int src_dirfd, int dst_dirfd, CopyBudget *b, unsigned depth);

static int copy_entry(int src_dirfd, int dst_dirfd, const char *name, CopyBudget *b, unsigned depth) {
        struct stat st;

        if (fstatat(src_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno; /* deleted while we walk: not in the copy */

        if (S_ISDIR(st.st_mode) && st.st_dev == b->skip_dev && st.st_ino == b->skip_ino)
                return 0;
        if (++b->entries > COPY_MAX_ENTRIES)
                return -EFBIG;

        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int s = -EBADF, d = -EBADF;
                int r;

                if (depth >= COPY_MAX_DEPTH)
                        return -EFBIG;
                if (mkdirat(dst_dirfd, name, 0700) < 0)
                        return -errno;
                s = openat(src_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0)
                        return -errno;
                d = openat(dst_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (d < 0)
                        return -errno;
                r = copy_tree(s, d, b, depth + 1);
                if (r < 0)
                        return r;
                if (fchmod(d, st.st_mode & 07777) < 0)
                        return -errno;
                return copy_times(d, &st); /* last: filling the directory moved its mtime */
        }

        if (S_ISREG(st.st_mode))
                return copy_file(src_dirfd, dst_dirfd, name, &st, b);

        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n;

                n = readlinkat(src_dirfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                if (symlinkat(target, dst_dirfd, name) < 0)
                        return -errno;
                if (utimensat(dst_dirfd, name, (const struct timespec[2]) { st.st_atim, st.st_mtim },
                              AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                return 0;
        }

        return 0; /* devices, fifos, sockets: not data a backup of a test tree needs */
}

static int copy_tree(int src_dirfd, int dst_dirfd, CopyBudget *b, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        DIR *d;
        int r = 0;

        fd = fcntl(src_dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);

        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = copy_entry(src_dirfd, dst_dirfd, de->d_name, b, depth);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

/* Copies volume into dest (which must not exist); on failure nothing is left at dest. */
static vss_hr copy_volume(const char *copy_area, const char *volume, const char *dest) {
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        CopyBudget b = {};
        struct stat st;
        int r;

        if (stat(copy_area, &st) < 0)
                return vss_hr_from_errno(errno);
        b.skip_dev = st.st_dev;
        b.skip_ino = st.st_ino;

        src = open(volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return vss_hr_from_errno(errno);
        if (fstat(src, &st) < 0)
                return vss_hr_from_errno(errno);
        if (mkdir(dest, 0700) < 0)
                return vss_hr_from_errno(errno);
        dst = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dst < 0)
                r = -errno;
        else
                r = copy_tree(src, dst, &b, 0);
        if (r >= 0 && fchmod(dst, st.st_mode & 07777) < 0)
                r = -errno;
        if (r >= 0)
                r = copy_times(dst, &st);

        if (r < 0) {
                (void) rm_rf(dest);
                if (r == -EFBIG) {
                        provider_log(TEST_COPY_NAME, "%s is larger than a test copy may be (%u entries, %llu bytes)",
                                     volume, COPY_MAX_ENTRIES, (unsigned long long) COPY_MAX_BYTES);
                        return VSS_E_INSUFFICIENT_STORAGE;
                }
                return vss_hr_from_errno(r);
        }
        return S_OK;
}

static vss_hr test_copy_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        _cleanup_free_ char *canonical = NULL;
        struct stat st;
        vss_hr hr;

        if (isempty(volume) || volume[0] != '/' || !ret_canonical)
                return E_INVALIDARG;

        canonical = realpath(volume, NULL);
        if (!canonical)
                return vss_hr_from_errno(errno);
        if (stat(canonical, &st) < 0)
                return vss_hr_from_errno(errno);
        if (!S_ISDIR(st.st_mode))
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;

        hr = fault_for(canonical, "is_volume_supported");
        if (hr != S_OK)
                return hr;

        *ret_canonical = TAKE_PTR(canonical);
        return S_OK;
}

static vss_hr test_copy_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        const char *copy_area = area_of(self);
        TestCopySnapshot *t;
        char *dest;
        vss_hr hr;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        hr = fault_for(s->volume, "begin_prepare");
        if (hr != S_OK)
                return hr;
        if (!copy_area || s->data)
                return VSS_E_BAD_STATE;

        if (mkdir(copy_area, 0700) < 0 && errno != EEXIST)
                return vss_hr_from_errno(errno);

        if (asprintf(&dest, "%s/%s", copy_area, vss_id_to_str(&s->snapshot_id).s) < 0)
                return E_OUTOFMEMORY;
        t = calloc(1, sizeof(*t));
        if (!t) {
                free(dest);
                return E_OUTOFMEMORY;
        }
        t->dest = dest;
        s->data = t;
        s->data_free = test_copy_snapshot_data_free;
        return S_OK;
}

static vss_hr check_set(ProviderSnapshot *const *snaps, size_t n, bool want_created) {
        if (!snaps && n > 0)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++) {
                TestCopySnapshot *t = snaps[i] ? snaps[i]->data : NULL;

                if (!t || t->created != want_created)
                        return VSS_E_BAD_STATE;
        }
        return S_OK;
}

static vss_hr set_phase(ProviderSnapshot *const *snaps, size_t n, bool want_created, const char *phase) {
        vss_hr hr;

        hr = check_set(snaps, n, want_created);
        if (VSS_FAILED(hr))
                return hr;
        return fault_for_set(snaps, n, phase);
}

static vss_hr test_copy_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return set_phase(snaps, n, false, "end_prepare");
}

static vss_hr test_copy_pre_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return set_phase(snaps, n, false, "pre_commit");
}

/* "<area>/.<id>.origin" for dest "<area>/<id>" (or ".<id>.origin" for a bare name): which
 * volume the copy was made of (see the top of the file). */
static char *origin_path(const char *dest) {
        const char *slash = strrchr(dest, '/');
        int dir_len = slash ? (int) (slash - dest + 1) : 0;
        char *p;

        return asprintf(&p, "%.*s.%s" ORIGIN_SUFFIX, dir_len, dest, dest + dir_len) < 0 ? NULL : p;
}

/* Writes dest's origin file (through a temporary name, so it is whole or absent). */
static int origin_write(const char *dest, const char *volume) {
        _cleanup_free_ char *path = origin_path(dest), *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(volume);

        if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, volume, n) != (ssize_t) n || rename(tmp, path) < 0) {
                int r = errno > 0 ? -errno : -EIO;

                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static void origin_remove(const char *dest) {
        _cleanup_free_ char *path = origin_path(dest);

        if (path && unlink(path) < 0 && errno != ENOENT)
                provider_log(TEST_COPY_NAME, "could not remove %s: %s", path, strerror(errno));
}

static void copy_remove(ProviderSnapshot *s) {
        TestCopySnapshot *t = s->data;

        if (t && t->created) {
                int r;

                origin_remove(t->dest);
                r = rm_rf(t->dest);
                if (r < 0 && r != -ENOENT)
                        provider_log(TEST_COPY_NAME, "could not remove %s: %s", t->dest, strerror(-r));
                t->created = false;
        }
        free(s->device);
        s->device = NULL;
}

static vss_hr test_copy_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr;

        hr = set_phase(snaps, n, false, "commit");
        if (hr != S_OK)
                return hr;

        for (size_t i = 0; i < n; i++) {
                TestCopySnapshot *t = snaps[i]->data;
                char *device = strdup(t->dest);

                hr = device ? copy_volume(area_of(self), snaps[i]->volume, t->dest) : E_OUTOFMEMORY;
                if (VSS_SUCCEEDED(hr)) {
                        int r = origin_write(t->dest, snaps[i]->volume);

                        if (r < 0) {
                                (void) rm_rf(t->dest);
                                hr = vss_hr_from_errno(r);
                        }
                }
                if (VSS_FAILED(hr)) {
                        free(device);
                        for (size_t j = 0; j < i; j++)
                                copy_remove(snaps[j]);
                        return hr;
                }
                t->created = true;
                free(snaps[i]->device);
                snaps[i]->device = device;
        }
        return S_OK;
}

static vss_hr test_copy_post_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return set_phase(snaps, n, true, "post_commit");
}

static vss_hr test_copy_pre_final_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return set_phase(snaps, n, true, "pre_final_commit");
}

static vss_hr test_copy_post_final_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return set_phase(snaps, n, true, "post_final_commit");
}

static vss_hr test_copy_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                if (!snaps[i] || !snaps[i]->data)
                        continue;
                copy_remove(snaps[i]);
                snaps[i]->data = test_copy_snapshot_free(snaps[i]->data);
        }
        return S_OK;
}

static vss_hr test_copy_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        TestCopySnapshot *t;
        const char *path;
        vss_hr hr;
        int r;

        if (!s)
                return E_INVALIDARG;
        hr = fault_for(s->volume, "delete_snapshot");
        if (hr != S_OK)
                return hr;

        t = s->data;
        path = s->device ?: (t ? t->dest : NULL);
        if (!path || (t && !t->created))
                return VSS_E_OBJECT_NOT_FOUND;

        r = rm_rf(path);
        if (r < 0 && r != -ENOENT)
                return vss_hr_from_errno(r);
        /* Removed behind our back or not: nothing of it may stay, its origin file included. */
        origin_remove(path);

        s->data = test_copy_snapshot_free(t);
        return r == -ENOENT ? VSS_E_OBJECT_NOT_FOUND : S_OK;
}

static vss_hr test_copy_device_path(VssProvider *self, const ProviderSnapshot *s, char **ret_path) {
        const TestCopySnapshot *t = s ? s->data : NULL;
        char *p;

        if (!t || !ret_path)
                return E_INVALIDARG;
        p = strdup(t->dest);
        if (!p)
                return E_OUTOFMEMORY;
        *ret_path = p;
        return S_OK;
}

/* query's filter: a directory whose origin file names the volume data. */
static int test_copy_area_match(int area_fd, const char *name, const char *path, const vss_id *id, void *data,
                                vss_timestamp *ret_created) {
        _cleanup_free_ char *origin_name = origin_path(name);
        _cleanup_close_ int fd = -EBADF;
        const char *volume = data;
        char origin[PATH_MAX];
        struct stat st;
        ssize_t n;
        int r;

        if (!origin_name)
                return -ENOMEM;
        if (fstatat(area_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return 0;

        fd = openat(area_fd, origin_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* unfinished, or not one of ours */
        n = read(fd, origin, sizeof(origin) - 1);
        if (n < 0)
                return -errno;
        origin[n] = 0;
        if (!streq(origin, volume))
                return 0;

        r = provider_birth_time(area_fd, name, ret_created);
        return r < 0 ? r : 1;
}

static vss_hr test_copy_query(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata) {
        const char *copy_area = area_of(self);
        struct stat st;

        if (isempty(volume) || volume[0] != '/' || !cb)
                return E_INVALIDARG;
        if (!copy_area)
                return VSS_E_BAD_STATE;
        if (stat(volume, &st) < 0)
                return vss_hr_from_errno(errno);
        return provider_area_query(TEST_COPY_NAME, copy_area, NULL, test_copy_area_match, (void *) volume, cb,
                                   userdata);
}

static vss_hr test_copy_get_properties(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret) {
        const TestCopySnapshot *t = s ? s->data : NULL;
        vss_timestamp created = 0;
        const char *path;
        struct stat st;
        vss_hr hr;

        if (!s || !ret)
                return E_INVALIDARG;
        path = s->device ?: (t ? t->dest : NULL);
        if (!path)
                return E_INVALIDARG;
        if (t && !t->created) {
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
        if (!S_ISDIR(st.st_mode)) {
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        (void) provider_birth_time(AT_FDCWD, path, &created);

        *ret = (ProviderSnapshotProperties) {
                .present = true,
                .creation_time = created,
        };
        return S_OK;
}

static vss_hr test_copy_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        return provider_expose_bind(s, target_fd, target_path);
}

static vss_hr test_copy_unexpose(VssProvider *self, const ProviderSnapshot *s, const char *target) {
        return provider_unexpose_umount(s, target);
}

static void test_copy_free(VssProvider *self) {
        TestCopyProvider *t = (TestCopyProvider *) self;

        if (!t)
                return;
        free(t->copy_area);
        free(t);
}

static const VssProvider test_copy_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = TEST_COPY_NAME,
        .id = TEST_COPY_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = VSS_PROVIDER_TEST_ONLY,
        .free = test_copy_free,
        .is_volume_supported = test_copy_is_volume_supported,
        .begin_prepare = test_copy_begin_prepare,
        .end_prepare = test_copy_end_prepare,
        .pre_commit = test_copy_pre_commit,
        .commit = test_copy_commit,
        .post_commit = test_copy_post_commit,
        .pre_final_commit = test_copy_pre_final_commit,
        .post_final_commit = test_copy_post_final_commit,
        .abort = test_copy_abort,
        .delete_snapshot = test_copy_delete_snapshot,
        .device_path = test_copy_device_path,
        .expose = test_copy_expose,
        .unexpose = test_copy_unexpose,
        .query = test_copy_query,
        .get_properties = test_copy_get_properties,
};

vss_hr provider_test_copy_new(const ProviderConfig *config, VssProvider **ret) {
        TestCopyProvider *t;

        if (!config || isempty(config->state_dir) || config->state_dir[0] != '/' || !ret)
                return E_INVALIDARG;
        t = calloc(1, sizeof(*t));
        if (!t)
                return E_OUTOFMEMORY;
        t->parent = test_copy_provider;
        if (asprintf(&t->copy_area, "%s/" TEST_COPY_NAME, config->state_dir) < 0) {
                free(t);
                return E_OUTOFMEMORY;
        }
        *ret = &t->parent;
        return S_OK;
}

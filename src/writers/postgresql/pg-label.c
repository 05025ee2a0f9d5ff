/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-label.c: label sets on disk and their restore into a data directory (pg-label.h).
 *
 * Everything here is about not losing or mixing up a backup's label: each file is synced
 * before the set is renamed into place, the directory is synced after, and a restore copies
 * files under a temporary name and renames them, so a crash mid-way never leaves a
 * backup_label that belongs to another backup or a truncated WAL segment in pg_wal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vss/vss.h"
#include "writers/common/writer-util.h"
#include "writers/postgresql/pg-label.h"

#define COPY_BUFFER_SIZE (256U * 1024U)
/* A label set holds a few small files and a bounded number of WAL segments. */
#define SET_ENTRIES_MAX 4096U
/* Label sets considered by the pruning; more are left alone (and logged). */
#define SETS_MAX 4096U

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Removes name in dir_fd: a file, or a directory of files and directories depth levels deep. */
static int remove_entry(int dir_fd, const char *name, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;
        unsigned n = 0;
        int r = 0;

        if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        if (depth == 0)
                return -ELOOP;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while ((de = readdir(d)) && n++ < SET_ENTRIES_MAX) {
                int q;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                q = remove_entry(dirfd(d), de->d_name, depth - 1);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}

static int split_path(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(path, '/');
        char *dir;

        if (!slash) {
                dir = strdup(".");
                *ret_base = path;
        } else {
                dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
                *ret_base = slash + 1;
        }
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        return 0;
}

int label_set_begin(const char *label_dir, const char *name, LabelSet *ret) {
        _cleanup_free_ char *tmp = NULL, *final = NULL, *tmp_name = NULL;
        _cleanup_close_ int parent = -EBADF, fd = -EBADF;
        int r;

        if (asprintf(&tmp_name, ".%s.tmp", name) < 0 || asprintf(&tmp, "%s/%s", label_dir, tmp_name) < 0 ||
            asprintf(&final, "%s/%s", label_dir, name) < 0)
                return -ENOMEM;

        if (mkdir(label_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        parent = open(label_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0)
                return -errno;
        r = remove_entry(parent, tmp_name, 2);
        if (r < 0)
                return r;
        if (mkdirat(parent, tmp_name, 0700) < 0)
                return -errno;
        fd = openat(parent, tmp_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (mkdirat(fd, LABEL_WAL_DIR, 0700) < 0)
                return -errno;

        *ret = (LabelSet) { .tmp = TAKE_PTR(tmp), .final = TAKE_PTR(final), .dir_fd = TAKE_FD(fd) };
        return 0;
}

int label_set_write(LabelSet *l, const char *path, const void *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = openat(l->dir_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r < 0)
                return r;
        return fsync(fd) < 0 ? -errno : 0;
}

static int dir_sync(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

int label_set_commit(LabelSet *l) {
        _cleanup_free_ char *label_dir = NULL;
        _cleanup_close_ int wal = -EBADF;
        const char *base;
        int r;

        wal = openat(l->dir_fd, LABEL_WAL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (wal < 0)
                return -errno;
        if (fsync(wal) < 0 || fsync(l->dir_fd) < 0)
                return -errno;

        r = split_path(l->final, &label_dir, &base);
        if (r < 0)
                return r;
        /* A set of the same name (the same snapshot set, backed up again) is replaced whole. */
        if (renameat2(AT_FDCWD, l->tmp, AT_FDCWD, l->final, RENAME_NOREPLACE) < 0) {
                _cleanup_close_ int parent = -EBADF;

                if (errno != EEXIST)
                        return -errno;
                parent = open(label_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (parent < 0)
                        return -errno;
                r = remove_entry(parent, base, 2);
                if (r < 0)
                        return r;
                if (rename(l->tmp, l->final) < 0)
                        return -errno;
        }
        free(l->tmp);
        l->tmp = NULL;
        return dir_sync(label_dir);
}

void label_set_done(LabelSet *l) {
        if (l->tmp) {
                _cleanup_free_ char *label_dir = NULL;
                const char *base;

                if (split_path(l->tmp, &label_dir, &base) == 0) {
                        _cleanup_close_ int parent = open(label_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                        if (parent >= 0)
                                (void) remove_entry(parent, base, 2);
                }
        }
        if (l->dir_fd >= 0)
                (void) close(l->dir_fd);
        free(l->tmp);
        free(l->final);
        *l = (LabelSet) { .dir_fd = -EBADF };
}

typedef struct SetAge {
        char name[VSS_ID_STRING_MAX];
        struct timespec mtime;
} SetAge;

static int set_age_compare(const void *a, const void *b) {
        const SetAge *x = a, *y = b;

        /* Newest first. */
        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
        return strcmp(x->name, y->name);
}

int label_sets_prune(const char *label_dir, unsigned keep) {
        _cleanup_free_ SetAge *sets = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir(label_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        sets = calloc(SETS_MAX, sizeof(SetAge));
        if (!sets) {
                closedir(d);
                return -ENOMEM;
        }
        while ((de = readdir(d))) {
                struct stat st;
                vss_id id;

                if (strlen(de->d_name) >= VSS_ID_STRING_MAX || vss_id_parse(de->d_name, &id) != S_OK)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (n >= SETS_MAX) {
                        wlog(LOG_WARNING, "%s: more than %u label sets; pruning only some", label_dir, SETS_MAX);
                        break;
                }
                (void) snprintf(sets[n].name, sizeof(sets[n].name), "%s", de->d_name);
                sets[n].mtime = st.st_mtim;
                n++;
        }

        qsort(sets, n, sizeof(SetAge), set_age_compare);
        for (size_t i = keep; i < n; i++) {
                int q = remove_entry(dirfd(d), sets[i].name, 2);

                if (q < 0) {
                        wlog(LOG_WARNING, "%s/%s: cannot remove an old label set: %s", label_dir, sets[i].name,
                             strerror(-q));
                        if (r == 0)
                                r = q;
                } else
                        wlog(LOG_INFO, "%s/%s: old label set removed", label_dir, sets[i].name);
        }
        closedir(d);
        return r;
}

static uint64_t segments_per_id(uint64_t wal_segment_size) {
        return (UINT64_C(1) << 32) / wal_segment_size;
}

int wal_name_parse(const char *name, uint64_t wal_segment_size, uint32_t *ret_tli, uint64_t *ret_segno) {
        unsigned tli, log, seg;

        if (!name || strlen(name) != WAL_NAME_LEN || strspn(name, "0123456789ABCDEF") != WAL_NAME_LEN ||
            wal_segment_size == 0 || (wal_segment_size & (wal_segment_size - 1)) != 0)
                return -EINVAL;
        if (sscanf(name, "%8X%8X%8X", &tli, &log, &seg) != 3 || seg >= segments_per_id(wal_segment_size))
                return -EINVAL;
        *ret_tli = tli;
        *ret_segno = (uint64_t) log * segments_per_id(wal_segment_size) + seg;
        return 0;
}

void wal_name_format(uint32_t tli, uint64_t segno, uint64_t wal_segment_size, char buf[WAL_NAME_LEN + 1]) {
        uint64_t per = segments_per_id(wal_segment_size);

        (void) snprintf(buf, WAL_NAME_LEN + 1, "%08X%08X%08X", tli, (unsigned) (segno / per), (unsigned) (segno % per));
}

/*
 * Copies from_dir_fd/name to to_dir_fd/name through a temporary file renamed into place,
 * owned by uid:gid, mode 0600. A missing source is -ENOENT.
 */
static int copy_into(int from_dir_fd, int to_dir_fd, const char *name, uid_t uid, gid_t gid) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        _cleanup_free_ char *buf = NULL, *tmp = NULL;
        int r;

        in = openat(from_dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return -errno;
        if (asprintf(&tmp, ".%s.vss-restore", name) < 0)
                return -ENOMEM;
        buf = malloc(COPY_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        (void) unlinkat(to_dir_fd, tmp, 0);
        out = openat(to_dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return -errno;

        for (;;) {
                ssize_t n = read(in, buf, COPY_BUFFER_SIZE);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                r = write_all(out, buf, (size_t) n);
                if (r < 0)
                        goto fail;
        }
        if (fchown(out, uid, gid) < 0 && geteuid() == 0) {
                r = -errno;
                goto fail;
        }
        if (fsync(out) < 0 || renameat(to_dir_fd, tmp, to_dir_fd, name) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;

fail:
        (void) unlinkat(to_dir_fd, tmp, 0);
        return r;
}

static int restore_wal(int set_fd, int data_fd, uid_t uid, gid_t gid, unsigned *ret_count) {
        _cleanup_close_ int from = -EBADF, to = -EBADF;
        struct dirent *de;
        unsigned n = 0;
        DIR *d;
        int r = 0;

        from = openat(set_fd, LABEL_WAL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (from < 0)
                return -errno;
        /* pg_wal may be a symbolic link to the WAL volume: follow it. */
        to = openat(data_fd, "pg_wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (to < 0)
                return -errno;
        d = fdopendir(from);
        if (!d)
                return -errno;
        TAKE_FD(from);
        while ((de = readdir(d))) {
                if (strlen(de->d_name) != WAL_NAME_LEN || strspn(de->d_name, "0123456789ABCDEF") != WAL_NAME_LEN)
                        continue;
                if (n >= SET_ENTRIES_MAX) {
                        r = -E2BIG;
                        break;
                }
                r = copy_into(dirfd(d), to, de->d_name, uid, gid);
                if (r < 0) {
                        wlog(LOG_ERR, "restore: pg_wal/%s: %s", de->d_name, strerror(-r));
                        break;
                }
                n++;
        }
        closedir(d);
        if (r == 0 && fsync(to) < 0)
                r = -errno;
        if (r < 0)
                return r;
        *ret_count = n;
        return 0;
}

int label_restore(const char *set_dir, const char *datadir) {
        static const char *const stale[] = { "postmaster.pid", "postmaster.opts" };
        _cleanup_close_ int set_fd = -EBADF, data_fd = -EBADF;
        struct stat st, map;
        unsigned segments = 0;
        int r;

        set_fd = open(set_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (set_fd < 0) {
                wlog(LOG_ERR, "restore: %s: %m", set_dir);
                return -errno;
        }
        data_fd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (data_fd < 0 || fstat(data_fd, &st) < 0) {
                wlog(LOG_ERR, "restore: %s: %m", datadir);
                return -errno;
        }
        if (faccessat(data_fd, "PG_VERSION", F_OK, 0) < 0) {
                wlog(LOG_ERR, "restore: %s is not a PostgreSQL data directory (no PG_VERSION)", datadir);
                return -ENOTDIR;
        }
        if (faccessat(set_fd, LABEL_FILE, F_OK, 0) < 0) {
                wlog(LOG_ERR, "restore: %s holds no %s: not a label set", set_dir, LABEL_FILE);
                return -ENOENT;
        }

        /* WAL first: a backup_label without the WAL it needs only makes recovery fail later. */
        r = restore_wal(set_fd, data_fd, st.st_uid, st.st_gid, &segments);
        if (r < 0) {
                wlog(LOG_ERR, "restore: cannot copy the WAL segments: %s", strerror(-r));
                return r;
        }

        if (fstatat(set_fd, TABLESPACE_MAP_FILE, &map, 0) == 0 && map.st_size > 0) {
                r = copy_into(set_fd, data_fd, TABLESPACE_MAP_FILE, st.st_uid, st.st_gid);
                if (r < 0) {
                        wlog(LOG_ERR, "restore: cannot write %s: %s", TABLESPACE_MAP_FILE, strerror(-r));
                        return r;
                }
        } else if (unlinkat(data_fd, TABLESPACE_MAP_FILE, 0) < 0 && errno != ENOENT)
                return -errno;

        for (size_t i = 0; i < ELEMENTSOF(stale); i++)
                if (unlinkat(data_fd, stale[i], 0) < 0 && errno != ENOENT) {
                        wlog(LOG_ERR, "restore: cannot remove %s: %m", stale[i]);
                        return -errno;
                }

        /* Last, so that a data directory with a backup_label is always complete. */
        r = copy_into(set_fd, data_fd, LABEL_FILE, st.st_uid, st.st_gid);
        if (r < 0) {
                wlog(LOG_ERR, "restore: cannot write %s: %s", LABEL_FILE, strerror(-r));
                return r;
        }
        if (fsync(data_fd) < 0)
                return -errno;
        wlog(LOG_INFO, "restore: %s prepared from %s: backup_label written, %u WAL segment(s) copied", datadir,
             set_dir, segments);
        return 0;
}

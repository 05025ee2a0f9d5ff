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
#include <limits.h>
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

/* Writes data to to_dir_fd/name through a temporary file renamed into place, uid:gid, 0600. */
static int write_into(int to_dir_fd, const char *name, const char *data, size_t size, uid_t uid, gid_t gid) {
        _cleanup_close_ int out = -EBADF;
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (asprintf(&tmp, ".%s.vss-restore", name) < 0)
                return -ENOMEM;
        (void) unlinkat(to_dir_fd, tmp, 0);
        out = openat(to_dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return -errno;
        r = write_all(out, data, size);
        if (r == 0 && fchown(out, uid, gid) < 0 && geteuid() == 0)
                r = -errno;
        if (r == 0 && (fsync(out) < 0 || renameat(to_dir_fd, tmp, to_dir_fd, name) < 0))
                r = -errno;
        if (r < 0)
                (void) unlinkat(to_dir_fd, tmp, 0);
        return r;
}

/* A label or map is a few hundred bytes; a map with many tablespaces a few KiB. */
#define LABEL_TEXT_MAX (1024U * 1024U)

/* Reads dir_fd/name (at most LABEL_TEXT_MAX bytes) as a string; a missing file is "". */
static int read_text(int dir_fd, const char *name, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        buf = malloc(LABEL_TEXT_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (fd >= 0) {
                ssize_t k = read(fd, buf + n, LABEL_TEXT_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > LABEL_TEXT_MAX)
                        return -EFBIG;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/*
 * Whether a postmaster works in the directory data_fd: the PID in its postmaster.pid is a
 * live process whose working directory is this one. A snapshot's copy holds the pid file of
 * the server it was taken from, which works elsewhere: that is no reason to refuse.
 */
static bool postmaster_running_in(int data_fd) {
        _cleanup_free_ char *pidfile = NULL, *cwd = NULL;
        struct stat here, there;
        long pid;

        if (read_text(data_fd, "postmaster.pid", &pidfile) < 0 || sscanf(pidfile, "%ld", &pid) != 1 || pid <= 0 ||
            pid > INT_MAX)
                return false;
        if (asprintf(&cwd, "/proc/%ld/cwd", pid) < 0)
                return false;
        return fstat(data_fd, &here) == 0 && stat(cwd, &there) == 0 && here.st_dev == there.st_dev &&
               here.st_ino == there.st_ino;
}

int label_restore(const char *set_dir, const char *datadir, const char *label, const char *map) {
        static const char *const stale[] = { "postmaster.pid", "postmaster.opts" };
        _cleanup_close_ int set_fd = -EBADF, data_fd = -EBADF;
        _cleanup_free_ char *set_label = NULL, *set_map = NULL;
        struct stat st;
        unsigned segments = 0;
        int r;

        set_fd = open(set_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (set_fd < 0) {
                r = -errno;
                wlog(LOG_ERR, "restore: label set %s: %s", set_dir, strerror(-r));
                return r;
        }
        data_fd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (data_fd < 0 || fstat(data_fd, &st) < 0) {
                r = -errno;
                wlog(LOG_ERR, "restore: %s: %s", datadir, strerror(-r));
                return r;
        }
        if (faccessat(data_fd, "PG_VERSION", F_OK, 0) < 0) {
                wlog(LOG_ERR, "restore: %s is not a PostgreSQL data directory (no PG_VERSION)", datadir);
                return -ENOTDIR;
        }
        if (postmaster_running_in(data_fd)) {
                wlog(LOG_ERR, "restore: a server is running on %s; stop it first", datadir);
                return -EBUSY;
        }
        r = read_text(set_fd, LABEL_FILE, &set_label);
        if (r == 0 && !set_label[0])
                r = -ENOENT;
        if (r < 0) {
                wlog(LOG_ERR, "restore: %s holds no usable %s: not a label set", set_dir, LABEL_FILE);
                return r;
        }
        /* The WAL in the set must be this backup's: a label from elsewhere would replay the
         * wrong history. */
        if (label && !streq(label, set_label)) {
                wlog(LOG_ERR, "restore: the label set %s belongs to another backup than the label given", set_dir);
                return -ESTALE;
        }
        if (!map) {
                r = read_text(set_fd, TABLESPACE_MAP_FILE, &set_map);
                if (r < 0) {
                        wlog(LOG_ERR, "restore: cannot read %s/%s: %s", set_dir, TABLESPACE_MAP_FILE, strerror(-r));
                        return r;
                }
                map = set_map;
        }

        /* WAL first: a backup_label without the WAL it needs only makes recovery fail later. */
        r = restore_wal(set_fd, data_fd, st.st_uid, st.st_gid, &segments);
        if (r < 0) {
                wlog(LOG_ERR, "restore: cannot copy the WAL segments: %s", strerror(-r));
                return r;
        }

        if (map[0]) {
                r = write_into(data_fd, TABLESPACE_MAP_FILE, map, strlen(map), st.st_uid, st.st_gid);
                if (r < 0) {
                        wlog(LOG_ERR, "restore: cannot write %s: %s", TABLESPACE_MAP_FILE, strerror(-r));
                        return r;
                }
        } else if (unlinkat(data_fd, TABLESPACE_MAP_FILE, 0) < 0 && errno != ENOENT)
                return -errno;

        for (size_t i = 0; i < ELEMENTSOF(stale); i++)
                if (unlinkat(data_fd, stale[i], 0) < 0 && errno != ENOENT) {
                        r = -errno;
                        wlog(LOG_ERR, "restore: cannot remove %s: %s", stale[i], strerror(-r));
                        return r;
                }

        /* Last, so that a data directory with a backup_label is always complete. */
        r = write_into(data_fd, LABEL_FILE, set_label, strlen(set_label), st.st_uid, st.st_gid);
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

/* ------------------------------------------------------------------------------------------ */
/* Backup metadata                                                                             */
/* ------------------------------------------------------------------------------------------ */

void pg_metadata_done(PgMetadata *m) {
        free(m->set_id);
        free(m->data_dir);
        free(m->wal_first);
        free(m->wal_last);
        free(m->label);
        free(m->map);
        *m = (PgMetadata) {};
}

static int metadata_print(const PgMetadata *m, bool with_map, char **ret) {
        char *text = NULL, map_size[32];

        if (with_map)
                (void) snprintf(map_size, sizeof(map_size), "%zu", strlen(m->map));
        if (asprintf(&text,
                     PG_METADATA_MAGIC "\n"
                     "snapshot-set: %s\n"
                     "data-directory: %s\n"
                     "wal: %s %s\n"
                     "backup-label: %zu\n"
                     "tablespace-map: %s\n"
                     "\n"
                     "%s%s",
                     m->set_id, m->data_dir, m->wal_first, m->wal_last, strlen(m->label),
                     with_map ? map_size : "label-set", m->label, with_map ? m->map : "") < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int pg_metadata_format(const PgMetadata *m, char **ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!m->set_id || !m->data_dir || strchr(m->data_dir, '\n') || !m->wal_first || !m->wal_last || !m->label)
                return -EINVAL;
        r = metadata_print(m, m->map != NULL, &text);
        if (r < 0)
                return r;
        if (strlen(text) > PG_METADATA_MAX && m->map) {
                /* Many tablespaces: the map stays in the label set only. */
                free(TAKE_PTR(text));
                r = metadata_print(m, false, &text);
                if (r < 0)
                        return r;
        }
        if (strlen(text) > PG_METADATA_MAX)
                return -E2BIG;
        *ret = TAKE_PTR(text);
        return 0;
}

/* The value of "key: value" in line (NUL-terminated), or NULL when line has another key. */
static const char *header_value(const char *line, const char *key) {
        size_t n = strlen(key);

        if (strncmp(line, key, n) != 0 || line[n] != ':' || line[n + 1] != ' ')
                return NULL;
        return line + n + 2;
}

static int parse_size(const char *s, size_t *ret) {
        char *end = NULL;
        unsigned long long v;

        if (!s || !*s || strspn(s, "0123456789") != strlen(s))
                return -EBADMSG;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || v > PG_METADATA_MAX)
                return -EBADMSG;
        *ret = (size_t) v;
        return 0;
}

static bool wal_name_ok(const char *s) {
        return strlen(s) == WAL_NAME_LEN && strspn(s, "0123456789ABCDEF") == WAL_NAME_LEN;
}

int pg_metadata_parse(const char *text, PgMetadata *ret) {
        _cleanup_(pg_metadata_done) PgMetadata m = {};
        size_t label_size = 0, map_size = 0, body_size;
        bool have_label = false, have_map = false, map_in_set = false;
        const char *p, *body;
        vss_id id;

        if (!text || strlen(text) > PG_METADATA_MAX)
                return -EBADMSG;
        body = strstr(text, "\n\n");
        if (!body)
                return -EBADMSG;
        body += 2;

        for (p = text; p < body - 1;) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, n);
                const char *v;

                if (!line)
                        return -ENOMEM;
                if (p == text) {
                        if (!streq(line, PG_METADATA_MAGIC))
                                return -EBADMSG;
                } else if ((v = header_value(line, "snapshot-set"))) {
                        if (m.set_id || strlen(v) >= VSS_ID_STRING_MAX || vss_id_parse(v, &id) != S_OK ||
                            !(m.set_id = strdup(v)))
                                return -EBADMSG;
                } else if ((v = header_value(line, "data-directory"))) {
                        if (m.data_dir || v[0] != '/' || !(m.data_dir = strdup(v)))
                                return -EBADMSG;
                } else if ((v = header_value(line, "wal"))) {
                        const char *space = strchr(v, ' ');

                        if (m.wal_first || !space || !(m.wal_first = strndup(v, (size_t) (space - v))) ||
                            !(m.wal_last = strdup(space + 1)) || !wal_name_ok(m.wal_first) || !wal_name_ok(m.wal_last))
                                return -EBADMSG;
                } else if ((v = header_value(line, "backup-label"))) {
                        if (have_label || parse_size(v, &label_size) < 0)
                                return -EBADMSG;
                        have_label = true;
                } else if ((v = header_value(line, "tablespace-map"))) {
                        if (have_map)
                                return -EBADMSG;
                        have_map = true;
                        if (streq(v, "label-set"))
                                map_in_set = true;
                        else if (parse_size(v, &map_size) < 0)
                                return -EBADMSG;
                } else
                        return -EBADMSG;
                p += n + 1;
        }
        if (!m.set_id || !m.data_dir || !m.wal_first || !have_label || label_size == 0 || !have_map)
                return -EBADMSG;
        body_size = strlen(body);
        if (body_size != label_size + map_size)
                return -EBADMSG;
        m.label = strndup(body, label_size);
        if (!m.label || (!map_in_set && !(m.map = strndup(body + label_size, map_size))))
                return -ENOMEM;

        *ret = m;
        m = (PgMetadata) {};
        return 0;
}

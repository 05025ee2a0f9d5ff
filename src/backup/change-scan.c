/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan.c: the two ways a backup finds its candidate files, a directory walk and a
 * btrfs changed-inode scan.
 *
 * The walk is what a requester does on any file system, so it is built for the cost that
 * dominates a 200k-file tree: one getdents64 per 16 KiB of directory, d_type instead of a stat
 * per entry, and a statx only for directories (one filesystem check), for entries whose type
 * the file system does not report, and for files whose times are asked for. It is iterative:
 * each directory level keeps its fd and its getdents buffer, so memory is bounded by the depth
 * limit and never by the number of files, and the relative path lives in one buffer that each
 * level overwrites from its own prefix.
 *
 * The btrfs scan answers "what changed after generation G" from the file system's own
 * metadata: every tree block records the transaction that last wrote it, and the tree-search
 * ioctl with min_transid skips whole subtrees older than G. Within the blocks it returns, an
 * inode item's transid says whether that inode itself changed (a block is rewritten whenever
 * any item in it changes). Names are resolved from the inode's back references (INODE_REF and
 * INODE_EXTREF items) and the directories' own references up to the subvolume top, with a
 * small cache of directory paths, so the cost stays proportional to the changed inodes.
 */
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "change-scan.h"
#include "macro.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A statx time as FILETIME; saturates instead of overflowing on absurd values. */
static vss_timestamp timestamp_from_statx(int64_t sec, uint32_t nsec) {
        int64_t ns;

        if (sec > INT64_MAX / 1000000000 - 1)
                ns = INT64_MAX;
        else if (sec < INT64_MIN / 1000000000 + 1)
                ns = INT64_MIN;
        else
                ns = sec * 1000000000 + (int64_t) nsec;
        return vss_timestamp_from_unix_ns(ns);
}

static unsigned dtype_from_mode(mode_t mode) {
        return IFTODT(mode);
}

/* Ensure *buf holds at least need bytes, growing geometrically. */
static int buffer_reserve(char **buf, size_t *size, size_t need) {
        size_t n;
        char *p;

        if (need <= *size)
                return 0;
        n = MAX(need, *size * 2);
        n = MAX(n, (size_t) 256);
        p = realloc(*buf, n);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *size = n;
        return 0;
}

/* Length of the UTF-8 sequence starting at s if well-formed, else 1 (one stray byte). */
static size_t utf8_char_len(const unsigned char *s) {
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xE0) == 0xC0)
                len = 2;
        else if ((s[0] & 0xF0) == 0xE0)
                len = 3;
        else if ((s[0] & 0xF8) == 0xF0)
                len = 4;
        else
                return 1;
        for (size_t i = 1; i < len; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return 1;
        return len;
}

bool change_scan_filespec_match(const char *filespec, const char *name) {
        const unsigned char *p, *s, *star_p = NULL, *star_s = NULL;

        if (!name)
                return false;
        if (!filespec || streq(filespec, "*"))
                return true;

        p = (const unsigned char *) filespec;
        s = (const unsigned char *) name;

        /* Greedy with one backtrack point: on a mismatch the last '*' absorbs one more character. */
        while (*s) {
                if (*p == '?') {
                        p++;
                        s += utf8_char_len(s);
                } else if (*p == '*') {
                        star_p = ++p;
                        star_s = s;
                } else if (*p && *p == *s) {
                        p++;
                        s++;
                } else if (star_p) {
                        p = star_p;
                        star_s += utf8_char_len(star_s);
                        s = star_s;
                } else
                        return false;
        }
        while (*p == '*')
                p++;
        return *p == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Directory walk                                                                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct WalkLevel {
        int fd;
        size_t path_len;        /* this directory's relative path is Walk.path[0..path_len) */
        uint8_t *buf;           /* getdents64 buffer, kept for reuse at this depth */
        size_t buf_len;
        size_t buf_pos;
} WalkLevel;

typedef struct Walk {
        const char *filespec;
        ChangeScanFlags flags;
        vss_timestamp since;
        ChangeScanCallback callback;
        void *userdata;

        uint32_t dev_major, dev_minor;
        uint64_t mnt_id;
        bool have_mnt_id;
        bool noatime;

        char *path;
        size_t path_size;

        WalkLevel levels[CHANGE_SCAN_MAX_DEPTH];
        unsigned depth;
} Walk;

static void walk_free(Walk *w) {
        if (!w)
                return;
        for (unsigned i = 0; i < CHANGE_SCAN_MAX_DEPTH; i++) {
                if (i < w->depth && w->levels[i].fd >= 0)
                        (void) close(w->levels[i].fd);
                free(w->levels[i].buf);
        }
        free(w->path);
        free(w);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Walk *, walk_free);

/*
 * Open a directory below dir_fd without following a symlink at the last component and
 * without updating its atime. O_NOATIME needs ownership or CAP_FOWNER: on EPERM the walk drops
 * it for good (one failed open per walk, not per directory).
 */
static int open_dir_at(Walk *w, int dir_fd, const char *name) {
        int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        int fd;

        if (w->noatime) {
                fd = openat(dir_fd, name, flags | O_NOATIME);
                if (fd >= 0)
                        return fd;
                if (errno != EPERM)
                        return -errno;
                w->noatime = false;
        }
        fd = openat(dir_fd, name, flags);
        return fd < 0 ? -errno : fd;
}

/* The start directory: no symlink anywhere in path (openat2 RESOLVE_NO_SYMLINKS). */
static int open_start_dir(Walk *w, int root_fd, const char *path) {
        /* No O_NOFOLLOW: with it a final symlink is ENOTDIR; RESOLVE_NO_SYMLINKS makes any ELOOP. */
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (w->noatime) {
                how.flags |= O_NOATIME;
                fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno == EPERM)
                        w->noatime = false;
                else if (errno != ENOSYS)
                        return -errno;
                how.flags &= ~(uint64_t) O_NOATIME;
        }
        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        if (fd >= 0)
                return (int) fd;
        if (errno != ENOSYS)
                return -errno;
        /* Kernels before 5.6: only the last component can be protected. */
        return open_dir_at(w, root_fd, path);
}

/* Is the directory open at fd on the walk's own mount and device (or subvolume, when crossing is allowed)? */
static int walk_same_filesystem(Walk *w, int fd, bool *ret_same) {
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (w->have_mnt_id && (sx.stx_mask & STATX_MNT_ID) && sx.stx_mnt_id != w->mnt_id) {
                *ret_same = false;
                return 0;
        }
        if (sx.stx_dev_major != w->dev_major || sx.stx_dev_minor != w->dev_minor) {
                /* Same mount, other device: a btrfs subvolume (its own anonymous st_dev). Without
                 * a mount id to tell, a different device is always treated as another mount. */
                *ret_same = (w->flags & CHANGE_SCAN_CROSS_SUBVOLUMES) && w->have_mnt_id &&
                            (sx.stx_mask & STATX_MNT_ID);
                return 0;
        }
        *ret_same = true;
        return 0;
}

static int walk_push(Walk *w, int fd, size_t path_len) {
        WalkLevel *l;

        if (w->depth >= CHANGE_SCAN_MAX_DEPTH) {
                (void) close(fd);
                return -ELOOP;
        }
        l = &w->levels[w->depth];
        if (!l->buf) {
                l->buf = malloc(CHANGE_SCAN_DIRENT_BUFFER);
                if (!l->buf) {
                        (void) close(fd);
                        return -ENOMEM;
                }
        }
        l->fd = fd;
        l->path_len = path_len;
        l->buf_len = l->buf_pos = 0;
        w->depth++;
        return 0;
}

static void walk_pop(Walk *w) {
        WalkLevel *l = &w->levels[--w->depth];

        (void) close(l->fd);
        l->fd = -EBADF;
}

/* Put "<level path>/<name>" into w->path; returns the offset of name in it. */
static int walk_set_path(Walk *w, const WalkLevel *l, const char *name, size_t *ret_name_off) {
        size_t name_len = strlen(name), off = l->path_len ? l->path_len + 1 : 0;
        int r;

        r = buffer_reserve(&w->path, &w->path_size, off + name_len + 1);
        if (r < 0)
                return r;
        if (l->path_len)
                w->path[l->path_len] = '/';
        memcpy(w->path + off, name, name_len + 1);
        *ret_name_off = off;
        return 0;
}

static void entry_fill_stat(ChangeScanEntry *e, const struct statx *sx) {
        e->have_stat = true;
        e->ino = sx->stx_ino;
        e->size = sx->stx_size;
        e->mtime = timestamp_from_statx(sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec);
        e->ctime = timestamp_from_statx(sx->stx_ctime.tv_sec, sx->stx_ctime.tv_nsec);
}

/* Handle one directory entry of level l. */
static int walk_entry(Walk *w, WalkLevel *l, const struct dirent64 *d) {
        const unsigned sx_mask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;
        const int sx_flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC;
        ChangeScanEntry e = {
                .type = d->d_type,
                .ino = d->d_ino,
                .dir_fd = l->fd,
        };
        struct statx sx;
        size_t name_off;
        bool stated = false;
        int r;

        if (streq(d->d_name, ".") || streq(d->d_name, ".."))
                return 0;

        if (e.type == DT_UNKNOWN) {
                if (statx(l->fd, d->d_name, sx_flags, sx_mask, &sx) < 0)
                        return errno == ENOENT ? 0 : -errno;
                e.type = dtype_from_mode(sx.stx_mode);
                stated = true;
        }

        if (e.type == DT_DIR) {
                _cleanup_close_ int fd = -EBADF;
                bool same = false;

                if (!(w->flags & CHANGE_SCAN_RECURSIVE))
                        return 0;
                r = walk_set_path(w, l, d->d_name, &name_off);
                if (r < 0)
                        return r;
                if (w->flags & CHANGE_SCAN_DIRS) {
                        e.path = w->path;
                        e.name = w->path + name_off;
                        if (stated)
                                entry_fill_stat(&e, &sx);
                        r = w->callback(&e, w->userdata);
                        if (r < 0)
                                return r;
                        if (r == CHANGE_SCAN_SKIP)
                                return 0;
                }
                fd = open_dir_at(w, l->fd, d->d_name);
                /* Gone, or replaced by a symlink or file since getdents: not ours to follow. */
                if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR)
                        return 0;
                if (fd < 0)
                        return fd;
                r = walk_same_filesystem(w, fd, &same);
                if (r < 0)
                        return r;
                if (!same)
                        return 0;
                return walk_push(w, TAKE_FD(fd), strlen(w->path));
        }

        if (!change_scan_filespec_match(w->filespec, d->d_name))
                return 0;

        if (!stated && ((w->flags & CHANGE_SCAN_STAT) || w->since != 0)) {
                if (statx(l->fd, d->d_name, sx_flags, sx_mask, &sx) < 0)
                        return errno == ENOENT ? 0 : -errno;
                e.type = dtype_from_mode(sx.stx_mode);
                stated = true;
        }
        if (stated) {
                if (e.type == DT_DIR)   /* became a directory meanwhile */
                        return 0;
                entry_fill_stat(&e, &sx);
                if (w->since != 0 && e.mtime < w->since && e.ctime < w->since)
                        return 0;
        }

        r = walk_set_path(w, l, d->d_name, &name_off);
        if (r < 0)
                return r;
        e.path = w->path;
        e.name = w->path + name_off;
        r = w->callback(&e, w->userdata);
        return r < 0 ? r : 0;
}

int change_scan_walk(int root_fd, const char *path, const char *filespec, ChangeScanFlags flags,
                     vss_timestamp since, ChangeScanCallback callback, void *userdata) {
        _cleanup_(walk_freep) Walk *w = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct statx sx;
        int r;

        if (!path || !path[0] || !callback)
                return -EINVAL;
        if (filespec && (!filespec[0] || strchr(filespec, '/')))
                return -EINVAL;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->filespec = filespec;
        w->flags = flags;
        w->since = since;
        w->callback = callback;
        w->userdata = userdata;
        w->noatime = true;
        for (unsigned i = 0; i < CHANGE_SCAN_MAX_DEPTH; i++)
                w->levels[i].fd = -EBADF;

        fd = open_start_dir(w, root_fd, path);
        if (fd < 0)
                return fd;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_MNT_ID, &sx) < 0)
                return -errno;
        w->dev_major = sx.stx_dev_major;
        w->dev_minor = sx.stx_dev_minor;
        w->have_mnt_id = sx.stx_mask & STATX_MNT_ID;
        w->mnt_id = sx.stx_mnt_id;

        r = walk_push(w, TAKE_FD(fd), 0);
        if (r < 0)
                return r;

        while (w->depth > 0) {
                WalkLevel *l = &w->levels[w->depth - 1];
                const struct dirent64 *d;

                if (l->buf_pos >= l->buf_len) {
                        ssize_t n = getdents64(l->fd, l->buf, CHANGE_SCAN_DIRENT_BUFFER);

                        if (n < 0)
                                return -errno;
                        if (n == 0) {
                                walk_pop(w);
                                continue;
                        }
                        l->buf_len = (size_t) n;
                        l->buf_pos = 0;
                }
                d = (const struct dirent64 *) (l->buf + l->buf_pos);
                l->buf_pos += d->d_reclen;

                r = walk_entry(w, l, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* btrfs                                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define SEARCH_BUFFER_SIZE (64U * 1024U)
#define DIR_CACHE_SLOTS 1024U

typedef struct SearchArgs {
        struct btrfs_ioctl_search_args_v2 args;
        uint8_t buf[SEARCH_BUFFER_SIZE];
} SearchArgs;

typedef struct DirCacheSlot {
        uint64_t ino;
        char *path;     /* relative to the subvolume top, "" for the top itself */
} DirCacheSlot;

typedef struct BtrfsScan {
        int fd;
        uint64_t since;
        ChangeScanCallback callback;
        void *userdata;
        SearchArgs *items;      /* the changed-inode search */
        SearchArgs *refs;       /* the names of one changed inode */
        SearchArgs *dirs;       /* the name of one directory */
        DirCacheSlot cache[DIR_CACHE_SLOTS];
        char *path;
        size_t path_size;
} BtrfsScan;

static void btrfs_scan_done(BtrfsScan *s) {
        for (unsigned i = 0; i < DIR_CACHE_SLOTS; i++)
                free(s->cache[i].path);
        free(s->items);
        free(s->refs);
        free(s->dirs);
        free(s->path);
        if (s->fd >= 0)
                (void) close(s->fd);
}

static int open_subvol(const char *path) {
        int fd;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* fd is on btrfs (-ENOTTY otherwise) and, when top is set, the top directory of a subvolume (-EINVAL). */
static int check_btrfs(int fd, bool top) {
        struct statfs sfs;
        struct statx sx;

        if (fstatfs(fd, &sfs) < 0)
                return -errno;
        if ((unsigned long) sfs.f_type != (unsigned long) BTRFS_SUPER_MAGIC)
                return -ENOTTY;
        if (!top)
                return 0;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_INO, &sx) < 0)
                return -errno;
        return sx.stx_ino == CHANGE_SCAN_BTRFS_SUBVOL_INO ? 0 : -EINVAL;
}

int change_scan_btrfs_generation(const char *path, uint64_t *ret_generation) {
        struct btrfs_ioctl_get_subvol_info_args info = {};
        static const uint8_t null_uuid[BTRFS_UUID_SIZE] = {};
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!path || !ret_generation)
                return -EINVAL;
        fd = open_subvol(path);
        if (fd < 0)
                return fd;
        r = check_btrfs(fd, false);
        if (r < 0)
                return r;
        if (ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, &info) < 0)
                return -errno;

        /* A snapshot: its creation transaction bounds what it holds, whatever happened to it later. */
        if (memcmp(info.parent_uuid, null_uuid, sizeof(null_uuid)) != 0 && info.otransid != 0)
                *ret_generation = info.otransid;
        else
                *ret_generation = info.generation;
        return 0;
}

static void search_key_init(struct btrfs_ioctl_search_key *k, uint64_t min_objectid, uint32_t min_type,
                            uint64_t max_objectid, uint32_t max_type, uint64_t min_transid) {
        *k = (struct btrfs_ioctl_search_key) {
                .tree_id = 0,   /* the subvolume the fd is in */
                .min_objectid = min_objectid,
                .max_objectid = max_objectid,
                .min_type = min_type,
                .max_type = max_type,
                .min_offset = 0,
                .max_offset = UINT64_MAX,
                .min_transid = min_transid,
                .max_transid = UINT64_MAX,
                .nr_items = UINT32_MAX,
        };
}

static int search_run(int fd, SearchArgs *a) {
        a->args.buf_size = SEARCH_BUFFER_SIZE;
        a->args.key.nr_items = UINT32_MAX;
        if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, &a->args) < 0)
                return -errno;
        return 0;
}

/*
 * Move the search's lower bound past the key (objectid, type, offset). Keys compare as one
 * 136-bit number, so this is an increment with carry. Returns false when the key was the last
 * possible one.
 */
static bool search_key_advance(struct btrfs_ioctl_search_key *k, uint64_t objectid, uint32_t type,
                               uint64_t offset) {
        if (offset < UINT64_MAX) {
                k->min_objectid = objectid;
                k->min_type = type;
                k->min_offset = offset + 1;
        } else if (type < UINT8_MAX) {
                k->min_objectid = objectid;
                k->min_type = type + 1;
                k->min_offset = 0;
        } else if (objectid < UINT64_MAX) {
                k->min_objectid = objectid + 1;
                k->min_type = 0;
                k->min_offset = 0;
        } else
                return false;
        return true;
}

/* Iterate the items of a finished search; sets *hdr and *data, false at the end. */
static bool search_next(const SearchArgs *a, size_t *pos, unsigned *index, struct btrfs_ioctl_search_header *hdr,
                        const uint8_t **data) {
        if (*index >= a->args.key.nr_items || *pos + sizeof(*hdr) > SEARCH_BUFFER_SIZE)
                return false;
        memcpy(hdr, a->buf + *pos, sizeof(*hdr));
        *pos += sizeof(*hdr);
        if (*pos + hdr->len > SEARCH_BUFFER_SIZE)
                return false;
        *data = a->buf + *pos;
        *pos += hdr->len;
        (*index)++;
        return true;
}

/* The first back reference of a directory: its parent and its name. -ENOENT when none (deleted). */
static int dir_parent(BtrfsScan *s, uint64_t ino, uint64_t *ret_parent, char name[static NAME_MAX + 1]) {
        struct btrfs_ioctl_search_header hdr;
        const uint8_t *data;
        size_t pos = 0;
        unsigned index = 0;
        int r;

        search_key_init(&s->dirs->args.key, ino, BTRFS_INODE_REF_KEY, ino, BTRFS_INODE_EXTREF_KEY, 0);
        r = search_run(s->fd, s->dirs);
        if (r < 0)
                return r;
        while (search_next(s->dirs, &pos, &index, &hdr, &data)) {
                uint64_t parent;
                uint16_t len;
                size_t off;

                if (hdr.objectid != ino)
                        continue;
                if (hdr.type == BTRFS_INODE_REF_KEY) {
                        struct btrfs_inode_ref ref;

                        if (hdr.len < sizeof(ref))
                                continue;
                        memcpy(&ref, data, sizeof(ref));
                        parent = hdr.offset;
                        len = le16toh(ref.name_len);
                        off = sizeof(ref);
                } else if (hdr.type == BTRFS_INODE_EXTREF_KEY) {
                        struct btrfs_inode_extref ref;

                        if (hdr.len < sizeof(ref))
                                continue;
                        memcpy(&ref, data, sizeof(ref));
                        parent = le64toh(ref.parent_objectid);
                        len = le16toh(ref.name_len);
                        off = sizeof(ref);
                } else
                        continue;
                if (len == 0 || len > NAME_MAX || off + len > hdr.len)
                        return -EUCLEAN;
                memcpy(name, data + off, len);
                name[len] = 0;
                *ret_parent = parent;
                return 0;
        }
        return -ENOENT;
}

/* The path of directory ino relative to the subvolume top, borrowed from the cache. */
static int dir_path(BtrfsScan *s, uint64_t ino, const char **ret) {
        _cleanup_free_ char *path = NULL;
        DirCacheSlot *slot;
        uint64_t cur = ino;
        unsigned depth = 0;

        if (ino == CHANGE_SCAN_BTRFS_SUBVOL_INO) {
                *ret = "";
                return 0;
        }
        slot = &s->cache[ino % DIR_CACHE_SLOTS];
        if (slot->path && slot->ino == ino) {
                *ret = slot->path;
                return 0;
        }

        /* Climb to the top (or to a cached ancestor), prepending one name per step. */
        path = strdup("");
        if (!path)
                return -ENOMEM;
        while (cur != CHANGE_SCAN_BTRFS_SUBVOL_INO) {
                char name[NAME_MAX + 1];
                DirCacheSlot *c = &s->cache[cur % DIR_CACHE_SLOTS];
                const char *prefix = NULL;
                uint64_t parent;
                char *joined;
                int r;

                if (cur != ino && c->path && c->ino == cur)
                        prefix = c->path;
                if (prefix) {
                        if (asprintf(&joined, "%s%s%s", prefix, prefix[0] && path[0] ? "/" : "", path) < 0)
                                return -ENOMEM;
                        free(path);
                        path = joined;
                        break;
                }
                if (++depth > CHANGE_SCAN_MAX_DEPTH * 16)
                        return -ELOOP;
                r = dir_parent(s, cur, &parent, name);
                if (r < 0)
                        return r;
                if (asprintf(&joined, "%s%s%s", name, path[0] ? "/" : "", path) < 0)
                        return -ENOMEM;
                free(path);
                path = joined;
                cur = parent;
        }

        free(slot->path);
        slot->ino = ino;
        slot->path = TAKE_PTR(path);
        *ret = slot->path;
        return 0;
}

/* Report every name of one changed inode. */
static int report_inode(BtrfsScan *s, uint64_t ino, const struct btrfs_inode_item *item) {
        struct btrfs_ioctl_search_key *k = &s->refs->args.key;
        uint32_t mode = le32toh(item->mode);
        ChangeScanEntry e = {
                .type = S_ISREG(mode) ? DT_REG : DT_LNK,
                .ino = ino,
                .have_stat = true,
                .size = le64toh(item->size),
                .mtime = timestamp_from_statx((int64_t) le64toh(item->mtime.sec), le32toh(item->mtime.nsec)),
                .ctime = timestamp_from_statx((int64_t) le64toh(item->ctime.sec), le32toh(item->ctime.nsec)),
                .dir_fd = -1,
        };
        bool more = true;
        int r;

        search_key_init(k, ino, BTRFS_INODE_REF_KEY, ino, BTRFS_INODE_EXTREF_KEY, 0);
        while (more) {
                struct btrfs_ioctl_search_header hdr = {};
                const uint8_t *data;
                size_t pos = 0;
                unsigned index = 0;
                struct btrfs_ioctl_search_key next;

                r = search_run(s->fd, s->refs);
                if (r < 0)
                        return r;
                if (k->nr_items == 0)
                        break;
                next = *k;
                while (search_next(s->refs, &pos, &index, &hdr, &data)) {
                        size_t off = 0;

                        if (hdr.objectid != ino ||
                            (hdr.type != BTRFS_INODE_REF_KEY && hdr.type != BTRFS_INODE_EXTREF_KEY))
                                continue;
                        /* One item packs every name the inode has in one directory (or hash bucket). */
                        while (off < hdr.len) {
                                uint64_t parent;
                                uint16_t len;
                                const char *dir;
                                size_t dlen;

                                if (hdr.type == BTRFS_INODE_REF_KEY) {
                                        struct btrfs_inode_ref ref;

                                        if (off + sizeof(ref) > hdr.len)
                                                return -EUCLEAN;
                                        memcpy(&ref, data + off, sizeof(ref));
                                        parent = hdr.offset;
                                        len = le16toh(ref.name_len);
                                        off += sizeof(ref);
                                } else {
                                        struct btrfs_inode_extref ref;

                                        if (off + sizeof(ref) > hdr.len)
                                                return -EUCLEAN;
                                        memcpy(&ref, data + off, sizeof(ref));
                                        parent = le64toh(ref.parent_objectid);
                                        len = le16toh(ref.name_len);
                                        off += sizeof(ref);
                                }
                                if (len == 0 || len > NAME_MAX || off + len > hdr.len)
                                        return -EUCLEAN;

                                r = dir_path(s, parent, &dir);
                                if (r == -ENOENT) {     /* directory deleted meanwhile */
                                        off += len;
                                        continue;
                                }
                                if (r < 0)
                                        return r;
                                dlen = strlen(dir);
                                r = buffer_reserve(&s->path, &s->path_size, dlen + 1 + len + 1);
                                if (r < 0)
                                        return r;
                                memcpy(s->path, dir, dlen);
                                if (dlen)
                                        s->path[dlen++] = '/';
                                memcpy(s->path + dlen, data + off, len);
                                s->path[dlen + len] = 0;
                                off += len;

                                e.path = s->path;
                                e.name = s->path + dlen;
                                r = s->callback(&e, s->userdata);
                                if (r < 0)
                                        return r;
                        }
                }
                more = search_key_advance(&next, hdr.objectid, hdr.type, hdr.offset) &&
                       next.min_objectid == ino && next.min_type <= BTRFS_INODE_EXTREF_KEY;
                *k = next;
        }
        return 0;
}

int change_scan_btrfs_probe(const char *subvol_path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ SearchArgs *a = NULL;
        int r;

        if (!subvol_path)
                return -EINVAL;
        fd = open_subvol(subvol_path);
        if (fd < 0)
                return fd;
        r = check_btrfs(fd, true);
        if (r < 0)
                return r;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        /* The top directory's inode item: one tiny search that needs the same privilege. */
        search_key_init(&a->args.key, CHANGE_SCAN_BTRFS_SUBVOL_INO, BTRFS_INODE_ITEM_KEY,
                        CHANGE_SCAN_BTRFS_SUBVOL_INO, BTRFS_INODE_ITEM_KEY, 0);
        return search_run(fd, a);
}

int change_scan_btrfs_changed(const char *subvol_path, uint64_t since_generation, ChangeScanCallback callback,
                              void *userdata) {
        _cleanup_(btrfs_scan_done) BtrfsScan s = { .fd = -EBADF };
        struct btrfs_ioctl_search_key *k;
        int r;

        if (!subvol_path || !callback)
                return -EINVAL;
        s.callback = callback;
        s.userdata = userdata;
        s.since = since_generation;

        s.fd = open_subvol(subvol_path);
        if (s.fd < 0)
                return s.fd;
        r = check_btrfs(s.fd, true);
        if (r < 0)
                return r;
        s.items = calloc(1, sizeof(*s.items));
        s.refs = calloc(1, sizeof(*s.refs));
        s.dirs = calloc(1, sizeof(*s.dirs));
        if (!s.items || !s.refs || !s.dirs)
                return -ENOMEM;

        /*
         * Every item from the first inode to the last; blocks not written after the generation
         * are skipped by the kernel, everything else in the range comes back (the range is over
         * whole keys, not per field), so the type is filtered here.
         */
        k = &s.items->args.key;
        search_key_init(k, CHANGE_SCAN_BTRFS_SUBVOL_INO, BTRFS_INODE_ITEM_KEY, BTRFS_LAST_FREE_OBJECTID,
                        BTRFS_INODE_ITEM_KEY,
                        since_generation == UINT64_MAX ? UINT64_MAX : since_generation + 1);
        for (;;) {
                struct btrfs_ioctl_search_header hdr = {};
                const uint8_t *data;
                size_t pos = 0;
                unsigned index = 0;
                struct btrfs_ioctl_search_key next;

                r = search_run(s.fd, s.items);
                if (r < 0)
                        return r;
                if (k->nr_items == 0)
                        break;
                next = *k;
                while (search_next(s.items, &pos, &index, &hdr, &data)) {
                        struct btrfs_inode_item item;
                        uint32_t mode;

                        if (hdr.type != BTRFS_INODE_ITEM_KEY || hdr.len < sizeof(item))
                                continue;
                        memcpy(&item, data, sizeof(item));
                        mode = le32toh(item.mode);
                        if (le64toh(item.transid) <= since_generation || le32toh(item.nlink) == 0)
                                continue;
                        if (!S_ISREG(mode) && !S_ISLNK(mode))
                                continue;
                        r = report_inode(&s, hdr.objectid, &item);
                        if (r < 0)
                                return r;
                }
                if (!search_key_advance(&next, hdr.objectid, hdr.type, hdr.offset) ||
                    next.min_objectid > BTRFS_LAST_FREE_OBJECTID)
                        break;
                *k = next;
                k->max_objectid = BTRFS_LAST_FREE_OBJECTID;
                k->max_type = BTRFS_INODE_ITEM_KEY;
                k->max_offset = UINT64_MAX;
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan-bulk.c: choosing and running a file system's bulk inode scan for a walk by
 * times, and the set of candidate inodes it yields (see change-scan-bulk.h).
 *
 * Three questions decide whether a bulk scan may stand in for the statx of every file:
 * - Would it see what the walk's statx sees? bulkstat reports XFS's in-memory inodes, so
 *   always; ext4's inode tables on the device are what the kernel sees only while nothing
 *   writes to them, so only on a read-only superblock (a snapshot mounted for a backup). A
 *   file with something mounted on it is reached by statx as the mounted file and by its
 *   inode number as the one below: then no bulk scan.
 * - Is it allowed? bulkstat needs CAP_SYS_ADMIN, reading the device read access to it.
 * - Does it pay? It reads every inode of the file system, the walk only its own tree: the
 *   tree must hold a fair share of the file system's inodes. A getdents64-only count of the
 *   tree, stopped as soon as it reaches that share, answers it for a fraction of a walk (and
 *   warms the directories the walk reads next). It runs on the calling thread while the scan
 *   already runs on others, and cancels the scan when the answer is no.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "change-scan-bulk.h"

/* A bulk scan must touch at most this many inodes of the file system per file of the tree:
 * XFS bulkstat costs about a third of a statx per inode, an ext4 inode-table read a tenth. */
#define BULK_SHARE_XFS 3U
#define BULK_SHARE_EXT4 8U

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

/* ------------------------------------------------------------------------------------------ */
/* ChangeSet: open addressing over uint64_t, 0 = empty                                         */
/* ------------------------------------------------------------------------------------------ */

struct ChangeSet {
        pthread_mutex_t lock;
        uint64_t *slots;
        size_t mask;    /* slots - 1, a power of two minus one */
        size_t n;
};

ChangeSet *change_set_new(void) {
        ChangeSet *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->slots = calloc(1024, sizeof(uint64_t));
        if (!s->slots) {
                free(s);
                return NULL;
        }
        s->mask = 1023;
        pthread_mutex_init(&s->lock, NULL);
        return s;
}

ChangeSet *change_set_free(ChangeSet *s) {
        if (!s)
                return NULL;
        pthread_mutex_destroy(&s->lock);
        free(s->slots);
        free(s);
        return NULL;
}

static size_t slot_of(uint64_t ino, size_t mask) {
        /* Inode numbers come in runs: mix them (a 64-bit finalizer) so runs do not cluster. */
        ino ^= ino >> 33;
        ino *= UINT64_C(0xff51afd7ed558ccd);
        ino ^= ino >> 33;
        return (size_t) ino & mask;
}

static void insert_slot(uint64_t *slots, size_t mask, uint64_t ino) {
        size_t i = slot_of(ino, mask);

        while (slots[i] != 0 && slots[i] != ino)
                i = (i + 1) & mask;
        slots[i] = ino;
}

int change_set_add(ChangeSet *s, uint64_t ino) {
        int r = 0;

        if (ino == 0)
                return 0;
        pthread_mutex_lock(&s->lock);
        if (change_set_contains(s, ino))
                goto out;
        if (s->n >= CHANGE_SET_MAX) {
                r = -E2BIG;
                goto out;
        }
        if ((s->n + 1) * 2 > s->mask + 1) {     /* keep the load at most one half */
                size_t mask = s->mask * 2 + 1;
                uint64_t *slots = calloc(mask + 1, sizeof(uint64_t));

                if (!slots) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i <= s->mask; i++)
                        if (s->slots[i] != 0)
                                insert_slot(slots, mask, s->slots[i]);
                free(s->slots);
                s->slots = slots;
                s->mask = mask;
        }
        insert_slot(s->slots, s->mask, ino);
        s->n++;
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

bool change_set_contains(const ChangeSet *s, uint64_t ino) {
        size_t i = slot_of(ino, s->mask);

        while (s->slots[i] != 0) {
                if (s->slots[i] == ino)
                        return true;
                i = (i + 1) & s->mask;
        }
        return false;
}

size_t change_set_size(const ChangeSet *s) {
        return s->n;
}

vss_timestamp change_scan_timestamp(int64_t sec, uint32_t nsec) {
        int64_t ns;

        if (sec > INT64_MAX / 1000000000 - 1)
                ns = INT64_MAX;
        else if (sec < INT64_MIN / 1000000000 + 1)
                ns = INT64_MIN;
        else
                ns = sec * 1000000000 + (int64_t) nsec;
        return vss_timestamp_from_unix_ns(ns);
}

/* ------------------------------------------------------------------------------------------ */
/* May a bulk scan stand in, and does it pay?                                                  */
/* ------------------------------------------------------------------------------------------ */

/* mountinfo escapes space, tab, newline and backslash as \ooo. In place. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        *w++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = 0;
}

/*
 * From /proc/self/mountinfo: is the superblock of mount mnt_id read-only, and is anything
 * mounted on a non-directory of that mount? -ENOENT when the mount is not listed.
 */
static int mount_check(uint64_t mnt_id, bool *ret_sb_ro, bool *ret_file_mount) {
        _cleanup_free_ char *line = NULL;
        FILE *f;
        size_t size = 0;
        bool found = false, sb_ro = false, file_mount = false;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        while (getline(&line, &size, f) > 0) {
                char *fields[6], *save = NULL, *tok, *sep;
                unsigned long long id, parent;
                unsigned n = 0;

                line[strcspn(line, "\n")] = 0;
                /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS" */
                sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = 0;
                for (tok = strtok_r(line, " ", &save); tok && n < ELEMENTSOF(fields); tok = strtok_r(NULL, " ", &save))
                        fields[n++] = tok;
                if (n < 5 || sscanf(fields[0], "%llu", &id) != 1 || sscanf(fields[1], "%llu", &parent) != 1)
                        continue;
                if (id == mnt_id) {
                        char *opts, *fsopts = sep + 3;

                        found = true;
                        /* FSTYPE SOURCE SUPEROPTIONS: the third word. */
                        opts = strchr(fsopts, ' ');
                        opts = opts ? strchr(opts + 1, ' ') : NULL;
                        sb_ro = opts && (streq(opts + 1, "ro") || strncmp(opts + 1, "ro,", 3) == 0);
                } else if (parent == mnt_id) {
                        struct statx sx;

                        unescape_octal(fields[4]);
                        if (statx(AT_FDCWD, fields[4], AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC,
                                  STATX_TYPE, &sx) < 0 ||
                            !S_ISDIR(sx.stx_mode))
                                file_mount = true;
                }
        }
        fclose(f);
        if (!found)
                return -ENOENT;
        *ret_sb_ro = sb_ro;
        *ret_file_mount = file_mount;
        return 0;
}

/* The device node of dev, from sysfs (/dev/block/ links need udev), checked to be that device. */
static int device_path(dev_t dev, char **ret) {
        char uevent[64], *line = NULL;
        _cleanup_free_ char *path = NULL;
        size_t size = 0;
        struct stat st;
        FILE *f;

        snprintf(uevent, sizeof(uevent), "/sys/dev/block/%u:%u/uevent", major(dev), minor(dev));
        f = fopen(uevent, "re");
        if (!f)
                return errno == ENOENT ? -ENODEV : -errno;
        while (!path && getline(&line, &size, f) > 0)
                if (strncmp(line, "DEVNAME=", 8) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        if (asprintf(&path, "/dev/%s", line + 8) < 0)
                                path = NULL;
                }
        free(line);
        fclose(f);
        if (!path)
                return -ENODEV;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode) || st.st_rdev != dev)
                return -ENODEV;
        *ret = TAKE_PTR(path);
        return 0;
}

typedef struct ShareCount {
        uint64_t n, enough;
        const _Atomic bool *scan_done;
} ShareCount;

/* Enough once the share is reached; while the scan still runs, the count goes on listing,
 * so that on a cold cache the directories the walk reads next are read while the scan
 * waits for its own reads. */
static int share_count(const ChangeScanEntry *e, void *userdata) {
        ShareCount *c = userdata;

        if (++c->n < c->enough)
                return 0;
        return !c->scan_done || atomic_load_explicit(c->scan_done, memory_order_relaxed) ? -ECANCELED : 0;
}

/* Does the tree below dir_fd hold at least 1/share of the file system's inodes in use?
 * scan_done: the running scan's end, or NULL when none runs meanwhile. */
static int tree_share_enough(int dir_fd, const struct statfs *sfs, unsigned share, const _Atomic bool *scan_done) {
        ShareCount c = { .enough = 1, .scan_done = scan_done };
        int r;

        if (sfs->f_files > sfs->f_ffree)
                c.enough = MAX((uint64_t) (sfs->f_files - sfs->f_ffree) / share, (uint64_t) 1);
        r = change_scan_walk(dir_fd, ".", NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_SERIAL | CHANGE_SCAN_NO_BULK, 0,
                             share_count, &c);
        if (r == 0 && c.n >= c.enough)  /* listed all of it while the scan ran */
                return 0;
        /* A count that fails (a directory it may not read) says nothing about the share: the
         * walk meets the same error at the same entry with or without the scan, so go on. */
        if (r < 0)
                return 0;
        return -EFBIG;
}

/* One bulk scan, run on a thread of its own while the calling thread counts the tree. */
typedef struct BulkRun {
        bool xfs;
        int fd;
        const char *device;
        vss_timestamp since;
        unsigned threads;
        ChangeSet *set;
        _Atomic bool cancel;
        _Atomic bool done;
        int result;
} BulkRun;

static void *bulk_run_thread(void *userdata) {
        BulkRun *run = userdata;

        if (run->xfs)
                run->result = change_scan_xfs_changed(run->fd, run->device, run->since, run->threads, run->set,
                                                      &run->cancel);
        else
                run->result = change_scan_ext4_changed(run->device, run->since, run->set, &run->cancel);
        atomic_store(&run->done, true);
        return NULL;
}

int change_scan_bulk_changed(int dir_fd, const struct statx *sx, vss_timestamp since, unsigned threads,
                             ChangeSet **ret) {
        _cleanup_(change_set_freep) ChangeSet *set = NULL;
        _cleanup_free_ char *device = NULL;
        bool sb_ro = false, file_mount = false, xfs, started = false;
        BulkRun run;
        pthread_t thread;
        sigset_t all, old;
        struct statfs sfs;
        int r;

        if (fstatfs(dir_fd, &sfs) < 0)
                return -errno;
        if ((unsigned long) sfs.f_type == (unsigned long) XFS_SUPER_MAGIC)
                xfs = true;
        else if ((unsigned long) sfs.f_type == (unsigned long) EXT4_SUPER_MAGIC)
                xfs = false;
        else
                return -EOPNOTSUPP;
        if (!(sx->stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;

        r = mount_check(sx->stx_mnt_id, &sb_ro, &file_mount);
        if (r < 0)
                return r;
        if (file_mount)
                return -EXDEV;
        if (xfs) {
                r = change_scan_xfs_probe(dir_fd);
                if (r < 0)
                        return r;
                /* Read-only: the device may be read directly, with bulkstat to fall back on. */
                if (sb_ro && device_path(makedev(sx->stx_dev_major, sx->stx_dev_minor), &device) < 0)
                        device = NULL;
        } else {
                _cleanup_close_ int fd = -EBADF;

                if (!sb_ro)
                        return -EROFS;
                r = device_path(makedev(sx->stx_dev_major, sx->stx_dev_minor), &device);
                if (r < 0)
                        return r;
                fd = open(device, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
        }

        set = change_set_new();
        if (!set)
                return -ENOMEM;
        /* The scan runs on threads of its own, one per further CPU, while this one counts the
         * tree; a tree too small for it to pay cancels it. With one thread (CHANGE_SCAN_SERIAL),
         * one after the other. (More bulkstat threads than CPUs left only contend: measured
         * on 2 cores, two XFS threads beside the count cost more CPU and no time.) */
        run = (BulkRun) { .xfs = xfs, .fd = dir_fd, .device = device, .since = since,
                          .threads = MAX(threads, 2U) - 1, .set = set };
        if (threads > 1 && sigfillset(&all) == 0 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
                started = pthread_create(&thread, NULL, bulk_run_thread, &run) == 0;
                (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        r = tree_share_enough(dir_fd, &sfs, xfs ? BULK_SHARE_XFS : BULK_SHARE_EXT4, started ? &run.done : NULL);
        if (started) {
                if (r < 0)
                        atomic_store(&run.cancel, true);
                (void) pthread_join(thread, NULL);
        } else if (r >= 0) {
                run.threads = threads;
                (void) bulk_run_thread(&run);
        }
        if (r < 0)
                return r;
        if (run.result < 0)
                return run.result;
        *ret = TAKE_PTR(set);
        return 0;
}

int change_scan_bulk_probe(int root_fd, const char *path, vss_timestamp since, size_t *ret_candidates) {
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_(change_set_freep) ChangeSet *set = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct statx sx;
        long r;

        if (!path || !path[0] || since == 0 || !ret_candidates)
                return -EINVAL;
        r = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        if (r < 0)
                return -errno;
        fd = (int) r;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_MNT_ID, &sx) < 0)
                return -errno;
        r = change_scan_bulk_changed(fd, &sx, since, 1, &set);
        if (r < 0)
                return (int) r;
        *ret_candidates = change_set_size(set);
        return 0;
}

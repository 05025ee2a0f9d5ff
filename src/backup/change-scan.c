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
 * any item in it changes). Names come from the inode's back references (INODE_REF and
 * INODE_EXTREF items, keyed right after the inode item), which the same search returns from
 * the same leaf, so a changed inode costs no search of its own; only when its names do not
 * all sit in rewritten leaves (fewer seen than its link count) are they searched for. The
 * directories' own references up to the subvolume top come from the same pass when the
 * directory's inode lives in a returned leaf, else from one search each, with a cache of
 * directory paths, so the cost stays proportional to the changed leaves.
 */
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc-util.h"
#include "change-scan-bulk.h"
#include "change-scan.h"
#include "macro.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

static vss_timestamp timestamp_from_statx(int64_t sec, uint32_t nsec) {
        return change_scan_timestamp(sec, nsec);
}

static unsigned dtype_from_mode(mode_t mode) {
        return IFTODT(mode);
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

/*
 * How the walk runs on several cores and still reports exactly what a one-thread depth-first
 * walk reports, in the same order.
 *
 * The calling thread lists: it reads directories with getdents64 depth first, opens the
 * subdirectories it descends into, and turns every entry it will report into a record of a
 * fixed ring, in the order a serial walk would meet them (a directory's record, then its
 * subtree's records, then an end record). The statx calls, 90 % of a walk by times, are
 * claimed from the ring in batches, by helper threads and by the calling thread alike. The
 * calling thread runs every callback, in ring order, once a record's statx is done. So the
 * callbacks see one thread and one order; only the statx calls run in parallel.
 *
 * What a serial walk decides on the way stays decided in order: an error met while listing
 * (a directory that cannot be opened or read) becomes a record and stops the walk only when
 * the callbacks reach it; a directory a callback skips (CHANGE_SCAN_SKIP) may already be
 * partly listed, and its records are dropped unseen while the listing abandons it.
 *
 * Memory is bounded: WALK_RING records, the getdents buffers of the listing's stack (one per
 * level, CHANGE_SCAN_MAX_DEPTH at most) plus WALK_CHUNKS_AHEAD more whose records wait in the
 * ring, and one fd per open directory among those. Helper threads start only once a walk has
 * queued WALK_PARALLEL_AFTER statx calls, so small walks cost no thread.
 */
#define WALK_RING 4096U
#define WALK_CHUNKS_AHEAD 64U
#define WALK_BATCH 32U
#define WALK_LOW_WATER 512U
#define WALK_PARALLEL_AFTER 256U
#define WALK_MAX_THREADS 8U

#define WALK_STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC)
#define WALK_STATX_MASK (STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME)

/* An open directory: held by its listing level, by each of its getdents buffers, and by its
 * own directory record while that waits in the ring. */
typedef struct WalkNode {
        int fd;
        unsigned refs;
        unsigned level;         /* its level on the listing stack, or UINT_MAX once listed */
        bool skipped;           /* a callback skipped it: the listing abandons it */
} WalkNode;

/* One getdents64 buffer; its records point at the names in it. */
typedef struct WalkChunk {
        struct WalkChunk *next_free;
        WalkNode *dir;
        unsigned refs;
        _Alignas(struct dirent64) uint8_t buf[CHANGE_SCAN_DIRENT_BUFFER];
} WalkChunk;

typedef enum WalkRecordKind {
        RECORD_FILE,            /* a non-directory entry to report (after its statx, when needed) */
        RECORD_DIR,             /* a subdirectory: reported with CHANGE_SCAN_DIRS, entered when child is set */
        RECORD_END,             /* the end of the innermost entered directory */
        RECORD_ERROR,           /* the walk fails here */
} WalkRecordKind;

typedef struct WalkRecord {
        WalkChunk *chunk;       /* FILE, DIR: holds the name and the directory */
        const char *name;
        WalkNode *child;        /* DIR: the directory entered (a reference), NULL when not entered */
        ChangeScanEntry e;      /* type, ino, and the stat fields once have_stat */
        int err;                /* DIR, ERROR: the error of entering or reading; FILE: of its statx */
        WalkRecordKind kind;
        bool need_stat;
        /* Its ring index << 2 | RECORD_PENDING, _BUSY (one thread is on it) or _DONE (the
         * fields above are final). With the index in it, a thread that claimed this slot long
         * ago can never take the record a later lap of the ring put there. */
        _Atomic uint64_t state;
} WalkRecord;

#define RECORD_PENDING 0U
#define RECORD_BUSY 1U
#define RECORD_DONE 2U
#define RECORD_STATE(index, s) ((index) << 2 | (s))

typedef struct ListLevel {
        WalkNode *node;
        WalkChunk *chunk;       /* the buffer being listed (a reference), NULL between reads */
        size_t len, pos;
        bool eof;
} ListLevel;

typedef struct Walk {
        const char *filespec;
        ChangeScanFlags flags;
        vss_timestamp since;
        ChangeScanCallback callback;
        void *userdata;
        uint32_t dev_major, dev_minor;
        uint64_t mnt_id;
        bool have_mnt_id;
        ChangeSet *changed;     /* a bulk scan's candidates: entries not in it cannot pass since */

        /* Listing (calling thread only). */
        bool noatime;
        bool abandon;           /* a node on the listing stack was skipped */
        ListLevel levels[CHANGE_SCAN_MAX_DEPTH];
        unsigned depth;
        unsigned chunks_alive;
        WalkChunk *free_chunks;
        uint64_t stat_listed;   /* records listed that need a statx */

        /* Callbacks (calling thread only). */
        char *path;
        size_t path_size;
        size_t path_lens[CHANGE_SCAN_MAX_DEPTH + 1];
        unsigned cdepth;
        unsigned skip_nest;     /* > 0: inside a skipped directory's records */
        uint64_t head;          /* the next record to report */

        /* Shared with the helpers. tail moves under lock; claim is written under lock and
         * read without it only as a hint. */
        pthread_mutex_t lock;
        pthread_cond_t work_cond;       /* helpers: records to claim, or stop */
        pthread_cond_t done_cond;       /* calling thread: a batch is finished */
        uint64_t tail;
        _Atomic uint64_t claim;
        unsigned idle_helpers;
        bool caller_waiting;
        bool stop;
        pthread_t helpers[WALK_MAX_THREADS];
        unsigned n_helpers;
        bool helpers_tried;

        WalkRecord ring[WALK_RING];
} Walk;

static void node_unref(Walk *w, WalkNode *n) {
        if (!n || --n->refs > 0)
                return;
        (void) close(n->fd);
        free(n);
}

static WalkChunk *chunk_new(Walk *w, WalkNode *dir) {
        WalkChunk *c = w->free_chunks;

        if (c)
                w->free_chunks = c->next_free;
        else {
                c = malloc(sizeof(*c));
                if (!c)
                        return NULL;
        }
        c->next_free = NULL;
        c->dir = dir;
        dir->refs++;
        c->refs = 1;
        w->chunks_alive++;
        return c;
}

static void chunk_unref(Walk *w, WalkChunk *c) {
        if (!c || --c->refs > 0)
                return;
        node_unref(w, c->dir);
        c->next_free = w->free_chunks;
        w->free_chunks = c;
        w->chunks_alive--;
}

/* Drop what a record holds once reported (or dropped). */
static void record_release(Walk *w, WalkRecord *rec) {
        chunk_unref(w, rec->chunk);
        node_unref(w, rec->child);
        rec->chunk = NULL;
        rec->child = NULL;
}

static void walk_stop_helpers(Walk *w) {
        if (w->n_helpers == 0)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->work_cond);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->n_helpers; i++)
                (void) pthread_join(w->helpers[i], NULL);
        w->n_helpers = 0;
}

static void walk_free(Walk *w) {
        if (!w)
                return;
        /* Helpers first: they statx relative to directories the records hold open. */
        walk_stop_helpers(w);
        for (uint64_t i = w->head; i < w->tail; i++)
                record_release(w, &w->ring[i % WALK_RING]);
        while (w->depth > 0) {
                ListLevel *l = &w->levels[--w->depth];

                chunk_unref(w, l->chunk);
                node_unref(w, l->node);
        }
        while (w->free_chunks) {
                WalkChunk *c = w->free_chunks;

                w->free_chunks = c->next_free;
                free(c);
        }
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->work_cond);
        pthread_cond_destroy(&w->done_cond);
        change_set_free(w->changed);
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

static void entry_fill_stat(ChangeScanEntry *e, const struct statx *sx) {
        e->have_stat = true;
        e->type = dtype_from_mode(sx->stx_mode);
        e->ino = sx->stx_ino;
        e->size = sx->stx_size;
        e->mtime = timestamp_from_statx(sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec);
        e->ctime = timestamp_from_statx(sx->stx_ctime.tv_sec, sx->stx_ctime.tv_nsec);
}

/* ---- the statx batches, run by helpers and by the calling thread ---- */

static bool walk_claim(Walk *w, uint64_t *ret_from, uint64_t *ret_to) {
        uint64_t from = atomic_load_explicit(&w->claim, memory_order_relaxed);

        if (from == w->tail)
                return false;
        *ret_from = from;
        *ret_to = MIN(from + WALK_BATCH, w->tail);
        atomic_store_explicit(&w->claim, *ret_to, memory_order_relaxed);
        return true;
}

/*
 * statx every record of [from, to) that is still pending and mark each done, in order. Each
 * record is taken on its own (pending → busy), so the calling thread can take over the rest of
 * a batch whose helper was preempted: a descheduled helper then delays the walk by at most the
 * one statx it is in. A record is not touched after it is marked done: the calling thread may
 * report it and reuse its slot.
 */
static void walk_stat_batch(Walk *w, uint64_t from, uint64_t to) {
        for (uint64_t i = from; i < to; i++) {
                WalkRecord *rec = &w->ring[i % WALK_RING];
                uint64_t expected = RECORD_STATE(i, RECORD_PENDING);

                if (!atomic_compare_exchange_strong_explicit(&rec->state, &expected, RECORD_STATE(i, RECORD_BUSY),
                                                             memory_order_acquire, memory_order_relaxed))
                        continue;
                if (rec->need_stat) {
                        struct statx sx;

                        if (statx(rec->chunk->dir->fd, rec->name, WALK_STATX_FLAGS, WALK_STATX_MASK, &sx) < 0)
                                rec->err = -errno;
                        else
                                entry_fill_stat(&rec->e, &sx);
                }
                atomic_store_explicit(&rec->state, RECORD_STATE(i, RECORD_DONE), memory_order_release);
        }
}

static bool walk_record_done(Walk *w, uint64_t index) {
        return atomic_load_explicit(&w->ring[index % WALK_RING].state, memory_order_acquire) ==
               RECORD_STATE(index, RECORD_DONE);
}

static void *walk_helper(void *userdata) {
        Walk *w = userdata;
        uint64_t from, to;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                if (w->stop)
                        break;
                if (!walk_claim(w, &from, &to)) {
                        w->idle_helpers++;
                        pthread_cond_wait(&w->work_cond, &w->lock);
                        w->idle_helpers--;
                        continue;
                }
                pthread_mutex_unlock(&w->lock);
                walk_stat_batch(w, from, to);
                pthread_mutex_lock(&w->lock);
                if (w->caller_waiting)
                        pthread_cond_signal(&w->done_cond);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static unsigned walk_cpus(void) {
        cpu_set_t set;
        int n;

        if (sched_getaffinity(0, sizeof(set), &set) == 0)
                n = CPU_COUNT(&set);
        else
                n = (int) sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : MIN((unsigned) n, WALK_MAX_THREADS);
}

/* One helper per further CPU, started once the walk has enough statx calls queued to pay for
 * them. Helpers block every signal: signals stay with the calling thread. Failing to start
 * one only makes the walk slower. */
static void walk_start_helpers(Walk *w) {
        unsigned n = walk_cpus() - 1;
        sigset_t all, old;

        w->helpers_tried = true;
        if ((w->flags & CHANGE_SCAN_SERIAL) || n == 0)
                return;
        sigfillset(&all);
        if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
                return;
        for (unsigned i = 0; i < n; i++) {
                if (pthread_create(&w->helpers[w->n_helpers], NULL, walk_helper, w) != 0)
                        break;
                w->n_helpers++;
        }
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- listing ---- */

static bool walk_ring_full(const Walk *w) {
        return w->tail - w->head >= WALK_RING;
}

static uint64_t walk_unclaimed(const Walk *w) {
        return w->tail - atomic_load_explicit(&w->claim, memory_order_relaxed);
}

/* The next free record, zeroed; the caller fills it and walk_publish makes it visible. */
static WalkRecord *walk_record_new(Walk *w, uint64_t *pending, WalkRecordKind kind) {
        uint64_t index = w->tail + *pending;
        WalkRecord *rec = &w->ring[index % WALK_RING];

        rec->chunk = NULL;
        rec->name = NULL;
        rec->child = NULL;
        rec->e = (ChangeScanEntry) { .dir_fd = -1 };
        rec->err = 0;
        rec->kind = kind;
        rec->need_stat = false;
        /* Helpers see the fields through the lock walk_publish takes; a stale helper's
         * compare-and-swap for an older lap fails on the index. */
        atomic_store_explicit(&rec->state, RECORD_STATE(index, RECORD_PENDING), memory_order_relaxed);
        (*pending)++;
        return rec;
}

static void walk_publish(Walk *w, uint64_t pending) {
        if (pending == 0)
                return;
        if (!w->helpers_tried && w->stat_listed >= WALK_PARALLEL_AFTER)
                walk_start_helpers(w);
        pthread_mutex_lock(&w->lock);
        w->tail += pending;
        if (w->idle_helpers > 1 && walk_unclaimed(w) > WALK_BATCH)
                pthread_cond_broadcast(&w->work_cond);
        else if (w->idle_helpers > 0)
                pthread_cond_signal(&w->work_cond);
        pthread_mutex_unlock(&w->lock);
}

static int walk_push(Walk *w, int fd, WalkNode **ret_node) {
        WalkNode *n;

        n = malloc(sizeof(*n));
        if (!n) {
                (void) close(fd);
                return -ENOMEM;
        }
        *n = (WalkNode) { .fd = fd, .refs = 1, .level = w->depth };
        w->levels[w->depth++] = (ListLevel) { .node = n };
        *ret_node = n;
        return 0;
}

static void walk_pop(Walk *w, uint64_t *pending) {
        ListLevel *l = &w->levels[--w->depth];

        (void) walk_record_new(w, pending, RECORD_END);
        chunk_unref(w, l->chunk);
        l->node->level = UINT_MAX;
        node_unref(w, l->node);
        *l = (ListLevel) {};
}

/* Turn one directory entry of level l into a record (or none). Returns 1 when it entered a
 * subdirectory, so the listing continues there, depth first. */
static int list_entry(Walk *w, ListLevel *l, const struct dirent64 *d, uint64_t *pending) {
        WalkRecord *rec;
        struct statx sx;
        bool stated = false;
        unsigned type = d->d_type;
        int r;

        if (streq(d->d_name, ".") || streq(d->d_name, ".."))
                return 0;

        if (type == DT_UNKNOWN) {
                /* The type decides whether to descend: this statx cannot wait for a batch. */
                if (statx(l->node->fd, d->d_name, WALK_STATX_FLAGS, WALK_STATX_MASK, &sx) < 0) {
                        if (errno == ENOENT)
                                return 0;
                        rec = walk_record_new(w, pending, RECORD_ERROR);
                        rec->err = -errno;
                        return 0;
                }
                type = dtype_from_mode(sx.stx_mode);
                stated = true;
        }

        if (type == DT_DIR) {
                _cleanup_close_ int fd = -EBADF;
                bool same = false;

                if (!(w->flags & CHANGE_SCAN_RECURSIVE))
                        return 0;
                rec = walk_record_new(w, pending, RECORD_DIR);
                rec->chunk = l->chunk;
                l->chunk->refs++;
                rec->name = d->d_name;
                rec->e.type = DT_DIR;
                rec->e.ino = d->d_ino;
                if (stated)
                        entry_fill_stat(&rec->e, &sx);

                fd = open_dir_at(w, l->node->fd, d->d_name);
                /* Gone, or replaced by a symlink or file since getdents: not ours to follow. */
                if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR)
                        return 0;
                if (fd < 0) {
                        rec->err = fd;
                        return 0;
                }
                r = walk_same_filesystem(w, fd, &same);
                if (r < 0) {
                        rec->err = r;
                        return 0;
                }
                if (!same)
                        return 0;
                if (w->depth >= CHANGE_SCAN_MAX_DEPTH) {
                        rec->err = -ELOOP;
                        return 0;
                }
                r = walk_push(w, TAKE_FD(fd), &rec->child);
                if (r < 0)
                        return r;
                rec->child->refs++;
                return 1;
        }

        if (!change_scan_filespec_match(w->filespec, d->d_name))
                return 0;
        /* Not a candidate of the bulk scan: its times are before since, no statx needed. */
        if (w->changed && !stated && !change_set_contains(w->changed, d->d_ino))
                return 0;
        rec = walk_record_new(w, pending, RECORD_FILE);
        rec->chunk = l->chunk;
        l->chunk->refs++;
        rec->name = d->d_name;
        rec->e.type = type;
        rec->e.ino = d->d_ino;
        if (stated)
                entry_fill_stat(&rec->e, &sx);
        else if ((w->flags & CHANGE_SCAN_STAT) || w->since != 0) {
                rec->need_stat = true;
                w->stat_listed++;
        }
        return 0;
}

/* Leave every level from the lowest skipped one up, each with its end record. */
static void list_abandon(Walk *w, uint64_t *pending) {
        unsigned lowest = w->depth;

        for (unsigned i = w->depth; i > 0; i--)
                if (w->levels[i - 1].node->skipped)
                        lowest = i - 1;
        while (w->depth > lowest && w->tail + *pending - w->head < WALK_RING)
                walk_pop(w, pending);
        if (w->depth <= lowest)
                w->abandon = false;
}

/* May the listing read more now? Only with room in the ring and for another buffer. */
static bool walk_can_list(const Walk *w) {
        return w->depth > 0 && !walk_ring_full(w) && w->chunks_alive <= w->depth + WALK_CHUNKS_AHEAD;
}

/*
 * One step of the depth-first listing: entries of the innermost directory until its buffer
 * ends, the ring fills, or it enters a subdirectory; a new buffer when the last one is done;
 * leaving the directory at its end. Errors of the file system become records; only running
 * out of memory stops the walk here.
 */
static int list_step(Walk *w) {
        ListLevel *l = &w->levels[w->depth - 1];
        uint64_t pending = 0;
        int r = 0;

        if (w->abandon) {
                list_abandon(w, &pending);
                walk_publish(w, pending);
                return 0;
        }

        if (l->pos >= l->len) {
                ssize_t n;

                chunk_unref(w, l->chunk);
                l->chunk = NULL;
                if (l->eof) {
                        walk_pop(w, &pending);
                        walk_publish(w, pending);
                        return 0;
                }
                l->chunk = chunk_new(w, l->node);
                if (!l->chunk)
                        return -ENOMEM;
                n = getdents64(l->node->fd, l->chunk->buf, CHANGE_SCAN_DIRENT_BUFFER);
                if (n <= 0) {
                        if (n < 0) {
                                WalkRecord *rec = walk_record_new(w, &pending, RECORD_ERROR);

                                rec->err = -errno;
                        }
                        l->eof = true;
                        l->len = l->pos = 0;
                        walk_publish(w, pending);
                        return 0;
                }
                l->len = (size_t) n;
                l->pos = 0;
        }

        while (l->pos < l->len && w->tail + pending - w->head < WALK_RING) {
                const struct dirent64 *d = (const struct dirent64 *) (l->chunk->buf + l->pos);

                l->pos += d->d_reclen;
                r = list_entry(w, l, d, &pending);
                if (r != 0)
                        break;
        }
        walk_publish(w, pending);
        return r < 0 ? r : 0;
}

/* ---- reporting ---- */

/* Put "<path of the current directory>/<name>" into w->path; returns the offset of name. */
static int walk_set_path(Walk *w, const char *name, size_t *ret_name_off) {
        size_t base = w->path_lens[w->cdepth - 1];
        size_t name_len = strlen(name), off = base ? base + 1 : 0;
        int r;

        r = GREEDY_REALLOC(w->path, w->path_size, off + name_len + 1);
        if (r < 0)
                return r;
        if (base)
                w->path[base] = '/';
        memcpy(w->path + off, name, name_len + 1);
        *ret_name_off = off;
        return 0;
}

static int report_dir(Walk *w, WalkRecord *rec) {
        size_t name_off;
        int r;

        r = walk_set_path(w, rec->name, &name_off);
        if (r < 0)
                return r;
        if (w->flags & CHANGE_SCAN_DIRS) {
                rec->e.path = w->path;
                rec->e.name = w->path + name_off;
                rec->e.dir_fd = rec->chunk->dir->fd;
                r = w->callback(&rec->e, w->userdata);
                if (r < 0)
                        return r;
                if (r == CHANGE_SCAN_SKIP) {
                        if (rec->child) {
                                rec->child->skipped = true;
                                if (rec->child->level != UINT_MAX)
                                        w->abandon = true;
                                w->skip_nest = 1;
                        }
                        return 0;
                }
        }
        if (rec->err < 0)
                return rec->err;
        if (rec->child)
                w->path_lens[w->cdepth++] = strlen(w->path);
        return 0;
}

static int report_file(Walk *w, WalkRecord *rec) {
        size_t name_off;
        int r;

        if (rec->err == -ENOENT)        /* gone since getdents */
                return 0;
        if (rec->err < 0)
                return rec->err;
        if (rec->e.have_stat) {
                if (rec->e.type == DT_DIR)      /* became a directory meanwhile */
                        return 0;
                if (w->since != 0 && rec->e.mtime < w->since && rec->e.ctime < w->since)
                        return 0;
        }
        r = walk_set_path(w, rec->name, &name_off);
        if (r < 0)
                return r;
        rec->e.path = w->path;
        rec->e.name = w->path + name_off;
        rec->e.dir_fd = rec->chunk->dir->fd;
        r = w->callback(&rec->e, w->userdata);
        return r < 0 ? r : 0;
}

static int report_record(Walk *w, WalkRecord *rec) {
        if (w->skip_nest > 0) {
                if (rec->kind == RECORD_DIR && rec->child)
                        w->skip_nest++;
                else if (rec->kind == RECORD_END)
                        w->skip_nest--;
                return 0;
        }
        switch (rec->kind) {
        case RECORD_FILE:
                return report_file(w, rec);
        case RECORD_DIR:
                return report_dir(w, rec);
        case RECORD_END:
                w->cdepth--;
                return 0;
        case RECORD_ERROR:
                return rec->err;
        }
        return -EINVAL;
}

/* Report every finished record at the head of the ring, in order. */
static int walk_report_done(Walk *w) {
        while (w->head < w->tail) {
                WalkRecord *rec = &w->ring[w->head % WALK_RING];
                int r;

                if (!walk_record_done(w, w->head))
                        return 0;
                r = report_record(w, rec);
                record_release(w, rec);
                w->head++;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The calling thread: list ahead, report in order, and statx whatever nobody claimed yet. */
static int walk_run(Walk *w) {
        int r;

        for (;;) {
                uint64_t from, to;
                bool claimed;

                r = walk_report_done(w);
                if (r < 0)
                        return r;
                if (w->depth == 0 && w->head == w->tail)
                        return 0;

                /* Keep the helpers fed first, then help them, then list further ahead. */
                if (walk_can_list(w) && (w->abandon || walk_unclaimed(w) < WALK_LOW_WATER)) {
                        r = list_step(w);
                        if (r < 0)
                                return r;
                        continue;
                }
                pthread_mutex_lock(&w->lock);
                claimed = walk_claim(w, &from, &to);
                pthread_mutex_unlock(&w->lock);
                if (claimed) {
                        walk_stat_batch(w, from, to);
                        continue;
                }
                if (walk_can_list(w)) {
                        r = list_step(w);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Everything is claimed and the head's batch is a helper's. Take over what the
                 * helpers have not started yet, then wait for the one statx in progress. (With
                 * nothing listed, the listing can always go on: no wait without a record.) */
                if (w->head == w->tail)
                        return -EDEADLK;
                walk_stat_batch(w, w->head, atomic_load_explicit(&w->claim, memory_order_relaxed));
                if (walk_record_done(w, w->head))
                        continue;
                pthread_mutex_lock(&w->lock);
                w->caller_waiting = true;
                while (!walk_record_done(w, w->head))
                        pthread_cond_wait(&w->done_cond, &w->lock);
                w->caller_waiting = false;
                pthread_mutex_unlock(&w->lock);
        }
}

int change_scan_walk(int root_fd, const char *path, const char *filespec, ChangeScanFlags flags,
                     vss_timestamp since, ChangeScanCallback callback, void *userdata) {
        _cleanup_(walk_freep) Walk *w = NULL;
        _cleanup_close_ int fd = -EBADF;
        WalkNode *top;
        struct statx sx;
        int r;

        if (!path || !path[0] || !callback)
                return -EINVAL;
        if (filespec && (!filespec[0] || strchr(filespec, '/')))
                return -EINVAL;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->work_cond, NULL);
        pthread_cond_init(&w->done_cond, NULL);
        w->filespec = filespec;
        w->flags = flags;
        w->since = since;
        w->callback = callback;
        w->userdata = userdata;
        w->noatime = true;

        fd = open_start_dir(w, root_fd, path);
        if (fd < 0)
                return fd;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_MNT_ID, &sx) < 0)
                return -errno;
        w->dev_major = sx.stx_dev_major;
        w->dev_minor = sx.stx_dev_minor;
        w->have_mnt_id = sx.stx_mask & STATX_MNT_ID;
        w->mnt_id = sx.stx_mnt_id;

        /* Where the file system can list every inode's times faster than a statx per file
         * can, a bulk scan first narrows the files to statx to its candidates. Without one
         * (other file systems, no privilege, a writable ext4, a small share of a large file
         * system), every file is statx-ed as before. */
        if (since != 0 && (flags & CHANGE_SCAN_RECURSIVE) && !(flags & CHANGE_SCAN_NO_BULK))
                (void) change_scan_bulk_changed(fd, &sx, since, (flags & CHANGE_SCAN_SERIAL) ? 1 : walk_cpus(),
                                                &w->changed);

        r = walk_push(w, TAKE_FD(fd), &top);
        if (r < 0)
                return r;
        w->path_lens[0] = 0;
        w->cdepth = 1;
        return walk_run(w);
}

/* ------------------------------------------------------------------------------------------ */
/* btrfs                                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define SEARCH_BUFFER_SIZE (64U * 1024U)
/* The changed-leaf pass: about 64 leaves' worth of items per ioctl, instead of 4. */
#define ITEMS_BUFFER_SIZE (1024U * 1024U)
#define DIR_CACHE_SLOTS 1024U
#define DIR_REF_SLOTS 4096U
#define PENDING_NAMES_MAX (1024U * 1024U)

typedef struct SearchArgs {
        size_t size;    /* of buf */
        struct btrfs_ioctl_search_args_v2 args;
        uint8_t buf[];
} SearchArgs;

typedef struct DirCacheSlot {
        uint64_t ino;
        char *path;     /* relative to the subvolume top, "" for the top itself */
} DirCacheSlot;

/* A directory's one back reference, seen in the changed-leaf pass (lossy: a miss costs a search). */
typedef struct DirRefSlot {
        uint64_t ino;
        uint64_t parent;
        char *name;
} DirRefSlot;

/*
 * The inode of the changed-leaf pass whose names are being gathered: its item, and its names
 * packed as (u64 parent, u16 length, bytes) records until an item of another inode ends it.
 */
typedef struct PendingInode {
        uint64_t ino;           /* 0: none */
        struct btrfs_inode_item item;
        bool is_dir;
        bool report;
        uint32_t n_names;
        char *names;
        size_t names_len, names_size;
        bool overflow;          /* names beyond PENDING_NAMES_MAX: searched for instead */
} PendingInode;

typedef struct BtrfsScan {
        int fd;
        uint64_t since;
        ChangeScanCallback callback;
        void *userdata;
        SearchArgs *items;      /* the changed-leaf search */
        SearchArgs *refs;       /* the names of one changed inode, when not all in the changed leaves */
        SearchArgs *dirs;       /* the name of one directory */
        DirCacheSlot cache[DIR_CACHE_SLOTS];
        DirRefSlot *dir_refs;   /* DIR_REF_SLOTS */
        PendingInode pending;
        char *path;
        size_t path_size;
} BtrfsScan;

static void btrfs_scan_done(BtrfsScan *s) {
        for (unsigned i = 0; i < DIR_CACHE_SLOTS; i++)
                free(s->cache[i].path);
        if (s->dir_refs)
                for (unsigned i = 0; i < DIR_REF_SLOTS; i++)
                        free(s->dir_refs[i].name);
        free(s->dir_refs);
        free(s->pending.names);
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

static SearchArgs *search_args_new(size_t size) {
        SearchArgs *a = calloc(1, sizeof(SearchArgs) + size);

        if (a)
                a->size = size;
        return a;
}

static int search_run(int fd, SearchArgs *a) {
        a->args.buf_size = a->size;
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
        if (*index >= a->args.key.nr_items || *pos + sizeof(*hdr) > a->size)
                return false;
        memcpy(hdr, a->buf + *pos, sizeof(*hdr));
        *pos += sizeof(*hdr);
        if (*pos + hdr->len > a->size)
                return false;
        *data = a->buf + *pos;
        *pos += hdr->len;
        (*index)++;
        return true;
}

/*
 * One name of an INODE_REF or INODE_EXTREF item at *off (an item packs every name the inode
 * has in one directory, or hash bucket): sets the parent directory, the name and its length,
 * and moves *off past it. -EUCLEAN when the item is malformed.
 */
static int ref_next(const struct btrfs_ioctl_search_header *hdr, const uint8_t *data, size_t *off,
                    uint64_t *ret_parent, const uint8_t **ret_name, uint16_t *ret_len) {
        uint64_t parent;
        uint16_t len;

        if (hdr->type == BTRFS_INODE_REF_KEY) {
                struct btrfs_inode_ref ref;

                if (*off + sizeof(ref) > hdr->len)
                        return -EUCLEAN;
                memcpy(&ref, data + *off, sizeof(ref));
                parent = hdr->offset;
                len = le16toh(ref.name_len);
                *off += sizeof(ref);
        } else {
                struct btrfs_inode_extref ref;

                if (*off + sizeof(ref) > hdr->len)
                        return -EUCLEAN;
                memcpy(&ref, data + *off, sizeof(ref));
                parent = le64toh(ref.parent_objectid);
                len = le16toh(ref.name_len);
                *off += sizeof(ref);
        }
        if (len == 0 || len > NAME_MAX || *off + len > hdr->len)
                return -EUCLEAN;
        *ret_parent = parent;
        *ret_name = data + *off;
        *ret_len = len;
        *off += len;
        return 0;
}

static bool is_ref_type(uint32_t type) {
        return type == BTRFS_INODE_REF_KEY || type == BTRFS_INODE_EXTREF_KEY;
}

/* The first back reference of a directory: its parent and its name. -ENOENT when none (deleted). */
static int dir_parent(BtrfsScan *s, uint64_t ino, uint64_t *ret_parent, char name[static NAME_MAX + 1]) {
        struct btrfs_ioctl_search_header hdr;
        const uint8_t *data;
        size_t pos = 0;
        unsigned index = 0;
        DirRefSlot *slot = &s->dir_refs[ino % DIR_REF_SLOTS];
        int r;

        if (slot->name && slot->ino == ino) {
                strcpy(name, slot->name);
                *ret_parent = slot->parent;
                return 0;
        }
        search_key_init(&s->dirs->args.key, ino, BTRFS_INODE_REF_KEY, ino, BTRFS_INODE_EXTREF_KEY, 0);
        r = search_run(s->fd, s->dirs);
        if (r < 0)
                return r;
        while (search_next(s->dirs, &pos, &index, &hdr, &data)) {
                const uint8_t *n;
                size_t off = 0;
                uint16_t len;

                if (hdr.objectid != ino || !is_ref_type(hdr.type))
                        continue;
                r = ref_next(&hdr, data, &off, ret_parent, &n, &len);
                if (r < 0)
                        return r;
                memcpy(name, n, len);
                name[len] = 0;
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

/* The entry of a changed inode, from its inode item; path and name are set per name. */
static ChangeScanEntry entry_from_item(uint64_t ino, const struct btrfs_inode_item *item) {
        uint32_t mode = le32toh(item->mode);

        return (ChangeScanEntry) {
                .type = S_ISREG(mode) ? DT_REG : S_ISDIR(mode) ? DT_DIR : DT_LNK,
                .ino = ino,
                .have_stat = true,
                .size = le64toh(item->size),
                .mtime = timestamp_from_statx((int64_t) le64toh(item->mtime.sec), le32toh(item->mtime.nsec)),
                .ctime = timestamp_from_statx((int64_t) le64toh(item->ctime.sec), le32toh(item->ctime.nsec)),
                .dir_fd = -1,
        };
}

/* Report one name (in directory parent) of a changed inode; a directory deleted meanwhile is skipped. */
static int report_name(BtrfsScan *s, ChangeScanEntry *e, uint64_t parent, const uint8_t *name, uint16_t len) {
        const char *dir;
        size_t dlen;
        int r;

        r = dir_path(s, parent, &dir);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        dlen = strlen(dir);
        r = GREEDY_REALLOC(s->path, s->path_size, dlen + 1 + len + 1);
        if (r < 0)
                return r;
        memcpy(s->path, dir, dlen);
        if (dlen)
                s->path[dlen++] = '/';
        memcpy(s->path + dlen, name, len);
        s->path[dlen + len] = 0;
        e->path = s->path;
        e->name = s->path + dlen;
        return s->callback(e, s->userdata);
}

/* Report every name of one changed inode, searching for its back references. */
static int report_inode(BtrfsScan *s, uint64_t ino, const struct btrfs_inode_item *item) {
        struct btrfs_ioctl_search_key *k = &s->refs->args.key;
        ChangeScanEntry e = entry_from_item(ino, item);
        bool more = true;
        int r;

        /* The top directory has no name of its own (its one ref is ".." to itself). */
        if (ino == CHANGE_SCAN_BTRFS_SUBVOL_INO) {
                e.path = e.name = "";
                return s->callback(&e, s->userdata);
        }
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

                        if (hdr.objectid != ino || !is_ref_type(hdr.type))
                                continue;
                        while (off < hdr.len) {
                                const uint8_t *name;
                                uint64_t parent;
                                uint16_t len;

                                r = ref_next(&hdr, data, &off, &parent, &name, &len);
                                if (r < 0)
                                        return r;
                                r = report_name(s, &e, parent, name, len);
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

/* Remember a directory's name seen in the changed-leaf pass, so resolving paths under it needs no search. */
static int dir_ref_remember(BtrfsScan *s, uint64_t ino, uint64_t parent, const uint8_t *name, uint16_t len) {
        DirRefSlot *slot = &s->dir_refs[ino % DIR_REF_SLOTS];
        char *copy;

        if (slot->name && slot->ino == ino)
                return 0;
        copy = strndup((const char *) name, len);
        if (!copy)
                return -ENOMEM;
        free(slot->name);
        *slot = (DirRefSlot) { .ino = ino, .parent = parent, .name = copy };
        return 0;
}

/* Start gathering the names of the inode whose item the changed-leaf pass just returned. */
static void pending_start(BtrfsScan *s, uint64_t ino, const struct btrfs_inode_item *item, bool report) {
        PendingInode *p = &s->pending;

        p->ino = ino;
        p->item = *item;
        p->is_dir = S_ISDIR(le32toh(item->mode));
        p->report = report;
        p->n_names = 0;
        p->names_len = 0;
        p->overflow = false;
}

/* One back reference item of the pending inode: every name in it. */
static int pending_add(BtrfsScan *s, const struct btrfs_ioctl_search_header *hdr, const uint8_t *data) {
        PendingInode *p = &s->pending;
        size_t off = 0;
        int r;

        while (off < hdr->len) {
                const uint8_t *name;
                uint64_t parent;
                uint16_t len;
                size_t need;

                r = ref_next(hdr, data, &off, &parent, &name, &len);
                if (r < 0)
                        return r;
                if (p->is_dir && p->n_names == 0) {
                        r = dir_ref_remember(s, p->ino, parent, name, len);
                        if (r < 0)
                                return r;
                }
                p->n_names++;
                if (!p->report || p->overflow)
                        continue;
                need = sizeof(parent) + sizeof(len) + len;
                if (p->names_len + need > PENDING_NAMES_MAX) {
                        p->overflow = true;
                        continue;
                }
                r = GREEDY_REALLOC(p->names, p->names_size, p->names_len + need);
                if (r < 0)
                        return r;
                memcpy(p->names + p->names_len, &parent, sizeof(parent));
                memcpy(p->names + p->names_len + sizeof(parent), &len, sizeof(len));
                memcpy(p->names + p->names_len + sizeof(parent) + sizeof(len), name, len);
                p->names_len += need;
        }
        return 0;
}

/*
 * The pending inode's items are all behind us: report it. Its names are complete when there
 * are as many as its link count (a directory has one); fewer means some sit in leaves the
 * search skipped as unchanged, and then the names are searched for.
 */
static int pending_finish(BtrfsScan *s) {
        PendingInode *p = &s->pending;
        uint32_t want;
        ChangeScanEntry e;
        size_t off = 0;
        int r;

        if (p->ino == 0)
                return 0;
        if (!p->report) {
                p->ino = 0;
                return 0;
        }
        want = p->is_dir ? 1 : le32toh(p->item.nlink);
        if (p->ino == CHANGE_SCAN_BTRFS_SUBVOL_INO || p->overflow || p->n_names < want) {
                r = report_inode(s, p->ino, &p->item);
                p->ino = 0;
                return r;
        }
        e = entry_from_item(p->ino, &p->item);
        while (off < p->names_len) {
                uint64_t parent;
                uint16_t len;

                memcpy(&parent, p->names + off, sizeof(parent));
                memcpy(&len, p->names + off + sizeof(parent), sizeof(len));
                off += sizeof(parent) + sizeof(len);
                r = report_name(s, &e, parent, (const uint8_t *) p->names + off, len);
                if (r < 0)
                        return r;
                off += len;
        }
        p->ino = 0;
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
        a = search_args_new(SEARCH_BUFFER_SIZE);
        if (!a)
                return -ENOMEM;
        /* The top directory's inode item: one tiny search that needs the same privilege. */
        search_key_init(&a->args.key, CHANGE_SCAN_BTRFS_SUBVOL_INO, BTRFS_INODE_ITEM_KEY,
                        CHANGE_SCAN_BTRFS_SUBVOL_INO, BTRFS_INODE_ITEM_KEY, 0);
        return search_run(fd, a);
}

int change_scan_btrfs_changed(const char *subvol_path, uint64_t since_generation, ChangeScanCallback callback,
                              void *userdata) {
        return change_scan_btrfs_changed_flags(subvol_path, since_generation, 0, callback, userdata);
}

int change_scan_btrfs_changed_flags(const char *subvol_path, uint64_t since_generation, ChangeScanFlags flags,
                                    ChangeScanCallback callback, void *userdata) {
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
        s.items = search_args_new(ITEMS_BUFFER_SIZE);
        s.refs = search_args_new(SEARCH_BUFFER_SIZE);
        s.dirs = search_args_new(SEARCH_BUFFER_SIZE);
        s.dir_refs = calloc(DIR_REF_SLOTS, sizeof(*s.dir_refs));
        if (!s.items || !s.refs || !s.dirs || !s.dir_refs)
                return -ENOMEM;

        /*
         * Every item from the first inode to the last; blocks not written after the generation
         * are skipped by the kernel, everything else in the range comes back (the range is over
         * whole keys, not per field): the inode items, and right after each its back references,
         * which name it. Other types are skipped here.
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
                        bool report;

                        if (s.pending.ino != 0 && hdr.objectid == s.pending.ino && is_ref_type(hdr.type)) {
                                r = pending_add(&s, &hdr, data);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (s.pending.ino != 0 && (hdr.objectid != s.pending.ino || hdr.type > BTRFS_INODE_EXTREF_KEY)) {
                                r = pending_finish(&s);
                                if (r < 0)
                                        return r;
                        }
                        if (hdr.type != BTRFS_INODE_ITEM_KEY || hdr.len < sizeof(item))
                                continue;
                        memcpy(&item, data, sizeof(item));
                        mode = le32toh(item.mode);
                        if (le32toh(item.nlink) == 0)
                                continue;
                        report = le64toh(item.transid) > since_generation &&
                                 (S_ISREG(mode) || S_ISLNK(mode) || (S_ISDIR(mode) && (flags & CHANGE_SCAN_DIRS)));
                        /* Unchanged directories are gathered too: their names resolve paths below them. */
                        if (report || S_ISDIR(mode))
                                pending_start(&s, hdr.objectid, &item, report);
                }
                if (!search_key_advance(&next, hdr.objectid, hdr.type, hdr.offset) ||
                    next.min_objectid > BTRFS_LAST_FREE_OBJECTID)
                        break;
                *k = next;
                k->max_objectid = BTRFS_LAST_FREE_OBJECTID;
                k->max_type = BTRFS_INODE_ITEM_KEY;
                k->max_offset = UINT64_MAX;
        }
        return pending_finish(&s);
}

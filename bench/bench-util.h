/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.h: what the benchmark needs beyond tests/root/root-harness.h: filesystems of any
 * type on loop devices (the image provider's volumes and their XFS host), a fast C loop that
 * fills a directory with many small files, a daemon started with its log in a file, and the
 * order statistics the tables print.
 *
 * Everything here needs root. Functions return 0 or a negative errno; ret_* outputs are
 * written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A filesystem made in an image file, attached to an autoclear loop device and mounted. */
typedef struct BenchFs {
        char *image;  /* the image file (owned; deleted by bench_fs_destroy) */
        char *mnt;    /* the mount point (owned; created and removed here) */
        bool mounted;
} BenchFs;

/*
 * bench_fs_make: create image (sparse, size bytes; must not exist), mkfs it as fstype with
 * mkfs_args (NULL-terminated extra arguments placed before the image path; may be NULL),
 * attach it to a free loop device with LO_FLAGS_AUTOCLEAR and mount it at mnt (created).
 * The device goes away with the mount. Undoes everything on failure; *ret untouched then.
 * Ownership: *ret is ended by bench_fs_destroy().
 */
int bench_fs_make(const char *image, uint64_t size, const char *fstype, const char *const *mkfs_args,
                  const char *mnt, BenchFs *ret);

/* bench_fs_destroy: thaw (should a freeze have been left behind), unmount, delete the image
 * and the mount point. Safe on a zeroed or half-made BenchFs and idempotent; returns the
 * first error met and carries on regardless. */
int bench_fs_destroy(BenchFs *fs);

/*
 * populate_tree: create files small files under dir, 100 per subdirectory ("d0000/f000000"),
 * 50–130 bytes each, through directory fds (no path walk per file), then syncfs(). Something
 * like a tree of configuration or source. The directory must be empty of these names.
 */
int populate_tree(const char *dir, unsigned files);

/* syncfs_path: syncfs() the filesystem holding the directory path; NULL is a no-op. Unlike
 * sync() it does not wait for other filesystems' dirty data. */
int syncfs_path(const char *path);

/* spawn_logged: in root-harness.h. */

/*
 * log_find_last_ms: in path from byte *offset on, the number after the last occurrence of
 * marker (e.g. "frozen for " followed by "1.234 ms"). Advances *offset to the end of the file.
 * Returns 1 and *ret_ms when found, 0 when not, negative errno when the file cannot be read.
 */
int log_find_last_ms(const char *path, const char *marker, size_t *offset, double *ret_ms);

/* Order statistics of n samples (n > 0), sorted in place first by stats_sort(). */
void stats_sort(double *v, unsigned n);
double stats_median(const double *sorted, unsigned n);
/* Nearest-rank percentile (pct 0..100) of a sorted array. */
double stats_percentile(const double *sorted, unsigned n, unsigned pct);

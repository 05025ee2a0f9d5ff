/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan-bulk.h: the candidates of a walk by times, from a file system's own inode
 * tables instead of one statx per file (internal to change-scan).
 *
 * A walk by times must look at the times of every file, and a statx per file is a path lookup
 * plus a getattr in the kernel: ≈ 90 % of the walk, and exactly what `find -newer` does too.
 * XFS (bulkstat) and ext4 (its inode tables, read through libext2fs from a read-only
 * superblock's device) can list every inode's times in inode order with no path lookup at a
 * fraction of that cost. The result is a ChangeSet: the inode numbers whose mtime or ctime
 * is near or after the walk's time. The walk then reads directories with getdents64 only
 * and statx-es just the entries whose d_ino is in the set, so what it reports is decided by
 * the same statx as without the set: the set only removes entries that could not pass.
 *
 * Functions return 0 or a negative errno; any error makes the walk statx every file, as it
 * does on other file systems.
 */
#pragma once

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "change-scan.h"
#include "macro.h"

/* A set of inode numbers (0 is never one), bounded: more than CHANGE_SET_MAX is -E2BIG. */
typedef struct ChangeSet ChangeSet;

#define CHANGE_SET_MAX (UINT32_C(1) << 21)

/* The bulk scans keep inodes this much older than the walk's time: the set is a filter for the
 * statx that decides, and a filter must never drop what the statx would keep. */
#define CHANGE_SET_SLACK_FILETIME (INT64_C(2) * 10000000)

ChangeSet *change_set_new(void);
ChangeSet *change_set_free(ChangeSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ChangeSet *, change_set_free);
/* change_set_add: thread-safe (the XFS scan adds from several threads). */
int change_set_add(ChangeSet *s, uint64_t ino);
bool change_set_contains(const ChangeSet *s, uint64_t ino);
size_t change_set_size(const ChangeSet *s);

/* A statx or inode time as FILETIME; saturates instead of overflowing on absurd values. */
vss_timestamp change_scan_timestamp(int64_t sec, uint32_t nsec);

/* Does an inode with these times belong in the set for a walk since `since`? */
static inline bool change_set_wants(vss_timestamp mtime, vss_timestamp ctime, vss_timestamp since) {
        vss_timestamp from = since > INT64_MIN + CHANGE_SET_SLACK_FILETIME ? since - CHANGE_SET_SLACK_FILETIME : since;

        return mtime >= from || ctime >= from;
}

/*
 * change_scan_bulk_changed: the candidate set for a recursive walk by times of the directory
 * open at dir_fd (sx: its statx with STATX_MNT_ID), or a negative errno saying why there is
 * none: -EOPNOTSUPP (not XFS or ext4, or no bulk scan built in), -EPERM / -EACCES (no
 * CAP_SYS_ADMIN for bulkstat, no read access to the device), -EROFS (ext4 whose superblock is
 * writable: its inode tables may change under the scan), -EXDEV (something is mounted on a
 * file in the walk's mount, where the walk's statx would see the mounted file), -EFBIG (the
 * tree holds too small a share of the file system's inodes for a whole-file-system scan to
 * pay), -E2BIG (too many candidates), or the scan's own error. threads: 1 or more.
 */
int change_scan_bulk_changed(int dir_fd, const struct statx *sx, vss_timestamp since, unsigned threads,
                             ChangeSet **ret);

/* change_scan_xfs_probe: may this process bulkstat the XFS holding dir_fd? 0, -EPERM, ... */
int change_scan_xfs_probe(int dir_fd);
/* The file-system scans behind it; each adds the inodes change_set_wants of its file system,
 * and stops with -ECANCELED soon after *cancel turns true. device: for XFS, the device of a
 * read-only superblock, read directly (change-scan-xfs-dev.c) with bulkstat to fall back on;
 * NULL for bulkstat alone. */
int change_scan_xfs_changed(int dir_fd, const char *device, vss_timestamp since, unsigned threads, ChangeSet *set,
                            const _Atomic bool *cancel);
int change_scan_ext4_changed(const char *device, vss_timestamp since, ChangeSet *set, const _Atomic bool *cancel);

/*
 * The direct reader of a read-only XFS's device (change-scan-xfs-dev.c). open: reads and
 * checks the superblock against geo (the mount's XFS_IOC_FSGEOMETRY); -EOPNOTSUPP for a
 * file system it does not read (not version 5, feature bits it does not know), -EUCLEAN for
 * one that is inconsistent or not the mount's. scan_ag: adds the inodes change_set_wants of
 * allocation group ag; -EUCLEAN for anything that does not check out (then fall back on
 * bulkstat: the set may hold some of the group's inodes, which only makes them candidates).
 * A scan_ag per thread at once is fine; the XfsDev is only read.
 */
struct xfs_fsop_geom;
typedef struct XfsDev XfsDev;
int change_scan_xfs_dev_open(const char *device, const struct xfs_fsop_geom *geo, XfsDev **ret);
XfsDev *change_scan_xfs_dev_free(XfsDev *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(XfsDev *, change_scan_xfs_dev_free);
uint32_t change_scan_xfs_dev_agcount(const XfsDev *d);
/* false: bulkstat alone, as before the device reader (for bench-selection's comparison row). */
extern bool change_scan_xfs_dev_enabled;
int change_scan_xfs_dev_scan_ag(const XfsDev *d, uint32_t ag, vss_timestamp since, ChangeSet *set,
                                const _Atomic bool *cancel);

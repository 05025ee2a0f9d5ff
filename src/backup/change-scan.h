/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan.h: enumerate the candidate files of a backup, fast and with bounded memory.
 *
 * Two sources: a directory walk (any file system; getdents64 + statx only where needed) and,
 * on btrfs, a scan of the subvolume's own metadata for inodes changed after a transaction
 * generation, which costs O(changed) instead of O(files). Both stream entries to a callback
 * and hold no list of paths. file-select.[ch] builds the VSS selection (vss-semantics.md §9)
 * on top of them. Functions return 0 or a negative errno.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vss/vss-common.h"

/* Directory levels a walk descends at most; deeper trees fail with -ELOOP rather than be
 * partly skipped. Memory is at most this many getdents buffers (CHANGE_SCAN_DIRENT_BUFFER). */
#define CHANGE_SCAN_MAX_DEPTH 256U
#define CHANGE_SCAN_DIRENT_BUFFER (16U * 1024U)

/* btrfs objectid of a subvolume's top directory (BTRFS_FIRST_FREE_OBJECTID). */
#define CHANGE_SCAN_BTRFS_SUBVOL_INO 256U

typedef enum ChangeScanFlags {
        CHANGE_SCAN_RECURSIVE         = 1u << 0, /* descend into subdirectories */
        CHANGE_SCAN_STAT              = 1u << 1, /* fill times and size of every entry reported */
        CHANGE_SCAN_DIRS              = 1u << 2, /* report directories before descending (see CHANGE_SCAN_SKIP) */
        CHANGE_SCAN_CROSS_SUBVOLUMES  = 1u << 3, /* descend into other btrfs subvolumes of the same mount */
        CHANGE_SCAN_SERIAL            = 1u << 4, /* one thread only (same result, same order; for tests and comparisons) */
        CHANGE_SCAN_NO_BULK           = 1u << 5, /* statx every file, no bulk inode scan (same result; for tests and comparisons) */
} ChangeScanFlags;

/* A callback's return for a directory entry: do not descend into it. */
#define CHANGE_SCAN_SKIP 1

typedef struct ChangeScanEntry {
        const char *path;       /* relative to the scan's start, '/'-separated, never empty */
        const char *name;       /* the last component (points into path) */
        unsigned type;          /* DT_REG, DT_LNK, DT_DIR, or another DT_* for special files */
        uint64_t ino;
        bool have_stat;         /* the next three are valid */
        vss_timestamp mtime;
        vss_timestamp ctime;
        uint64_t size;
        int dir_fd;             /* walk: the directory holding the entry, valid during the call; -1 otherwise */
} ChangeScanEntry;

/*
 * A callback sees each entry once; everything in *entry is borrowed for the call only.
 * Return < 0 to stop the scan with that error, CHANGE_SCAN_SKIP on a directory to leave it
 * out, 0 otherwise.
 */
typedef int (*ChangeScanCallback)(const ChangeScanEntry *entry, void *userdata);

/*
 * change_scan_walk: walk the directory path (relative to root_fd, or absolute; root_fd may be
 * AT_FDCWD) and report every non-directory entry whose name matches filespec ('*', '?'; see
 * change_scan_filespec_match; NULL means "*"), of the start directory only or, with
 * CHANGE_SCAN_RECURSIVE, of the whole tree below it.
 *
 * - since != 0 reports only entries whose mtime or ctime is at or after since (the entry then
 *   carries its times); since == 0 reports all. Times are compared in FILETIME units. A
 *   recursive walk by times on XFS (with CAP_SYS_ADMIN) or on ext4 mounted read-only (with
 *   read access to its device), over a tree that holds a fair share of the file system,
 *   first lists the file system's changed inodes in bulk and then statx-es only entries
 *   whose inode is among them (see change_scan_bulk_probe); what it reports is the same.
 * - Symbolic links are never followed, neither in path (-ELOOP) nor below it; they are
 *   reported as DT_LNK entries. Directories are opened O_NOFOLLOW|O_NOATIME (without
 *   O_NOATIME where the kernel refuses it with EPERM), so a backup scan does not dirty
 *   directory atimes.
 * - The walk stays on the start directory's mount (mount id) and device: other mounts are
 *   never entered, other btrfs subvolumes only with CHANGE_SCAN_CROSS_SUBVOLUMES.
 * - Entries that vanish while the walk runs are skipped; a directory that cannot be read is
 *   an error (a backup must not silently miss files). A start path that does not exist is
 *   -ENOENT. Deeper than CHANGE_SCAN_MAX_DEPTH is -ELOOP.
 * Returns 0, the callback's negative return, or a negative errno.
 */
int change_scan_walk(int root_fd, const char *path, const char *filespec, ChangeScanFlags flags,
                     vss_timestamp since, ChangeScanCallback callback, void *userdata);

/*
 * change_scan_bulk_probe: would a recursive walk by times (since != 0) of path use a bulk
 * inode scan, and how many candidates would it statx? Runs that scan: 0 and
 * *ret_candidates (inodes, not names: a hard link counts once), or a negative errno saying
 * why the walk statx-es every file instead: -EOPNOTSUPP (not XFS or ext4), -EPERM or -EACCES
 * (no CAP_SYS_ADMIN for XFS bulkstat; no read access to the ext4 device), -EROFS (an ext4
 * superblock mounted writable: its inode tables may change under the scan), -EXDEV
 * (something is mounted on a file of that mount), -EFBIG (the tree holds too small a share
 * of the file system's inodes for a scan of all of them to pay), -E2BIG (more than
 * CHANGE_SET_MAX candidates), or another negative errno.
 */
int change_scan_bulk_probe(int root_fd, const char *path, vss_timestamp since, size_t *ret_candidates);

/*
 * change_scan_filespec_match: does name match filespec? '*' matches any run of characters
 * (a leading dot too), '?' exactly one character, everything else itself, case-sensitively.
 * Characters are UTF-8 sequences; a byte that is not part of a well-formed sequence counts as
 * one character, so names in other encodings still match "*" and "?". On valid UTF-8 this is
 * bcd_filespec_match, the rule the writer side checks differenced files with.
 */
bool change_scan_filespec_match(const char *filespec, const char *name);

/*
 * change_scan_btrfs_generation: the btrfs generation to remember for the backup that read
 * path (a subvolume, normally the backup's snapshot), so that the next incremental can ask
 * change_scan_btrfs_changed for what changed after it. For a snapshot that is the
 * transaction that created it (otransid): everything it holds was written at or before it and
 * every later change of its origin, or of the snapshot itself, is newer, even when the
 * snapshot was written to after creation. For a subvolume that is not a snapshot it is the
 * subvolume's current generation. Needs no privilege (BTRFS_IOC_GET_SUBVOL_INFO).
 * -ENOTTY when path is not on btrfs.
 */
int change_scan_btrfs_generation(const char *path, uint64_t *ret_generation);

/*
 * change_scan_btrfs_probe: can change_scan_btrfs_changed scan subvol_path here? 0 when it is
 * the top directory of a btrfs subvolume and the tree-search ioctl is allowed (CAP_SYS_ADMIN);
 * -ENOTTY (not btrfs), -EINVAL (not a subvolume's top), -EPERM, or another negative errno.
 */
int change_scan_btrfs_probe(const char *subvol_path);

/*
 * change_scan_btrfs_changed: report the regular files and symbolic links of the subvolume
 * whose top directory is subvol_path that were created or changed (data, size, times, mode,
 * owner, links, name) in a transaction after since_generation, like `btrfs subvolume
 * find-new` but by inode rather than by data extent. It searches the subvolume's file tree
 * with BTRFS_IOC_TREE_SEARCH_V2 and min_transid, so only metadata blocks written after the
 * generation are read: O(changed), not O(files). Each changed inode is reported once per
 * name (hard links give one entry per path), entry->path relative to subvol_path, with its
 * times and size from the inode. since_generation 0 reports every file.
 *
 * Scan a snapshot (or a subvolume nobody writes to): in-flight changes of a live subvolume
 * may not be in its tree yet. Needs CAP_SYS_ADMIN (-EPERM otherwise: callers fall back to
 * change_scan_walk with a time). Returns 0, the callback's negative return, or a negative errno.
 */
int change_scan_btrfs_changed(const char *subvol_path, uint64_t since_generation, ChangeScanCallback callback,
                              void *userdata);

/*
 * change_scan_btrfs_changed_flags: the same; with CHANGE_SCAN_DIRS, directories whose inode
 * changed after since_generation are reported too (DT_DIR; the subvolume's top as path ""):
 * on btrfs a directory's inode is rewritten whenever an entry is added, removed or renamed in
 * it, so these are the only directories whose listing can differ from the generation's.
 */
int change_scan_btrfs_changed_flags(const char *subvol_path, uint64_t since_generation, ChangeScanFlags flags,
                                    ChangeScanCallback callback, void *userdata);

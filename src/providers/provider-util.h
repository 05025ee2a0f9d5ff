/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-util.h: what several providers need and only providers need: finding the mount a
 * path is reached through (from /proc/self/mountinfo), exposing a snapshot directory as a
 * read-only bind mount, and walking a snapshot area for query (which names count as a
 * snapshot, and when one was made). One copy here, so the btrfs, image and test-copy
 * providers cannot drift apart on how they read mountinfo, how safely they mount, or which
 * files of their areas they claim as their own.
 */
#pragma once

#include <stdbool.h>

#include "vss/sys/provider.h"

/* One line of /proc/self/mountinfo, unescaped. All strings owned by the entry. */
typedef struct MountEntry {
        char *mnt;      /* mount point */
        char *root;     /* root of the mount within its filesystem */
        char *fstype;
        char *source;
} MountEntry;

/* mount_entry_done: frees the strings and zeroes the entry. Cannot fail. */
void mount_entry_done(MountEntry *e);

/* path_has_prefix: whether path is prefix itself or below it, by whole path components. */
bool path_has_prefix(const char *path, const char *prefix);

/*
 * mount_find: the mount path (absolute) is reached through: the longest mount point that is
 * a prefix of path; of equal ones the last listed (it is mounted on top). With fstype
 * non-NULL only mounts of that type count (btrfs subvolumes have their own st_dev, so walking
 * up by device would stop at the subvolume, not at the mount).
 * Returns 0, -ENOENT when no mount matches, -ENOMEM, or -errno from reading mountinfo.
 * *ret is filled only on success; the caller ends it with mount_entry_done().
 */
int mount_find(const char *path, const char *fstype, MountEntry *ret);

/* At most this many mounts are listed (a system with more is refused rather than listed in part). */
#define MOUNT_LIST_MAX 65536u

/*
 * mount_list: every mount of /proc/self/mountinfo, in its order (parents before what is
 * mounted on them). Returns 0 with *ret (free with mount_entries_free) and *ret_n, -ENOMEM,
 * -E2BIG (over MOUNT_LIST_MAX), or -errno from reading mountinfo.
 */
int mount_list(MountEntry **ret, size_t *ret_n);

/* mount_entries_free: ends every entry and frees the array. NULL ok. */
void mount_entries_free(MountEntry *entries, size_t n);

/*
 * provider_expose_bind: the expose op for providers whose snapshot (s->device) is a
 * directory: bind-mounts it read-only, nosuid, nodev, noexec, noatime on the directory
 * target_fd pins. The mount is built detached with its flags set before it is attached, so it
 * is never writable for an instant (new mount API, Linux >= 5.12).
 */
vss_hr provider_expose_bind(const ProviderSnapshot *s, int target_fd, const char *target_path);

/*
 * provider_unexpose_umount: the unexpose op matching provider_expose_bind (and any plain
 * mount): VSS_E_VOLUME_IN_USE when busy, S_OK when target is not (or no longer) a mount point.
 */
vss_hr provider_unexpose_umount(const ProviderSnapshot *s, const char *target);

/*
 * provider_flush_volumes: syncfs every volume of snaps, for end_prepare: dirty data is written
 * while writers still run, so the commit inside the freeze window has little to flush.
 * Returns S_OK, VSS_E_INSUFFICIENT_STORAGE on ENOSPC/EDQUOT, VSS_E_PROVIDER_VETO on another
 * flush failure (logged under provider_name), or the mapped open() error.
 */
vss_hr provider_flush_volumes(const char *provider_name, ProviderSnapshot *const *snaps, size_t n);

/*
 * provider_area_visible: whether the directory holding device (a snapshot's absolute path) is
 * there to look into, on a filesystem of type fs_magic (statfs f_type; 0: any). get_properties
 * may call a copy "gone" only then: an unmounted filesystem hides its snapshots, it does not
 * delete them. Returns S_OK, or VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (not visible),
 * E_INVALIDARG (not an absolute path), E_OUTOFMEMORY.
 */
vss_hr provider_area_visible(const char *device, uint32_t fs_magic);

/*
 * provider_birth_time: when the entry name of directory dirfd (not followed if a symlink)
 * was made, as a vss_timestamp: statx's birth time where the filesystem records one (btrfs,
 * XFS, ext4), else its modification time. Returns 0 or negative errno; *ret written only on
 * success.
 */
int provider_birth_time(int dirfd, const char *name, vss_timestamp *ret);

/*
 * provider_snapshot_name_parse: whether name is exactly "<snapshot id><suffix>" the way the
 * providers name their copies (the id as vss_id_to_str writes it: 36 lower-case characters),
 * and that id in *ret (written only when true). suffix NULL or "": the bare id. Anything else
 * in an area (a user's file, a temporary name) is not a snapshot.
 */
bool provider_snapshot_name_parse(const char *name, const char *suffix, vss_id *ret);

/*
 * ProviderAreaMatch: does the entry name (its full path: path) of the area open as area_fd,
 * already named like a snapshot (id), belong to the volume being queried? match_data is
 * provider_area_query's. Returns 1 with *ret_created set (a vss_timestamp, 0 if unknown), 0
 * when it is not this volume's snapshot, or negative errno when it cannot tell (the entry is
 * then logged and left out: never listed on a guess).
 */
typedef int (*ProviderAreaMatch)(int area_fd, const char *name, const char *path, const vss_id *id,
                                 void *match_data, vss_timestamp *ret_created);

/*
 * provider_area_query: the body of a query op for providers that keep one copy per entry of
 * a directory (area): every entry named "<id><suffix>" that match accepts is passed to cb
 * with its path "<area>/<name>". An area that does not exist holds nothing (S_OK, no call).
 * Returns S_OK, the first callback failure (the walk stops there), or the mapped error of
 * opening or reading the area (logged under provider_name).
 */
vss_hr provider_area_query(const char *provider_name, const char *area, const char *suffix, ProviderAreaMatch match,
                           void *match_data, ProviderQueryCallback cb, void *userdata);

/*
 * Objects a provider makes outside a snapshot area of its own (a logical volume, a ZFS
 * snapshot) are named "vss-<snapshot id>" in their namespace, and that name is how recovery
 * finds them: query lists exactly the objects so named (then checks their origin), and nothing
 * else is ever touched. One convention for every such provider, so an administrator can tell
 * vss-linux's objects apart from their own by name alone.
 */
#define PROVIDER_OBJECT_PREFIX "vss-"
#define PROVIDER_OBJECT_NAME_MAX (sizeof(PROVIDER_OBJECT_PREFIX) + 36)

/* provider_object_name: "vss-<id>" into ret (NUL-terminated). Cannot fail. */
void provider_object_name(const vss_id *id, char ret[static PROVIDER_OBJECT_NAME_MAX]);

/* provider_object_name_parse: whether name is exactly "vss-<id>" (the id as
 * provider_snapshot_name_parse accepts it), and that id in *ret (written only when true). */
bool provider_object_name_parse(const char *name, vss_id *ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-util.h: what several providers need and only providers need: finding the mount a
 * path is reached through (from /proc/self/mountinfo), and exposing a snapshot directory as
 * a read-only bind mount. One copy here, so the btrfs, image and test-copy providers cannot
 * drift apart on how they read mountinfo or how safely they mount.
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

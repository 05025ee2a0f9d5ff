/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-image.h: what the image provider offers beyond its ops table (provider_image_ops,
 * provider-registry.h): mounting a clone read-only, which exposure, the tests and the demo
 * need, and the length of the last hold, which the benchmark reports.
 */
#pragma once

#include <stdint.h>

#include "vss/sys/provider.h"

/*
 * image_clone_mount_ro: attach the image file clone to a read-only loop device (autoclear:
 * it goes away with the mount) and mount it at where (an existing directory, an absolute path
 * resolved without following a symlink: provider_mount_ro) read-only,
 * nosuid, nodev, noexec, noatime, without journal or log replay (a clone of a frozen
 * filesystem is clean, and a read-only device could not take a replay anyway): ext2/3/4 with
 * "noload", XFS with "norecovery,nouuid" (the original with the same UUID is mounted),
 * btrfs with "rescue=nologreplay". fstype NULL tries ext4, xfs and btrfs in turn.
 * Returns 0 or a negative errno; nothing is left attached on failure.
 */
int image_clone_mount_ro(const char *clone, const char *fstype, const char *where);

/* image_clone_umount: unmount where, resolved without following a symlink (the loop device
 * detaches itself): provider_umount_path. -EBUSY when in use; 0 when where is not a mount
 * point any more. */
int image_clone_umount(const char *where);

/* provider_image_last_hold_usec: how long the last commit of the image provider instance
 * self held its volumes frozen, from the Freeze call to the Thaw's answer, in microseconds;
 * 0 before the first commit. */
uint64_t provider_image_last_hold_usec(VssProvider *self);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loop-fs.h: throw-away filesystems on loop devices for the freeze tests (the guardian's
 * root tests and the image provider's, tests/root/test-image-provider.c): a sparse image
 * file, mkfs, a loop device attached with autoclear (so a crashed test leaves no device
 * behind once the mount goes), a mount; and the frozen/thawed probes.
 *
 * Everything here needs root. Functions return 0 or a negative errno; ret_* outputs are
 * written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct LoopFs {
        char *image;    /* the image file (owned; deleted by loop_fs_destroy) */
        char *mnt;      /* the mount point (owned; created and removed here) */
        char *fstype;   /* "ext4", "xfs", "btrfs" */
        bool mounted;
} LoopFs;

/*
 * loop_fs_make: create image (sparse, size bytes; must not exist), run mkfs for fstype
 * (mkfs_args: extra arguments, NULL-terminated, may be NULL), attach it to a free loop device
 * and mount it at mnt (created). Undoes everything on failure.
 */
int loop_fs_make(const char *image, uint64_t size, const char *fstype, const char *const *mkfs_args,
                 const char *mnt, LoopFs *ret);

/* loop_fs_destroy: thaw (in case a test left it frozen), unmount (the loop device goes with
 * it), delete the image and the mount point. Safe on a zeroed or half-made LoopFs. */
int loop_fs_destroy(LoopFs *l);

/*
 * loop_attach_file: attach file to a free loop device with LO_FLAGS_AUTOCLEAR (read-only if
 * read_only). Returns the device path and an open fd: closing the fd detaches the device
 * unless something (a mount) still uses it.
 */
int loop_attach_file(const char *file, bool read_only, char **ret_path, int *ret_fd);

/*
 * fs_is_frozen: 1 when the filesystem holding path is frozen, 0 when not (probed with our
 * own FIFREEZE, undone at once), negative errno when it cannot tell. Never blocks.
 */
int fs_is_frozen(const char *path);

/* fs_wait_thawed: polls fs_is_frozen until it says 0, for up to timeout_ms. 0 or -ETIMEDOUT. */
int fs_wait_thawed(const char *path, unsigned timeout_ms);

/* fs_freeze / fs_thaw: FIFREEZE / FITHAW on path's filesystem, as an outsider would. */
int fs_freeze(const char *path);
int fs_thaw(const char *path);

/* run_command: fork+exec argv (searched in PATH), stdout/stderr to /dev/null unless verbose;
 * 0 when it exited 0, -EPROTO otherwise. */
int run_command(char *const argv[], bool verbose);

/* write_file_sync: create/replace path with data, fsync'd. */
int write_file_sync(const char *path, const char *data);

/* sleep_msec: nanosleep for ms milliseconds. */
void sleep_msec(unsigned ms);

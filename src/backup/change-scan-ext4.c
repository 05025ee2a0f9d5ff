/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan-ext4.c: the candidates of a walk by times on ext4, from its inode tables.
 *
 * ext4 keeps its inodes in fixed tables, one per block group, that libext2fs reads in large
 * sequential pieces (ext2fs_get_next_inode_full, the way dump(8) reads a file system),
 * skipping the groups and table tails that were never used. Reading 256 bytes per inode from
 * the block device costs about a tenth of a statx, which has to look the name up and go
 * through the VFS for each file.
 *
 * The device is read through the page cache the kernel's ext4 keeps its own metadata in, so
 * the tables read are the ones the mounted file system uses; but they only stay so while
 * nothing writes. Hence only on a read-only superblock (a snapshot mounted for a backup,
 * checked by the caller): then the times here are the times statx reports. They are decoded
 * as the kernel does (32-bit seconds, the epoch bits and nanoseconds of the _extra fields
 * where i_extra_isize covers them).
 */
#include <ext2fs/ext2fs.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "change-scan-bulk.h"

/* The kernel's EXT4_FITS_IN_INODE: is field inside the inode's extra part? */
#define FITS_IN_INODE(inode_size, extra_isize, field)                                                          \
        ((inode_size) > EXT2_GOOD_OLD_INODE_SIZE &&                                                             \
         offsetof(struct ext2_inode_large, field) + sizeof(((struct ext2_inode_large *) 0)->field) <=          \
                 (size_t) EXT2_GOOD_OLD_INODE_SIZE + (extra_isize))

static vss_timestamp ext4_time(uint32_t base, uint32_t extra, bool have_extra) {
        int64_t sec = (int32_t) base;
        uint32_t nsec = 0;

        if (have_extra) {
                sec += (int64_t) (extra & EXT4_EPOCH_MASK) << 32;
                nsec = (extra & EXT4_NSEC_MASK) >> EXT4_EPOCH_BITS;
        }
        return change_scan_timestamp(sec, nsec);
}

static void fs_closep(ext2_filsys *fs) {
        if (*fs)
                (void) ext2fs_close_free(fs);
}

static void scan_closep(ext2_inode_scan *scan) {
        if (*scan)
                ext2fs_close_inode_scan(*scan);
}

/* libext2fs speaks errcode_t: errno values themselves, or its own table's codes. */
static int errcode_to_errno(errcode_t e) {
        if (e > 0 && e < 4096)
                return -(int) e;
        return -EIO;
}

int change_scan_ext4_changed(const char *device, vss_timestamp since, ChangeSet *set, const _Atomic bool *cancel) {
        __attribute__((cleanup(fs_closep))) ext2_filsys fs = NULL;
        __attribute__((cleanup(scan_closep))) ext2_inode_scan scan = NULL;
        struct ext2_inode_large inode;
        unsigned inode_size;
        errcode_t e;

        /* Read-only; no checksum checks (the kernel verified what it loaded, and an inode it
         * would refuse is only a spurious candidate here: the walk's statx decides). */
        e = ext2fs_open(device, EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0, unix_io_manager, &fs);
        if (e)
                return errcode_to_errno(e);
        inode_size = EXT2_INODE_SIZE(fs->super);
        e = ext2fs_open_inode_scan(fs, 0, &scan);
        if (e)
                return errcode_to_errno(e);
        ext2fs_inode_scan_flags(scan, EXT2_SF_SKIP_MISSING_ITABLE, 0);

        for (unsigned k = 0;; k++) {
                ext2_ino_t ino;
                bool have_ctime, have_mtime;
                int r;

                if (k % 4096 == 0 && atomic_load_explicit(cancel, memory_order_relaxed))
                        return -ECANCELED;
                memset(&inode, 0, sizeof(inode));
                e = ext2fs_get_next_inode_full(scan, &ino, (struct ext2_inode *) &inode, sizeof(inode));
                if (e)
                        return errcode_to_errno(e);
                if (ino == 0)
                        return 0;
                if (inode.i_links_count == 0 || LINUX_S_ISDIR(inode.i_mode))
                        continue;
                have_ctime = FITS_IN_INODE(inode_size, inode.i_extra_isize, i_ctime_extra);
                have_mtime = FITS_IN_INODE(inode_size, inode.i_extra_isize, i_mtime_extra);
                if (!change_set_wants(ext4_time(inode.i_mtime, inode.i_mtime_extra, have_mtime),
                                      ext4_time(inode.i_ctime, inode.i_ctime_extra, have_ctime), since))
                        continue;
                r = change_set_add(set, ino);
                if (r < 0)
                        return r;
        }
}

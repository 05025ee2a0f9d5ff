/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan-xfs-dev.c: the candidates of a walk by times on a read-only XFS, read from its
 * device: the inode btree of each allocation group, then the inode chunks it lists.
 *
 * bulkstat builds a kernel inode (xfs_iget) for every inode it reports, which costs about a
 * third of the statx it saves. The inodes' times are also on the device, 64 to a chunk in
 * runs the inode btrees list: reading them there costs a large pread per run. As for ext4,
 * the device says what the kernel says only while nothing writes, so this runs only on a
 * read-only superblock (a snapshot mounted for a backup, checked by the caller); XFS writes
 * everything back when a mount turns read-only, and changes nothing while it is.
 *
 * Unlike ext4, XFS keeps its metadata in a cache of its own, not in the block device's page
 * cache, so a buffered read of the device may return pages read before XFS wrote them (a
 * superblock probe by udev, say). Every read here is O_DIRECT: what is on the device.
 *
 * The layouts are xfs/xfs_format.h's. Only version 5 file systems (CRC, the mkfs default
 * since 2015) with feature bits this file knows are read; every block is checked for its
 * magic number, its own address, its allocation group and the file system's UUID (the CRCs
 * are not checked: a block that passes these checks and is still wrong can only make an
 * inode a candidate or not, and an allocated inode that does not look like one fails the
 * scan). Any inconsistency is -EUCLEAN and the caller falls back to bulkstat, so a damaged or
 * unusual device costs time, never a changed file.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xfs/xfs.h>
#include <xfs/xfs_format.h>
/* xfs.h brings its own MIN and MAX; macro.h (through change-scan-bulk.h) has the project's. */
#undef MIN
#undef MAX

#include "change-scan-bulk.h"
#include "io-util.h"

/* Inode chunks read at once: up to 1 MiB, 32 chunks of 512-byte inodes. */
#define XFS_DEV_RUN_BYTES (UINT32_C(1) << 20)
/* O_DIRECT wants buffers aligned to the device's logical block size: at most a page here. */
#define XFS_DEV_ALIGN 4096U
/* The deepest inode btree: a million inodes per leaf block level is far beyond 8 levels. */
#define XFS_DEV_MAX_LEVELS 8U
/* The kernel's NULLAGBLOCK (xfs_types.h, not in the installed headers): no right sibling. */
#define XFS_DEV_NULL_AGBLOCK UINT32_MAX

#define XFS_DEV_INCOMPAT_KNOWN                                                                          \
        (XFS_SB_FEAT_INCOMPAT_FTYPE | XFS_SB_FEAT_INCOMPAT_SPINODES | XFS_SB_FEAT_INCOMPAT_META_UUID |    \
         XFS_SB_FEAT_INCOMPAT_BIGTIME | XFS_SB_FEAT_INCOMPAT_NREXT64)
#define XFS_DEV_RO_COMPAT_KNOWN                                                                         \
        (XFS_SB_FEAT_RO_COMPAT_FINOBT | XFS_SB_FEAT_RO_COMPAT_RMAPBT | XFS_SB_FEAT_RO_COMPAT_REFLINK |    \
         XFS_SB_FEAT_RO_COMPAT_INOBTCNT)

struct XfsDev {
        int fd;
        uint32_t blocksize, sectsize, agblocks, agcount, inodesize, inopblog, agino_bits;
        uint64_t dblocks;
        bool bigtime, sparse;
        uint8_t uuid[16];       /* what metadata blocks name as their file system */
};

static void *aligned_new(size_t size) {
        void *p = NULL;

        return posix_memalign(&p, XFS_DEV_ALIGN, size) == 0 ? p : NULL;
}

/* Exactly size bytes at offset, or -EUCLEAN for a device shorter than its file system. */
static int read_exact(int fd, void *buf, size_t size, uint64_t offset) {
        int r = pread_full(fd, buf, size, offset);

        return r == -ESTALE ? -EUCLEAN : r;
}

static bool is_pow2(uint64_t v) {
        return v != 0 && (v & (v - 1)) == 0;
}

XfsDev *change_scan_xfs_dev_free(XfsDev *d) {
        if (!d)
                return NULL;
        if (d->fd >= 0)
                (void) close(d->fd);
        free(d);
        return NULL;
}

int change_scan_xfs_dev_open(const char *device, const struct xfs_fsop_geom *geo, XfsDev **ret) {
        _cleanup_(change_scan_xfs_dev_freep) XfsDev *d = NULL;
        _cleanup_free_ struct xfs_dsb *sb = NULL;
        uint32_t incompat, ro_compat, blocklog;
        int r;

        d = calloc(1, sizeof(*d));
        sb = aligned_new(XFS_DEV_ALIGN);
        if (!d || !sb)
                return -ENOMEM;
        d->fd = open(device, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
        if (d->fd < 0)
                return -errno;
        r = read_exact(d->fd, sb, XFS_DEV_ALIGN, 0);
        if (r < 0)
                return r;

        if (be32toh(sb->sb_magicnum) != XFS_SB_MAGIC)
                return -EUCLEAN;
        if ((be16toh(sb->sb_versionnum) & XFS_SB_VERSION_NUMBITS) != XFS_SB_VERSION_5)
                return -EOPNOTSUPP;
        incompat = be32toh(sb->sb_features_incompat);
        ro_compat = be32toh(sb->sb_features_ro_compat);
        if ((incompat & ~(uint32_t) XFS_DEV_INCOMPAT_KNOWN) || (ro_compat & ~(uint32_t) XFS_DEV_RO_COMPAT_KNOWN))
                return -EOPNOTSUPP;

        d->blocksize = be32toh(sb->sb_blocksize);
        d->sectsize = be16toh(sb->sb_sectsize);
        d->agblocks = be32toh(sb->sb_agblocks);
        d->agcount = be32toh(sb->sb_agcount);
        d->dblocks = be64toh(sb->sb_dblocks);
        d->inodesize = be16toh(sb->sb_inodesize);
        d->inopblog = sb->sb_inopblog;
        d->agino_bits = (uint32_t) sb->sb_agblklog + sb->sb_inopblog;
        d->bigtime = incompat & XFS_SB_FEAT_INCOMPAT_BIGTIME;
        d->sparse = incompat & XFS_SB_FEAT_INCOMPAT_SPINODES;
        blocklog = sb->sb_blocklog;
        memcpy(d->uuid, incompat & XFS_SB_FEAT_INCOMPAT_META_UUID ? (const void *) &sb->sb_meta_uuid
                                                                   : (const void *) &sb->sb_uuid,
               sizeof(d->uuid));

        /* The geometry everything below computes with, checked against itself and against
         * what the mounted file system reports: a device that is not the mount's is refused. */
        if (!is_pow2(d->blocksize) || d->blocksize < 512 || d->blocksize > 65536 || blocklog >= 32 ||
            d->blocksize != UINT32_C(1) << blocklog || d->blocksize % XFS_DEV_ALIGN != 0 ||
            !is_pow2(d->sectsize) || d->sectsize < 512 || d->sectsize > d->blocksize ||
            !is_pow2(d->inodesize) || d->inodesize < 256 || d->inodesize > 2048 ||
            be16toh(sb->sb_inopblock) != d->blocksize / d->inodesize || d->inopblog >= 16 ||
            UINT32_C(1) << d->inopblog != d->blocksize / d->inodesize || d->agblocks == 0 || d->agcount == 0 ||
            sb->sb_agblklog >= 32 || (UINT64_C(1) << sb->sb_agblklog) < d->agblocks ||
            (UINT64_C(1) << sb->sb_agblklog) >= (uint64_t) d->agblocks * 2 || d->agino_bits > 32 ||
            d->dblocks > (uint64_t) d->agblocks * d->agcount || d->dblocks <= (uint64_t) d->agblocks * (d->agcount - 1))
                return -EUCLEAN;
        if (geo->blocksize != d->blocksize || geo->agblocks != d->agblocks || geo->agcount != d->agcount ||
            geo->datablocks != d->dblocks || geo->inodesize != d->inodesize)
                return -EUCLEAN;

        *ret = TAKE_PTR(d);
        return 0;
}

uint32_t change_scan_xfs_dev_agcount(const XfsDev *d) {
        return d->agcount;
}

/* Blocks of allocation group ag (the last one may be shorter). */
static uint32_t ag_length(const XfsDev *d, uint32_t ag) {
        return ag + 1 < d->agcount ? d->agblocks : (uint32_t) (d->dblocks - (uint64_t) ag * d->agblocks);
}

static uint64_t ag_offset(const XfsDev *d, uint32_t ag, uint32_t agbno) {
        return ((uint64_t) ag * d->agblocks + agbno) * d->blocksize;
}

/* Per-thread scratch: one btree block, one run of inode chunks. */
typedef struct XfsDevScratch {
        uint8_t *block;
        uint8_t *run;
} XfsDevScratch;

/* Read the inode btree block agbno of ag and check its header: magic, level, own address,
 * owner, UUID, and a record count that fits. */
static int read_btree_block(const XfsDev *d, uint32_t ag, uint32_t agbno, unsigned level, XfsDevScratch *x,
                            unsigned *ret_numrecs) {
        const struct xfs_btree_block *b = (const struct xfs_btree_block *) x->block;
        size_t per = level == 0 ? sizeof(xfs_inobt_rec_t) : sizeof(xfs_inobt_key_t) + sizeof(xfs_inobt_ptr_t);
        unsigned numrecs;
        int r;

        if (agbno == 0 || agbno >= ag_length(d, ag))
                return -EUCLEAN;
        r = read_exact(d->fd, x->block, d->blocksize, ag_offset(d, ag, agbno));
        if (r < 0)
                return r;
        numrecs = be16toh(b->bb_numrecs);
        if (be32toh(b->bb_magic) != XFS_IBT_CRC_MAGIC || be16toh(b->bb_level) != level ||
            be64toh(b->bb_u.s.bb_blkno) != ag_offset(d, ag, agbno) / 512 || be32toh(b->bb_u.s.bb_owner) != ag ||
            memcmp(&b->bb_u.s.bb_uuid, d->uuid, sizeof(d->uuid)) != 0 ||
            numrecs > (d->blocksize - XFS_BTREE_SBLOCK_CRC_LEN) / per || (level > 0 && numrecs == 0))
                return -EUCLEAN;
        *ret_numrecs = numrecs;
        return 0;
}

static vss_timestamp inode_time(xfs_timestamp_t t, bool bigtime) {
        uint64_t v = be64toh(t);

        if (bigtime)    /* nanoseconds since the 32-bit epoch's start, 1901-12-13 */
                return change_scan_timestamp((int64_t) (v / 1000000000) - XFS_BIGTIME_EPOCH_OFFSET,
                                             (uint32_t) (v % 1000000000));
        /* struct xfs_legacy_timestamp: signed seconds, then nanoseconds, both big-endian */
        return change_scan_timestamp((int32_t) (uint32_t) (v >> 32), (uint32_t) v);
}

/* The allocated inodes of the inode chunks recs[0..n) (adjacent on the device, read as one
 * run at agbno): those change_set_wants go into the set. */
static int scan_run(const XfsDev *d, uint32_t ag, const xfs_inobt_rec_t *recs, unsigned n, uint32_t agbno,
                    uint32_t blocks, vss_timestamp since, ChangeSet *set, XfsDevScratch *x) {
        uint32_t first = agbno << d->inopblog;  /* the agino at the run's first byte */
        int r;

        r = read_exact(d->fd, x->run, (size_t) blocks * d->blocksize, ag_offset(d, ag, agbno));
        if (r < 0)
                return r;
        for (unsigned k = 0; k < n; k++) {
                uint32_t start = be32toh(recs[k].ir_startino);
                /* Without sparse inodes that field is the high half of a 32-bit free count: 0. */
                uint16_t holemask = d->sparse ? be16toh(recs[k].ir_u.sp.ir_holemask) : 0;
                uint64_t free_mask = be64toh(recs[k].ir_free);

                /* A sparse record counts the inodes its holes leave. */
                if (d->sparse && recs[k].ir_u.sp.ir_count !=
                                         XFS_INODES_PER_CHUNK - XFS_INODES_PER_HOLEMASK_BIT * __builtin_popcount(holemask))
                        return -EUCLEAN;

                for (unsigned i = 0; i < XFS_INODES_PER_CHUNK; i++) {
                        const struct xfs_dinode *di;
                        bool bigtime;
                        uint16_t mode;

                        /* Holes of a sparse chunk are not inodes; their ir_free bits are set too. */
                        if ((holemask >> (i / XFS_INODES_PER_HOLEMASK_BIT)) & 1)
                                continue;
                        if ((free_mask >> i) & 1)
                                continue;
                        di = (const struct xfs_dinode *) (x->run + (size_t) (start + i - first) * d->inodesize);
                        if (be16toh(di->di_magic) != XFS_DINODE_MAGIC || di->di_version != 3 ||
                            be64toh(di->di_ino) != ((uint64_t) ag << d->agino_bits | (start + i)))
                                return -EUCLEAN;
                        mode = be16toh(di->di_mode);
                        if (mode == 0)  /* allocated in the btree, not yet in the inode */
                                return -EUCLEAN;
                        if (S_ISDIR(mode))
                                continue;
                        bigtime = d->bigtime && (be64toh(di->di_flags2) & XFS_DIFLAG2_BIGTIME);
                        if (!change_set_wants(inode_time(di->di_mtime, bigtime), inode_time(di->di_ctime, bigtime),
                                              since))
                                continue;
                        r = change_set_add(set, be64toh(di->di_ino));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The records of one leaf block, read in runs of adjacent chunks of up to XFS_DEV_RUN_BYTES.
 * *last: the last chunk's start so far, for the records' order across leaves. */
static int scan_leaf(const XfsDev *d, uint32_t ag, const xfs_inobt_rec_t *recs, unsigned numrecs,
                     vss_timestamp since, ChangeSet *set, XfsDevScratch *x, int64_t *last) {
        uint32_t chunk_blocks = MAX((uint32_t) XFS_INODES_PER_CHUNK >> d->inopblog, UINT32_C(1));
        uint32_t run_max = XFS_DEV_RUN_BYTES / d->blocksize;
        /* One past the group's last inode number (agino_bits ≤ 32 bounds both). */
        uint64_t agino_end = MIN((uint64_t) ag_length(d, ag) << d->inopblog, UINT64_C(1) << d->agino_bits);
        unsigned from = 0;

        while (from < numrecs) {
                uint32_t agbno = 0, blocks = 0;
                unsigned to = from;

                for (; to < numrecs; to++) {
                        uint32_t start = be32toh(recs[to].ir_startino), b;

                        /* Chunks start a block (they are aligned to sb_inoalignmt blocks, which
                         * need not make them 64-inode aligned), or one 64th of a larger one. */
                        if (start % MIN(XFS_INODES_PER_CHUNK, UINT32_C(1) << d->inopblog) != 0 || (int64_t) start <= *last ||
                            (uint64_t) start + XFS_INODES_PER_CHUNK > agino_end)
                                return -EUCLEAN;
                        b = start >> d->inopblog;
                        if (to > from && (b != agbno + blocks || blocks + chunk_blocks > run_max))
                                break;
                        /* (More than one chunk per block, 64 KiB blocks of 256-byte inodes: a run
                         * per chunk, each reading the whole block.) */
                        if (to == from)
                                agbno = b;
                        blocks += chunk_blocks;
                        *last = start;
                }
                if (agbno + blocks > ag_length(d, ag))
                        return -EUCLEAN;
                {
                        int r = scan_run(d, ag, recs + from, to - from, agbno, blocks, since, set, x);

                        if (r < 0)
                                return r;
                }
                from = to;
        }
        return 0;
}

int change_scan_xfs_dev_scan_ag(const XfsDev *d, uint32_t ag, vss_timestamp since, ChangeSet *set,
                                const _Atomic bool *cancel) {
        _cleanup_free_ uint8_t *block = NULL, *run = NULL;
        XfsDevScratch x;
        const struct xfs_agi *agi;
        uint32_t agbno, levels, agi_off, leaves = 0;
        unsigned numrecs;
        int64_t last = -1;
        int r;

        if (ag >= d->agcount)
                return -EINVAL;
        block = aligned_new(d->blocksize);
        run = aligned_new(MAX(XFS_DEV_RUN_BYTES, d->blocksize * (uint32_t) MAX(XFS_INODES_PER_CHUNK >> d->inopblog, 1U)));
        if (!block || !run)
                return -ENOMEM;
        x = (XfsDevScratch) { .block = block, .run = run };

        /* The AGI: the third sector of the allocation group (read with the block holding it). */
        agi_off = 2 * d->sectsize;
        r = read_exact(d->fd, x.block, d->blocksize, ag_offset(d, ag, 0) + agi_off / d->blocksize * d->blocksize);
        if (r < 0)
                return r;
        agi = (const struct xfs_agi *) (x.block + agi_off % d->blocksize);
        if (be32toh(agi->agi_magicnum) != XFS_AGI_MAGIC || be32toh(agi->agi_versionnum) != XFS_AGI_VERSION ||
            be32toh(agi->agi_seqno) != ag || be32toh(agi->agi_length) != ag_length(d, ag) ||
            memcmp(&agi->agi_uuid, d->uuid, sizeof(d->uuid)) != 0)
                return -EUCLEAN;
        agbno = be32toh(agi->agi_root);
        levels = be32toh(agi->agi_level);
        if (levels == 0 || levels > XFS_DEV_MAX_LEVELS)
                return -EUCLEAN;

        /* Down the left edge of the btree to its first leaf... */
        for (uint32_t level = levels - 1; level > 0; level--) {
                const uint8_t *keys;
                uint32_t maxrecs = (d->blocksize - XFS_BTREE_SBLOCK_CRC_LEN) /
                                   (sizeof(xfs_inobt_key_t) + sizeof(xfs_inobt_ptr_t));

                r = read_btree_block(d, ag, agbno, level, &x, &numrecs);
                if (r < 0)
                        return r;
                keys = x.block + XFS_BTREE_SBLOCK_CRC_LEN;
                agbno = be32toh(*(const xfs_inobt_ptr_t *) (keys + maxrecs * sizeof(xfs_inobt_key_t)));
        }
        /* ...then along the leaves, left to right. */
        while (agbno != XFS_DEV_NULL_AGBLOCK) {
                const struct xfs_btree_block *b = (const struct xfs_btree_block *) x.block;

                if (atomic_load_explicit(cancel, memory_order_relaxed))
                        return -ECANCELED;
                if (++leaves > ag_length(d, ag))        /* a sibling loop */
                        return -EUCLEAN;
                r = read_btree_block(d, ag, agbno, 0, &x, &numrecs);
                if (r < 0)
                        return r;
                agbno = be32toh(b->bb_u.s.bb_rightsib);
                r = scan_leaf(d, ag, (const xfs_inobt_rec_t *) (x.block + XFS_BTREE_SBLOCK_CRC_LEN), numrecs, since,
                              set, &x, &last);
                if (r < 0)
                        return r;
        }
        return 0;
}

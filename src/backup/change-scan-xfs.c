/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-scan-xfs.c: the candidates of a walk by times on XFS, from bulkstat.
 *
 * XFS_IOC_BULKSTAT (v5) returns the stat data of every allocated inode in inode order,
 * reading the inode btrees and inode clusters directly: no path lookup, no dentry, no
 * security hook per file, about a third of what a statx costs per inode. It reports XFS's
 * in-memory inodes, so what it says is what the walk's statx would say, on a live file system
 * too. Each allocation group is a separate range (XFS_BULK_IREQ_AGNO), so the groups are
 * shared out to one thread per core. Needs CAP_SYS_ADMIN.
 *
 * bulkstat builds a kernel inode for each inode it reports, though: on a read-only
 * superblock (a mounted snapshot) each group is read from the device instead
 * (change-scan-xfs-dev.c), and a group whose on-disk structures do not check out is
 * bulkstat-ed after all, so the set never lacks an inode bulkstat would have put in it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <xfs/xfs.h>
/* xfs.h brings its own MIN and MAX; macro.h (through change-scan-bulk.h) has the project's. */
#undef MIN
#undef MAX

#include "change-scan-bulk.h"

/* Inodes per bulkstat call: 192 KiB of records, a few hundred calls for a million inodes. */
#define XFS_BULK_COUNT 1024U
#define XFS_MAX_THREADS 8U

bool change_scan_xfs_dev_enabled = true;

typedef struct XfsScan {
        int fd;
        vss_timestamp since;
        uint32_t agcount;
        const XfsDev *dev;      /* NULL: bulkstat every group */
        ChangeSet *set;
        const _Atomic bool *cancel;
        _Atomic uint32_t next_ag;
        _Atomic int error;
} XfsScan;

static struct xfs_bulkstat_req *bulk_req_new(uint32_t count) {
        return calloc(1, sizeof(struct xfs_bulkstat_req) + count * sizeof(struct xfs_bulkstat));
}

/* Every inode of allocation group ag. */
static int scan_ag(XfsScan *s, struct xfs_bulkstat_req *req, uint32_t ag) {
        req->hdr = (struct xfs_bulk_ireq) { .ino = 0, .flags = XFS_BULK_IREQ_AGNO, .agno = ag };
        for (;;) {
                if (atomic_load_explicit(s->cancel, memory_order_relaxed))
                        return -ECANCELED;
                req->hdr.icount = XFS_BULK_COUNT;
                if (ioctl(s->fd, XFS_IOC_BULKSTAT, req) < 0)
                        return -errno;
                if (req->hdr.ocount == 0)
                        return 0;
                for (uint32_t i = 0; i < req->hdr.ocount; i++) {
                        const struct xfs_bulkstat *b = &req->bulkstat[i];
                        int r;

                        if (S_ISDIR(b->bs_mode) ||
                            !change_set_wants(change_scan_timestamp(b->bs_mtime, b->bs_mtime_nsec),
                                              change_scan_timestamp(b->bs_ctime, b->bs_ctime_nsec), s->since))
                                continue;
                        r = change_set_add(s->set, b->bs_ino);
                        if (r < 0)
                                return r;
                }
        }
}

static void *scan_thread(void *userdata) {
        _cleanup_free_ struct xfs_bulkstat_req *req = bulk_req_new(XFS_BULK_COUNT);
        XfsScan *s = userdata;

        if (!req) {
                atomic_store(&s->error, -ENOMEM);
                return NULL;
        }
        while (atomic_load(&s->error) == 0) {
                uint32_t ag = atomic_fetch_add(&s->next_ag, 1);
                int r;

                if (ag >= s->agcount)
                        break;
                r = s->dev ? change_scan_xfs_dev_scan_ag(s->dev, ag, s->since, s->set, s->cancel) : -EOPNOTSUPP;
                if (r < 0 && r != -ECANCELED && r != -E2BIG && r != -ENOMEM)
                        r = scan_ag(s, req, ag);
                if (r < 0) {
                        int expected = 0;

                        (void) atomic_compare_exchange_strong(&s->error, &expected, r);
                }
        }
        return NULL;
}

int change_scan_xfs_probe(int dir_fd) {
        _cleanup_free_ struct xfs_bulkstat_req *req = bulk_req_new(1);

        if (!req)
                return -ENOMEM;
        req->hdr = (struct xfs_bulk_ireq) { .ino = 0, .icount = 1 };
        return ioctl(dir_fd, XFS_IOC_BULKSTAT, req) < 0 ? -errno : 0;
}

int change_scan_xfs_changed(int dir_fd, const char *device, vss_timestamp since, unsigned threads, ChangeSet *set,
                            const _Atomic bool *cancel) {
        _cleanup_(change_scan_xfs_dev_freep) XfsDev *dev = NULL;
        struct xfs_fsop_geom geo = {};
        XfsScan s = { .fd = dir_fd, .since = since, .set = set, .cancel = cancel };
        pthread_t helpers[XFS_MAX_THREADS];
        unsigned n_helpers = 0, want;
        sigset_t all, old;

        if (ioctl(dir_fd, XFS_IOC_FSGEOMETRY, &geo) < 0)
                return -errno;
        s.agcount = geo.agcount;
        /* A device that cannot be read directly leaves bulkstat for every group. */
        if (device && change_scan_xfs_dev_enabled && change_scan_xfs_dev_open(device, &geo, &dev) >= 0)
                s.dev = dev;

        /* Helpers block every signal, as the walk's do: signals stay with the calling thread. */
        want = MIN(MIN(threads, geo.agcount), XFS_MAX_THREADS);
        if (want > 1 && sigfillset(&all) == 0 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
                for (unsigned i = 0; i + 1 < want; i++) {
                        if (pthread_create(&helpers[n_helpers], NULL, scan_thread, &s) != 0)
                                break;
                        n_helpers++;
                }
                (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        (void) scan_thread(&s);
        for (unsigned i = 0; i < n_helpers; i++)
                (void) pthread_join(helpers[i], NULL);
        return atomic_load(&s.error);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io-util.c: positional reads and writes that finish what they are asked (io-util.h). The
 * archive writer, its write queue, the chunk reader and the restore all need exactly these
 * loops; one copy of them lives here.
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "io-util.h"
#include "macro.h"

int pread_full(int fd, void *buf, size_t size, uint64_t off) {
        uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = pread(fd, p, size, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ESTALE;
                p += n;
                size -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t size, uint64_t off) {
        const uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = pwrite(fd, p, size, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off) {
        while (n > 0) {
                ssize_t k = pwritev(fd, iov, MIN(n, IOV_MAX), (off_t) off);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                off += (uint64_t) k;
                while (n > 0 && (size_t) k >= iov->iov_len) {
                        k -= (ssize_t) iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (uint8_t *) iov->iov_base + k;
                        iov->iov_len -= (size_t) k;
                }
        }
        return 0;
}

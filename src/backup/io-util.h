/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io-util.h: positional reads and writes that finish what they are asked: they retry after
 * EINTR and after short counts, so their callers deal with "all of it" or an error only.
 *
 * Internal API: functions return 0 on success and a negative errno on failure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Read size bytes at off; -ESTALE when the file ends first (it shrank). */
int pread_full(int fd, void *buf, size_t size, uint64_t off);

/* Write size bytes at off; -EIO if the kernel writes nothing without saying why. */
int pwrite_full(int fd, const void *buf, size_t size, uint64_t off);

/* Write iov[0..n) one after the other at off; iov is used up on the way. */
int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * write-queue.h: positional writes into one file, done by a thread of their own, so that the
 * thread that makes the bytes (reading, hashing, compressing) does not also pay for copying
 * them into the page cache and starting their writeback. The archive writer (backup-archive.c)
 * sends all of an archive's content through it.
 *
 * The bound is a fixed set of equal buffers: the caller takes a free one (waiting while all
 * are in use), fills it, and hands pieces of it to the thread with the offset they go to; the
 * buffer comes back once the caller has let go of it and every piece of it is written.
 * Writes to distinct offsets may land in any order; write_queue_drain() is the point after
 * which all of them are in the file (not yet durable: that is the caller's fsync).
 *
 * Internal API: functions return 0 on success and a negative errno on failure. Buffers may be
 * taken and given back on several threads (chunk-reader.c fills them on its own);
 * write_queue_free is called once nobody else uses the queue.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "macro.h"

typedef struct WriteQueue WriteQueue;

/* Most pieces one write_queue_put() takes, and most bytes of them outside the buffer. */
#define WRITE_QUEUE_IOV_MAX 32
#define WRITE_QUEUE_INLINE_MAX 128
/* Every buffer starts at a multiple of this, so that it can take an O_DIRECT read. */
#define WRITE_QUEUE_ALIGN 4096

/*
 * write_queue_new: a queue writing into fd, open for reading too (not taken over: the caller
 * keeps it open until write_queue_free) with n_buffers buffers of buffer_size bytes, and its
 * thread. After every
 * write_behind bytes written, their writeback is started (sync_file_range without waiting;
 * 0: never), so the disk works while the caller goes on. buffer_size must be a multiple of
 * WRITE_QUEUE_ALIGN. Returns 0 and the queue, -ENOMEM, or the thread's error.
 */
int write_queue_new(int fd, size_t n_buffers, size_t buffer_size, uint64_t write_behind, WriteQueue **ret);

/* write_queue_buffer_size: the size of each buffer. */
size_t write_queue_buffer_size(const WriteQueue *q);

/* write_queue_get: a free buffer of buffer_size bytes, held by the caller until
 * write_queue_release; waits while none is free. Never NULL. */
uint8_t *write_queue_get(WriteQueue *q);

/* write_queue_release: the caller is done with buf (pieces of it handed over by
 * write_queue_put are still written). NULL ok. */
void write_queue_release(WriteQueue *q, uint8_t *buf);

/*
 * write_queue_put: write the n pieces of iov one after the other at offset, on the thread.
 * buf is the held buffer the pieces point into; a piece outside it is copied here (at most
 * WRITE_QUEUE_INLINE_MAX bytes in all), so it may be on the caller's stack. n is at most
 * WRITE_QUEUE_IOV_MAX. Returns 0, or the first error a write of this queue met (then
 * nothing is queued, and every later call returns that error too).
 */
int write_queue_put(WriteQueue *q, uint8_t *buf, const struct iovec *iov, int n, uint64_t offset);

/*
 * write_queue_put_copy: write a copy of data[0..len) at offset, on the thread, in order with
 * everything put before: the way to fill in bytes below what was already put (room left for
 * them). Returns 0, -ENOMEM, or the queue's first error as write_queue_put.
 */
int write_queue_put_copy(WriteQueue *q, const void *data, size_t len, uint64_t offset);

/* write_queue_drain: wait until everything put is written. Returns 0 or the first error. */
int write_queue_drain(WriteQueue *q);

/*
 * write_queue_checksum: drain, then the checksum of the file as written through the queue
 * (block-sum.h: XXH3-128 over 1 MiB blocks; every byte of the file must have been put, gaps
 * filled in). Computed by the thread as it writes, from memory: no read of the file again.
 * Returns 0, the queue's first error, or -EBADMSG for a gap never filled in.
 */
#define WRITE_QUEUE_CHECKSUM_SIZE 16U
int write_queue_checksum(WriteQueue *q, uint8_t ret[static WRITE_QUEUE_CHECKSUM_SIZE]);

/* write_queue_free: drop what is not yet written, stop the thread, free. NULL ok. */
WriteQueue *write_queue_free(WriteQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(WriteQueue *, write_queue_free);

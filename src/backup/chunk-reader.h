/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * chunk-reader.h: a large file's content read ahead, in order, in chunks, on a thread of its
 * own, into buffers of a write queue (write-queue.h), so that the disk keeps reading while the
 * archive writer hashes and stores the chunk before. Reads bypass the page cache (O_DIRECT)
 * where the filesystem and the offsets allow it, and fall back to ordinary reads otherwise.
 *
 * Internal API: functions return 0 (or a count) on success and a negative errno on failure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "write-queue.h"

/* A byte range of the file to read; chunks never cross from one segment to the next. */
typedef struct Segment {
        uint64_t offset;
        uint64_t length;
} Segment;

typedef struct ChunkReader ChunkReader;

/*
 * chunk_reader_new: start reading segs[0..n_segs) of fd (neither taken over: both stay valid
 * until chunk_reader_free) in chunks of the queue's buffer size, at most `ahead` chunks before
 * the caller, each into a buffer of q taken on the reader's thread. Returns 0 and the reader,
 * -ENOMEM, or the thread's error.
 */
int chunk_reader_new(WriteQueue *q, int fd, const Segment *segs, size_t n_segs, size_t ahead, ChunkReader **ret);

/*
 * chunk_reader_next: the next chunk, in order: *ret_buf (a buffer of q, now held by the caller,
 * who gives it back with write_queue_release) and its length. Returns 1 with a chunk, 0 after
 * the last one, or the read's negative errno (-ESTALE: the file ended before its segments did).
 */
int chunk_reader_next(ChunkReader *r, uint8_t **ret_buf, size_t *ret_len);

/* chunk_reader_free: stop the thread, give back the chunks read but not taken, free. NULL ok. */
ChunkReader *chunk_reader_free(ChunkReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ChunkReader *, chunk_reader_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * block-sum.h: the checksum of a whole archive file that its manifest records (from manifest
 * format "vssbackup-3" on): the XXH3-128 of the canonical XXH3-128 digests of the file's
 * consecutive blocks of BLOCK_SUM_BLOCK bytes (the last one shorter; no block at all for an
 * empty file).
 *
 * Why blocks: an archive is written in order except for each large file's header frame,
 * filled in after the file's content (it carries the content's checksum). A checksum over the
 * file in order could only be computed once the file was finished, by reading all of it
 * again; per block, every block can be hashed from memory as it is written, and only the
 * block or two that hold a header are read back once it is filled in.
 *
 * Internal API: functions return 0 on success and a negative errno on failure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define BLOCK_SUM_BLOCK (1024U * 1024U)
#define BLOCK_SUM_SIZE 16U

typedef struct BlockSum BlockSum;

/* Reads len bytes of the file at offset into buf, as written so far: 0 or a negative errno. */
typedef int (*BlockSumReadFn)(void *userdata, uint8_t *buf, size_t len, uint64_t offset);

/*
 * block_sum_new: the checksum of a file being written: block_sum_add() is told every write,
 * in the order they are made; read() gets back a block that held a gap, once it is filled
 * in. Returns 0 and the state, or -ENOMEM.
 */
int block_sum_new(BlockSumReadFn read, void *userdata, BlockSum **ret);

/*
 * block_sum_add: len bytes were written at offset. A write past the end of what was written
 * leaves a gap: room to be filled in by a later write below the end, which must land inside
 * a gap. Blocks are hashed from data as they complete; a block that holds (part of) a gap is
 * read back once its gaps are filled. Returns 0, -EINVAL for a write below the end
 * that is not inside a gap, -ENOMEM, or the read's error.
 */
int block_sum_add(BlockSum *s, const void *data, size_t len, uint64_t offset);

/* block_sum_finish: the checksum of everything written (BLOCK_SUM_SIZE bytes, canonical).
 * -EBADMSG when a gap was never filled in. */
int block_sum_finish(BlockSum *s, uint8_t ret[static BLOCK_SUM_SIZE]);

BlockSum *block_sum_free(BlockSum *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(BlockSum *, block_sum_free);

/* block_sum_file: the same checksum of the whole of fd, read from its start, for whoever
 * checks a file against its manifest. */
int block_sum_file(int fd, uint8_t ret[static BLOCK_SUM_SIZE]);

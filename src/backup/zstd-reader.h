/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zstd-reader.h: the content of a file that may be zstd-compressed, decompressed on a thread
 * of its own, so that a restore decompresses while it hashes and writes what came before.
 * Used by the archive reader (backup-archive.c) as libarchive's data source.
 *
 * Internal API: functions return 0 (or a length) on success and a negative errno on failure.
 */
#pragma once

#include <sys/types.h>

#include "macro.h"

typedef struct ZstdReader ZstdReader;

/*
 * zstd_reader_new: read fd (a regular file, from its start; not taken over: the caller keeps
 * it open until zstd_reader_free). A file that begins with the zstd magic is decompressed
 * (any number of frames one after the other) by a thread started here, which fills at most
 * 4 buffers of 1 MiB ahead of the caller; anything else is handed over as it is, read in the
 * caller's thread. Returns 0 and a reader, or a negative errno (-ENOMEM, the thread's).
 */
int zstd_reader_new(int fd, ZstdReader **ret);

/*
 * zstd_reader_next: the next piece of the content in *ret_buf, valid until the next call or
 * zstd_reader_free. Returns its length (> 0), 0 at the end, -EBADMSG when the compressed data
 * is corrupt or ends inside a frame (truncated), or the read's negative errno; after an
 * error every later call returns it again.
 */
ssize_t zstd_reader_next(ZstdReader *z, const void **ret_buf);

/* zstd_reader_free: stop the thread and free; the fd stays open. NULL ok. */
ZstdReader *zstd_reader_free(ZstdReader *z);
DEFINE_TRIVIAL_CLEANUP_FUNC(ZstdReader *, zstd_reader_free);

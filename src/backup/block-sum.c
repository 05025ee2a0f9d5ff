/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * block-sum.c: an archive file's checksum over blocks, computed while it is written
 * (block-sum.h).
 *
 * The writes come in order, each at the end of what was written, except that one may jump
 * ahead, leaving a gap, and a later one fills the gap in. The block being written is hashed
 * as its bytes come by; a block that holds part of a gap is skipped ("deferred") and read
 * back from the file once no gap is left in it and it is complete. Gaps are few and small
 * (one header frame per large file, at most a few MiB), so the list of gaps and of deferred
 * blocks stays short. The digests go into the outer hash in block order as soon as all before
 * them are known; only those behind a deferred block wait (16 bytes per MiB of the largest
 * file).
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "block-sum.h"
#include "io-util.h"
#include "xxhash-util.h"

typedef struct Digest {
        uint8_t bytes[BLOCK_SUM_SIZE];
} Digest;

typedef struct Gap {
        uint64_t start;
        uint64_t end;
} Gap;

struct BlockSum {
        BlockSumReadFn read;
        void *userdata;
        uint64_t end;           /* everything written so far ends here */
        XXH3_state_t *block;    /* the block `end` is in, hashed so far */
        bool skipped;           /* that block holds part of a gap: deferred, not hashed here */
        XXH3_state_t *scratch;  /* for blocks read back */
        XXH3_state_t *outer;    /* over the digests of blocks [0, fed) */
        uint64_t fed;

        Digest *digests;        /* digests[i] is block fed + i's; the deferred ones set when read back */
        size_t n_digests_alloc;
        uint64_t *deferred;     /* blocks to read back */
        size_t n_deferred;
        size_t n_deferred_alloc;
        Gap *gaps;              /* not filled in yet */
        size_t n_gaps;
        size_t n_gaps_alloc;
        uint8_t *buf;           /* one block, for reading back; made on first use */
};

static void digest_of(XXH3_state_t *st, Digest *ret) {
        XXH128_canonical_t c;

        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
        memcpy(ret->bytes, c.digest, BLOCK_SUM_SIZE);
}

static bool is_deferred(const BlockSum *s, uint64_t block) {
        for (size_t i = 0; i < s->n_deferred; i++)
                if (s->deferred[i] == block)
                        return true;
        return false;
}

/* Feed the outer hash every digest known in order, up to block `upto` (exclusive). */
static void feed(BlockSum *s, uint64_t upto) {
        uint64_t n = 0, live;

        while (s->fed + n < upto && !is_deferred(s, s->fed + n))
                n++;
        if (n == 0)
                return;
        XXH3_128bits_update(s->outer, s->digests, (size_t) n * sizeof(Digest));
        /* What is behind them moves to the front: the blocks up to the one being written. */
        live = MIN((uint64_t) s->n_digests_alloc, s->end / BLOCK_SUM_BLOCK + 1 - s->fed) - n;
        memmove(s->digests, s->digests + n, (size_t) live * sizeof(Digest));
        s->fed += n;
}

static int digest_set(BlockSum *s, uint64_t block, XXH3_state_t *st) {
        assert(block >= s->fed);
        if (GREEDY_REALLOC(s->digests, s->n_digests_alloc, (size_t) (block - s->fed) + 1) < 0)
                return -ENOMEM;
        digest_of(st, &s->digests[block - s->fed]);
        return 0;
}

BlockSum *block_sum_free(BlockSum *s) {
        if (!s)
                return NULL;
        XXH3_freeState(s->block);
        XXH3_freeState(s->scratch);
        XXH3_freeState(s->outer);
        free(s->digests);
        free(s->deferred);
        free(s->gaps);
        free(s->buf);
        free(s);
        return NULL;
}

int block_sum_new(BlockSumReadFn read, void *userdata, BlockSum **ret) {
        BlockSum *s;

        assert(read);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->read = read;
        s->userdata = userdata;
        s->block = XXH3_createState();
        s->scratch = XXH3_createState();
        s->outer = XXH3_createState();
        if (!s->block || !s->scratch || !s->outer) {
                block_sum_free(s);
                return -ENOMEM;
        }
        XXH3_128bits_reset(s->block);
        XXH3_128bits_reset(s->outer);
        *ret = s;
        return 0;
}

static bool gap_in(const BlockSum *s, uint64_t start, uint64_t end) {
        for (size_t i = 0; i < s->n_gaps; i++)
                if (s->gaps[i].start < end && start < s->gaps[i].end)
                        return true;
        return false;
}

/* Read back and hash every deferred block that is complete (or, with last, the final partial
 * one) and holds no gap any more. */
static int resolve(BlockSum *s, bool last) {
        XXH3_state_t *st = s->scratch;
        size_t kept = 0;
        int r = 0;

        for (size_t i = 0; i < s->n_deferred; i++) {
                uint64_t b = s->deferred[i], start = b * BLOCK_SUM_BLOCK;
                uint64_t end = start + BLOCK_SUM_BLOCK;

                if (end > s->end && last)
                        end = s->end;
                if (r < 0 || end > s->end || gap_in(s, start, end)) {
                        s->deferred[kept++] = b;
                        continue;
                }
                if (!s->buf && !(s->buf = malloc(BLOCK_SUM_BLOCK))) {
                        r = -ENOMEM;
                        s->deferred[kept++] = b;
                        continue;
                }
                r = s->read(s->userdata, s->buf, (size_t) (end - start), start);
                if (r >= 0) {
                        XXH3_128bits_reset(st);
                        XXH3_128bits_update(st, s->buf, (size_t) (end - start));
                        r = digest_set(s, b, st);
                }
                if (r < 0)
                        s->deferred[kept++] = b;
        }
        s->n_deferred = kept;
        feed(s, s->end / BLOCK_SUM_BLOCK);
        return r;
}

static int defer(BlockSum *s, uint64_t block) {
        if (s->n_deferred > 0 && s->deferred[s->n_deferred - 1] == block)
                return 0;
        if (GREEDY_REALLOC(s->deferred, s->n_deferred_alloc, s->n_deferred + 1) < 0)
                return -ENOMEM;
        s->deferred[s->n_deferred++] = block;
        return 0;
}

/* The block `end` is in is complete: keep its digest, or leave it deferred. */
static int block_close(BlockSum *s) {
        uint64_t b = s->end / BLOCK_SUM_BLOCK - 1;
        int r;

        if (s->skipped) {
                s->skipped = false;
                return resolve(s, false);
        }
        r = digest_set(s, b, s->block);
        XXH3_128bits_reset(s->block);
        if (r >= 0)
                feed(s, b + 1);
        return r;
}

/* Bytes below the end: they must fill in (part of) one gap. */
static int fill_in(BlockSum *s, uint64_t start, uint64_t end) {
        for (size_t i = 0; i < s->n_gaps; i++) {
                Gap *g = &s->gaps[i];

                if (start < g->start || end > g->end)
                        continue;
                if (start > g->start && end < g->end) {
                        /* In the middle: the gap splits in two. */
                        if (GREEDY_REALLOC(s->gaps, s->n_gaps_alloc, s->n_gaps + 1) < 0)
                                return -ENOMEM;
                        g = &s->gaps[i];
                        s->gaps[s->n_gaps++] = (Gap) { end, g->end };
                        g->end = start;
                } else if (start > g->start)
                        g->end = start;
                else
                        g->start = end;
                if (g->start == g->end)
                        s->gaps[i] = s->gaps[--s->n_gaps];
                return resolve(s, false);
        }
        return -EINVAL;
}

/* A jump from the end to offset: the bytes between are a gap, the blocks it touches deferred. */
static int open_gap(BlockSum *s, uint64_t offset) {
        int r;

        if (GREEDY_REALLOC(s->gaps, s->n_gaps_alloc, s->n_gaps + 1) < 0)
                return -ENOMEM;
        s->gaps[s->n_gaps++] = (Gap) { s->end, offset };
        for (uint64_t b = s->end / BLOCK_SUM_BLOCK; b <= (offset - 1) / BLOCK_SUM_BLOCK; b++) {
                r = defer(s, b);
                if (r < 0)
                        return r;
        }
        XXH3_128bits_reset(s->block);
        s->skipped = offset % BLOCK_SUM_BLOCK != 0;
        s->end = offset;
        return 0;
}

int block_sum_add(BlockSum *s, const void *data, size_t len, uint64_t offset) {
        const uint8_t *p = data;
        int r;

        assert(s);
        assert(data || len == 0);

        if (len == 0)
                return 0;
        if (offset < s->end)
                return offset + len <= s->end ? fill_in(s, offset, offset + len) : -EINVAL;
        if (offset > s->end) {
                r = open_gap(s, offset);
                if (r < 0)
                        return r;
        }
        while (len > 0) {
                size_t k = (size_t) MIN((uint64_t) len, BLOCK_SUM_BLOCK - s->end % BLOCK_SUM_BLOCK);

                if (!s->skipped)
                        XXH3_128bits_update(s->block, p, k);
                s->end += k;
                p += k;
                len -= k;
                if (s->end % BLOCK_SUM_BLOCK == 0) {
                        r = block_close(s);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static void outer_digest(XXH3_state_t *outer, uint8_t ret[static BLOCK_SUM_SIZE]) {
        Digest d;

        digest_of(outer, &d);
        memcpy(ret, d.bytes, BLOCK_SUM_SIZE);
}

int block_sum_finish(BlockSum *s, uint8_t ret[static BLOCK_SUM_SIZE]) {
        uint64_t n = (s->end + BLOCK_SUM_BLOCK - 1) / BLOCK_SUM_BLOCK;
        int r;

        assert(s);

        if (s->n_gaps > 0)
                return -EBADMSG;
        if (s->end % BLOCK_SUM_BLOCK != 0 && !s->skipped) {
                r = digest_set(s, n - 1, s->block);
                if (r < 0)
                        return r;
        }
        r = resolve(s, true);
        if (r < 0)
                return r;
        assert(s->n_deferred == 0);
        feed(s, n);
        assert(s->fed == n);
        outer_digest(s->outer, ret);
        return 0;
}

int block_sum_file(int fd, uint8_t ret[static BLOCK_SUM_SIZE]) {
        _cleanup_free_ uint8_t *buf = malloc(BLOCK_SUM_BLOCK);
        XXH3_state_t *st = XXH3_createState(), *outer = XXH3_createState();
        struct stat sb;
        int r = 0;

        if (!buf || !st || !outer)
                r = -ENOMEM;
        else if (fstat(fd, &sb) < 0)
                r = -errno;
        else {
                XXH3_128bits_reset(outer);
                for (uint64_t off = 0; off < (uint64_t) sb.st_size && r >= 0; off += BLOCK_SUM_BLOCK) {
                        size_t k = (size_t) MIN((uint64_t) BLOCK_SUM_BLOCK, (uint64_t) sb.st_size - off);
                        Digest d;

                        r = pread_full(fd, buf, k, off);
                        if (r < 0)
                                break;
                        XXH3_128bits_reset(st);
                        XXH3_128bits_update(st, buf, k);
                        digest_of(st, &d);
                        XXH3_128bits_update(outer, &d, sizeof(d));
                }
                if (r >= 0)
                        outer_digest(outer, ret);
        }
        XXH3_freeState(st);
        XXH3_freeState(outer);
        return r;
}

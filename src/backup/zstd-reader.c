/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zstd-reader.c: decompress an archive on a thread of its own while the caller uses what
 * came before (a restore hashes every file and writes it). libarchive's zstd filter would
 * decompress in the caller's thread, between the writes; here one thread reads and
 * decompresses into a ring of SLOTS buffers and the caller takes them in order. The ring is
 * the only queue, so memory stays bounded: SLOTS x SLOT_SIZE, one input buffer, and zstd's
 * window (at most 8 MiB for the levels vssbackup writes; zstd's default limit of 128 MiB for
 * anything else).
 *
 * The slot the caller holds stays its own until its next call (libarchive's read callback
 * contract), so the producer never writes into it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "zstd-reader.h"

#define SLOTS 4U
#define SLOT_SIZE (1024U * 1024U)
#define IN_SIZE (1024U * 1024U)
#define ZSTD_MAGIC 0xFD2FB528U

struct ZstdReader {
        int fd;
        bool compressed;

        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t filled;  /* the producer made a slot full, or finished */
        pthread_cond_t freed;   /* the caller gave a slot back, or wants the producer gone */
        uint8_t *slot[SLOTS];
        size_t len[SLOTS];
        unsigned head;          /* the next full slot the caller takes */
        unsigned n_full;        /* full slots not taken yet, from head on */
        bool held;              /* the caller holds the slot before head */
        bool done;              /* the producer is finished: at the end, or error set */
        bool stop;
        int error;

        /* The producer's own. */
        ZSTD_DStream *ds;
        uint8_t *in;
};

static int read_some(int fd, uint8_t *buf, size_t size, size_t *ret) {
        for (;;) {
                ssize_t n = read(fd, buf, size);

                if (n >= 0) {
                        *ret = (size_t) n;
                        return 0;
                }
                if (errno != EINTR)
                        return -errno;
        }
}

/* Fill one slot: returns 1 when more may follow, 0 at the end of the input, or an error. */
static int fill_slot(ZstdReader *z, ZSTD_inBuffer *in, bool *eof, size_t *last, uint8_t *slot, size_t *ret_len) {
        ZSTD_outBuffer out = { slot, SLOT_SIZE, 0 };
        int r = 1;

        while (out.pos < out.size) {
                size_t k;

                if (in->pos == in->size && !*eof) {
                        size_t n = 0;

                        r = read_some(z->fd, z->in, IN_SIZE, &n);
                        if (r < 0)
                                break;
                        r = 1;
                        *in = (ZSTD_inBuffer) { z->in, n, 0 };
                        *eof = n == 0;
                }
                /* All read, and the last frame ended and was flushed: the clean end. */
                if (*eof && in->pos == in->size && *last == 0) {
                        r = 0;
                        break;
                }
                k = ZSTD_decompressStream(z->ds, &out, in);
                if (ZSTD_isError(k)) {
                        r = -EBADMSG;
                        break;
                }
                *last = k;
                /* Out of input with room left in the slot: zstd holds nothing more. A frame
                 * still open here (k != 0) means the file was cut short. */
                if (*eof && in->pos == in->size && out.pos < out.size) {
                        r = k == 0 ? 0 : -EBADMSG;
                        break;
                }
        }
        *ret_len = out.pos;
        return r;
}

static void *producer(void *userdata) {
        ZstdReader *z = userdata;
        ZSTD_inBuffer in = { z->in, 0, 0 };
        size_t last = 1;        /* not yet at the end of a frame */
        bool eof = false;

        for (;;) {
                unsigned idx;
                size_t len;
                int r;

                pthread_mutex_lock(&z->lock);
                while (z->n_full + (z->held ? 1U : 0U) == SLOTS && !z->stop)
                        pthread_cond_wait(&z->freed, &z->lock);
                if (z->stop) {
                        pthread_mutex_unlock(&z->lock);
                        return NULL;
                }
                idx = (z->head + z->n_full) % SLOTS;
                pthread_mutex_unlock(&z->lock);

                r = fill_slot(z, &in, &eof, &last, z->slot[idx], &len);

                pthread_mutex_lock(&z->lock);
                z->len[idx] = len;
                if (len > 0)
                        z->n_full++;
                if (r <= 0) {
                        z->done = true;
                        z->error = r;
                }
                pthread_cond_signal(&z->filled);
                pthread_mutex_unlock(&z->lock);
                if (r <= 0)
                        return NULL;
        }
}

int zstd_reader_new(int fd, ZstdReader **ret) {
        _cleanup_(zstd_reader_freep) ZstdReader *z = NULL;
        uint8_t magic[4];
        ssize_t n;
        int r;

        z = calloc(1, sizeof(*z));
        if (!z)
                return -ENOMEM;
        z->fd = fd;
        pthread_mutex_init(&z->lock, NULL);
        pthread_cond_init(&z->filled, NULL);
        pthread_cond_init(&z->freed, NULL);

        do
                n = pread(fd, magic, sizeof(magic), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        z->compressed = n == sizeof(magic) &&
                        ((uint32_t) magic[0] | (uint32_t) magic[1] << 8 | (uint32_t) magic[2] << 16 |
                         (uint32_t) magic[3] << 24) == ZSTD_MAGIC;

        /* Uncompressed: read in the caller's thread, into slot 0. */
        z->slot[0] = malloc(SLOT_SIZE);
        if (!z->slot[0])
                return -ENOMEM;
        if (!z->compressed) {
                *ret = TAKE_PTR(z);
                return 0;
        }

        for (unsigned i = 1; i < SLOTS; i++) {
                z->slot[i] = malloc(SLOT_SIZE);
                if (!z->slot[i])
                        return -ENOMEM;
        }
        z->in = malloc(IN_SIZE);
        z->ds = ZSTD_createDStream();
        if (!z->in || !z->ds)
                return -ENOMEM;

        r = -pthread_create(&z->thread, NULL, producer, z);
        if (r < 0)
                return r;
        z->started = true;
        *ret = TAKE_PTR(z);
        return 0;
}

ssize_t zstd_reader_next(ZstdReader *z, const void **ret_buf) {
        ssize_t n;
        unsigned idx;

        if (!z->compressed) {
                size_t got = 0;
                int r;

                if (z->error < 0)
                        return z->error;
                r = read_some(z->fd, z->slot[0], SLOT_SIZE, &got);
                if (r < 0)
                        return z->error = r;
                *ret_buf = z->slot[0];
                return (ssize_t) got;
        }

        pthread_mutex_lock(&z->lock);
        if (z->held) {
                z->held = false;
                pthread_cond_signal(&z->freed);
        }
        while (z->n_full == 0 && !z->done)
                pthread_cond_wait(&z->filled, &z->lock);
        if (z->n_full == 0) {
                n = z->error;
                pthread_mutex_unlock(&z->lock);
                return n;
        }
        idx = z->head;
        z->head = (z->head + 1) % SLOTS;
        z->n_full--;
        z->held = true;
        n = (ssize_t) z->len[idx];
        pthread_mutex_unlock(&z->lock);

        *ret_buf = z->slot[idx];
        return n;
}

ZstdReader *zstd_reader_free(ZstdReader *z) {
        if (!z)
                return NULL;

        if (z->started) {
                pthread_mutex_lock(&z->lock);
                z->stop = true;
                pthread_cond_signal(&z->freed);
                pthread_mutex_unlock(&z->lock);
                (void) pthread_join(z->thread, NULL);
        }
        pthread_mutex_destroy(&z->lock);
        pthread_cond_destroy(&z->filled);
        pthread_cond_destroy(&z->freed);
        for (unsigned i = 0; i < SLOTS; i++)
                free(z->slot[i]);
        free(z->in);
        ZSTD_freeDStream(z->ds);
        free(z);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * chunk-reader.c: a large file's chunks read ahead on a thread of their own (chunk-reader.h).
 *
 * Why: with one thread, the disk waited while the archive writer hashed, probed and handed over
 * each chunk, and the writer waited while the disk read the next one. Reading O_DIRECT makes
 * the wait longer still, since the kernel's read-ahead no longer runs in front of us (page
 * cache bypassed: see read_direct_begin). Here one thread keeps up to `ahead` chunks read, so
 * there is always a read in flight.
 *
 * One lock guards the ring of chunks read and not yet taken. A read error ends the reading;
 * the caller gets the chunks before it, then the error.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "chunk-reader.h"
#include "io-util.h"

#define DIRECT_ALIGN WRITE_QUEUE_ALIGN  /* offsets and lengths of O_DIRECT reads */

typedef struct Chunk {
        uint8_t *buf;
        size_t len;
} Chunk;

struct ChunkReader {
        WriteQueue *queue;
        size_t chunk_size;
        int fd;
        const Segment *segs;
        size_t n_segs;
        bool direct;            /* the reader's: fd is O_DIRECT */

        Chunk *ring;            /* `ahead` entries */
        size_t ahead;
        size_t head;
        size_t n_ready;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t ready;   /* a chunk was read, or the reading ended */
        pthread_cond_t taken;   /* a chunk was taken, or stop was set */
        bool stop;
        bool ended;
        int error;
};

/*
 * pread_full of a file opened O_DIRECT: buf and off aligned to DIRECT_ALIGN, and buf room for
 * size rounded up to it (the kernel reads whole blocks; the file's end makes the read short).
 */
static int pread_direct(int fd, uint8_t *buf, size_t size, uint64_t off) {
        size_t want = ROUND_UP(size, (size_t) DIRECT_ALIGN), got = 0;

        while (got < size) {
                ssize_t n = pread(fd, buf + got, want - got, (off_t) (off + got));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
                /* Nothing, or short but not at a block's end: the file ends before size. */
                if (n == 0 || (got < size && got % DIRECT_ALIGN != 0))
                        return -ESTALE;
        }
        return 0;
}

/*
 * Whether the chunks can be read O_DIRECT, and if so, fd switched to it: the data then goes
 * from the disk into the queue's buffer without the page cache, where each byte read once
 * would cost a page allocated, filled, copied out and reclaimed again (`_copy_to_iter` was
 * the largest kernel entry of the reading thread's profile). Every chunk starts at a
 * segment's offset plus a multiple of the chunk size, so aligned offsets are all it needs.
 */
static bool read_direct_begin(ChunkReader *r) {
        int fl;

        if (r->chunk_size % DIRECT_ALIGN != 0)
                return false;
        for (size_t i = 0; i < r->n_segs; i++)
                if (r->segs[i].offset % DIRECT_ALIGN != 0)
                        return false;
        fl = fcntl(r->fd, F_GETFL);
        return fl >= 0 && fcntl(r->fd, F_SETFL, fl | O_DIRECT) >= 0;
}

/* Read one chunk: O_DIRECT while r->direct; a filesystem that refuses it for this file
 * (-EINVAL) gets ordinary reads instead, from this chunk on. */
static int chunk_read(ChunkReader *r, uint8_t *buf, size_t n, uint64_t offset) {
        int k, fl;

        if (r->direct) {
                k = pread_direct(r->fd, buf, n, offset);
                if (k != -EINVAL)
                        return k;
                r->direct = false;
                fl = fcntl(r->fd, F_GETFL);
                if (fl < 0 || fcntl(r->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                        return -errno;
        }
        return pread_full(r->fd, buf, n, offset);
}

/* Wait for room in the ring; false when told to stop. Called and returns locked. */
static bool wait_room(ChunkReader *r) {
        while (!r->stop && r->n_ready == r->ahead)
                pthread_cond_wait(&r->taken, &r->lock);
        return !r->stop;
}

static void *reader_thread(void *userdata) {
        ChunkReader *r = userdata;
        int k = 0;

        r->direct = read_direct_begin(r);
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_segs && k == 0; i++)
                for (uint64_t done = 0; done < r->segs[i].length && k == 0;) {
                        size_t n = (size_t) MIN((uint64_t) r->chunk_size, r->segs[i].length - done);
                        uint8_t *buf;

                        if (!wait_room(r))
                                goto out;
                        pthread_mutex_unlock(&r->lock);
                        buf = write_queue_get(r->queue);
                        k = chunk_read(r, buf, n, r->segs[i].offset + done);
                        pthread_mutex_lock(&r->lock);
                        if (k < 0 || r->stop) {
                                write_queue_release(r->queue, buf);
                                break;
                        }
                        r->ring[(r->head + r->n_ready) % r->ahead] = (Chunk) { buf, n };
                        r->n_ready++;
                        pthread_cond_signal(&r->ready);
                        done += n;
                }
out:
        r->error = k;
        r->ended = true;
        pthread_cond_signal(&r->ready);
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

int chunk_reader_new(WriteQueue *q, int fd, const Segment *segs, size_t n_segs, size_t ahead, ChunkReader **ret) {
        _cleanup_(chunk_reader_freep) ChunkReader *r = NULL;
        int k;

        assert(q);
        assert(fd >= 0);
        assert(segs || n_segs == 0);
        assert(ahead > 0);
        assert(ret);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->queue = q;
        r->chunk_size = write_queue_buffer_size(q);
        r->fd = fd;
        r->segs = segs;
        r->n_segs = n_segs;
        r->ahead = ahead;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->ready, NULL);
        pthread_cond_init(&r->taken, NULL);
        r->ring = calloc(ahead, sizeof(Chunk));
        if (!r->ring)
                return -ENOMEM;

        k = -pthread_create(&r->thread, NULL, reader_thread, r);
        if (k < 0)
                return k;
        r->thread_started = true;

        *ret = TAKE_PTR(r);
        return 0;
}

int chunk_reader_next(ChunkReader *r, uint8_t **ret_buf, size_t *ret_len) {
        int k = 1;

        assert(r);
        assert(ret_buf);
        assert(ret_len);

        pthread_mutex_lock(&r->lock);
        while (r->n_ready == 0 && !r->ended)
                pthread_cond_wait(&r->ready, &r->lock);
        if (r->n_ready > 0) {
                *ret_buf = r->ring[r->head].buf;
                *ret_len = r->ring[r->head].len;
                r->head = (r->head + 1) % r->ahead;
                r->n_ready--;
                pthread_cond_signal(&r->taken);
        } else
                k = r->error;
        pthread_mutex_unlock(&r->lock);
        return k;
}

ChunkReader *chunk_reader_free(ChunkReader *r) {
        if (!r)
                return NULL;

        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_signal(&r->taken);
                pthread_mutex_unlock(&r->lock);
                (void) pthread_join(r->thread, NULL);
        }
        for (; r->n_ready > 0; r->n_ready--) {
                write_queue_release(r->queue, r->ring[r->head].buf);
                r->head = (r->head + 1) % r->ahead;
        }
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->ready);
        pthread_cond_destroy(&r->taken);
        free(r->ring);
        free(r);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * write-queue.c: positional writes of one file on a thread of their own (write-queue.h).
 *
 * Why a thread: an archive of large incompressible files is mostly copies. Profiled on a full
 * backup of 2 × 1 GiB, the copy of each written byte into the page cache
 * (copy_folio_from_iter_atomic) took more of the backup's CPU than reading, hashing and
 * probing the same byte together, all on the one thread that also waited for the disk. Here
 * the writing runs beside them, on the second core, with the writeback of what it wrote
 * started every write_behind bytes.
 *
 * Not O_DIRECT, although it halves the writing thread's CPU: vssbackup hashes the whole
 * archive once it is written (the manifest's checksum), and that read comes from the page
 * cache; written O_DIRECT, it came from the disk again and the backup took 2-3 times longer.
 *
 * One lock guards the queue; jobs are a ring served in order. A buffer is free when the
 * caller does not hold it and no queued job points into it, so a buffer handed over is
 * never refilled before its bytes are written. After the first failed write the thread
 * writes nothing more but still gives every buffer back, and put/drain report that error.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io-util.h"
#include "write-queue.h"

#define NO_BUFFER SIZE_MAX

typedef struct Job {
        size_t buffer;          /* index of the buffer the pieces point into, or NO_BUFFER */
        uint64_t offset;
        int n_iov;
        struct iovec iov[WRITE_QUEUE_IOV_MAX];
        uint8_t inline_bytes[WRITE_QUEUE_INLINE_MAX];
        uint8_t *copy;          /* owned bytes of write_queue_put_copy */
} Job;

typedef struct Buffer {
        bool held;
        unsigned queued;        /* jobs not yet written that point into it */
} Buffer;

struct WriteQueue {
        int fd;
        uint64_t write_behind;
        uint64_t synced;        /* writeback started up to here (the thread's) */
        uint64_t written;       /* the end of the furthest write so far (the thread's) */

        uint8_t *memory;        /* n_buffers × buffer_size */
        size_t buffer_size;
        size_t n_buffers;
        Buffer *buffers;

        Job *jobs;              /* ring */
        size_t n_jobs_max;
        size_t head;
        size_t n_jobs;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t queued;  /* a job was queued, or stop was set */
        pthread_cond_t done;    /* a job was written (or dropped) */
        bool stop;
        int error;
};

/* Start the writeback of what lies behind the furthest write (see write_queue_new). */
static void write_behind(WriteQueue *q, uint64_t end) {
        q->written = MAX(q->written, end);
        if (q->write_behind > 0 && q->written >= q->synced + q->write_behind) {
                (void) sync_file_range(q->fd, (off_t) q->synced, (off_t) (q->written - q->synced),
                                       SYNC_FILE_RANGE_WRITE);
                q->synced = q->written;
        }
}

static int job_write(WriteQueue *q, Job *j) {
        uint64_t end = j->offset;
        int r;

        for (int i = 0; i < j->n_iov; i++)
                end += j->iov[i].iov_len;
        r = pwritev_full(q->fd, j->iov, j->n_iov, j->offset);
        if (r >= 0)
                write_behind(q, end);
        return r;
}

static void *writer_thread(void *userdata) {
        WriteQueue *q = userdata;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                Job *j;
                int r = 0;

                while (q->n_jobs == 0 && !q->stop)
                        pthread_cond_wait(&q->queued, &q->lock);
                if (q->n_jobs == 0)
                        break;
                j = &q->jobs[q->head];
                if (q->error == 0 && !q->stop) {
                        /* The job stays in its ring slot while written: nobody reuses the
                         * slot before n_jobs drops below. */
                        pthread_mutex_unlock(&q->lock);
                        r = job_write(q, j);
                        pthread_mutex_lock(&q->lock);
                }
                if (r < 0 && q->error == 0)
                        q->error = r;
                if (j->buffer != NO_BUFFER)
                        q->buffers[j->buffer].queued--;
                free(j->copy);
                j->copy = NULL;
                q->head = (q->head + 1) % q->n_jobs_max;
                q->n_jobs--;
                pthread_cond_broadcast(&q->done);
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

int write_queue_new(int fd, size_t n_buffers, size_t buffer_size, uint64_t write_behind, WriteQueue **ret) {
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        int r;

        assert(fd >= 0);
        assert(n_buffers > 0 && buffer_size > 0 && buffer_size % WRITE_QUEUE_ALIGN == 0);
        assert(ret);

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->fd = fd;
        q->write_behind = write_behind;
        q->buffer_size = buffer_size;
        q->n_buffers = n_buffers;
        q->n_jobs_max = n_buffers * 4;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->queued, NULL);
        pthread_cond_init(&q->done, NULL);

        if (buffer_size > SIZE_MAX / n_buffers ||
            posix_memalign((void **) &q->memory, WRITE_QUEUE_ALIGN, n_buffers * buffer_size) != 0)
                return -ENOMEM;
        q->buffers = calloc(n_buffers, sizeof(Buffer));
        q->jobs = calloc(q->n_jobs_max, sizeof(Job));
        if (!q->buffers || !q->jobs)
                return -ENOMEM;

        r = -pthread_create(&q->thread, NULL, writer_thread, q);
        if (r < 0)
                return r;
        q->thread_started = true;

        *ret = TAKE_PTR(q);
        return 0;
}

size_t write_queue_buffer_size(const WriteQueue *q) {
        assert(q);
        return q->buffer_size;
}

uint8_t *write_queue_get(WriteQueue *q) {
        uint8_t *p = NULL;

        assert(q);

        pthread_mutex_lock(&q->lock);
        while (!p) {
                for (size_t i = 0; i < q->n_buffers; i++)
                        if (!q->buffers[i].held && q->buffers[i].queued == 0) {
                                q->buffers[i].held = true;
                                p = q->memory + i * q->buffer_size;
                                break;
                        }
                if (!p)
                        pthread_cond_wait(&q->done, &q->lock);
        }
        pthread_mutex_unlock(&q->lock);
        return p;
}

static size_t buffer_index(const WriteQueue *q, const uint8_t *buf) {
        size_t i;

        assert(buf >= q->memory && buf < q->memory + q->n_buffers * q->buffer_size);
        i = (size_t) (buf - q->memory) / q->buffer_size;
        assert(buf == q->memory + i * q->buffer_size);
        return i;
}

void write_queue_release(WriteQueue *q, uint8_t *buf) {
        size_t i;

        assert(q);
        if (!buf)
                return;
        i = buffer_index(q, buf);
        pthread_mutex_lock(&q->lock);
        assert(q->buffers[i].held);
        q->buffers[i].held = false;
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->lock);
}

/* Copy the pieces into j; a piece outside buf is copied into j's own bytes. */
static void job_fill(Job *j, const uint8_t *buf, size_t size, const struct iovec *iov, int n) {
        size_t used = 0;

        j->n_iov = n;
        for (int i = 0; i < n; i++) {
                uintptr_t p = (uintptr_t) iov[i].iov_base, b = (uintptr_t) buf;
                size_t len = iov[i].iov_len;

                if (buf && p >= b && len <= size && p - b <= size - len) {
                        j->iov[i] = iov[i];
                        continue;
                }
                assert(len <= WRITE_QUEUE_INLINE_MAX - used);
                memcpy(j->inline_bytes + used, iov[i].iov_base, len);
                j->iov[i] = (struct iovec) { j->inline_bytes + used, len };
                used += len;
        }
}

/* Queue a job once there is room; fill() sets it up under the lock. Returns the queue's error
 * instead when there is one (then nothing is queued). */
static int queue_job(WriteQueue *q, void (*fill)(Job *j, void *userdata), void *userdata) {
        int r;

        pthread_mutex_lock(&q->lock);
        while (q->error == 0 && q->n_jobs == q->n_jobs_max)
                pthread_cond_wait(&q->done, &q->lock);
        r = q->error;
        if (r == 0) {
                Job *j = &q->jobs[(q->head + q->n_jobs) % q->n_jobs_max];

                *j = (Job) { .buffer = NO_BUFFER };
                fill(j, userdata);
                if (j->buffer != NO_BUFFER)
                        q->buffers[j->buffer].queued++;
                q->n_jobs++;
                pthread_cond_signal(&q->queued);
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}

typedef struct PutArgs {
        WriteQueue *q;
        uint8_t *buf;
        size_t buffer;
        const struct iovec *iov;
        int n;
        uint64_t offset;
        uint8_t *copy;
        size_t len;
} PutArgs;

static void fill_put(Job *j, void *userdata) {
        PutArgs *a = userdata;

        j->offset = a->offset;
        if (a->copy) {
                j->copy = a->copy;
                j->iov[0] = (struct iovec) { a->copy, a->len };
                j->n_iov = 1;
                return;
        }
        j->buffer = a->buffer;
        job_fill(j, a->buf, a->q->buffer_size, a->iov, a->n);
}

int write_queue_put(WriteQueue *q, uint8_t *buf, const struct iovec *iov, int n, uint64_t offset) {
        PutArgs a = { .q = q, .buf = buf, .iov = iov, .n = n, .offset = offset };

        assert(q);
        assert(iov || n == 0);
        assert(n >= 0 && n <= WRITE_QUEUE_IOV_MAX);

        a.buffer = buffer_index(q, buf);
        assert(q->buffers[a.buffer].held);
        return queue_job(q, fill_put, &a);
}

int write_queue_put_copy(WriteQueue *q, const void *data, size_t len, uint64_t offset) {
        PutArgs a = { .q = q, .offset = offset, .len = len };
        int r;

        assert(q);
        assert(data || len == 0);

        a.copy = malloc(MAX(len, (size_t) 1));
        if (!a.copy)
                return -ENOMEM;
        memcpy(a.copy, data, len);
        r = queue_job(q, fill_put, &a);
        if (r < 0)
                free(a.copy);
        return r;
}

int write_queue_drain(WriteQueue *q) {
        int r;

        assert(q);

        pthread_mutex_lock(&q->lock);
        while (q->n_jobs > 0)
                pthread_cond_wait(&q->done, &q->lock);
        r = q->error;
        pthread_mutex_unlock(&q->lock);
        return r;
}

WriteQueue *write_queue_free(WriteQueue *q) {
        if (!q)
                return NULL;

        if (q->thread_started) {
                pthread_mutex_lock(&q->lock);
                q->stop = true;
                pthread_cond_signal(&q->queued);
                pthread_mutex_unlock(&q->lock);
                (void) pthread_join(q->thread, NULL);
        }
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->queued);
        pthread_cond_destroy(&q->done);
        free(q->jobs);
        free(q->buffers);
        free(q->memory);
        free(q);
        return NULL;
}

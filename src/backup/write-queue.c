/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * write-queue.c: positional writes of one file on a thread of their own (write-queue.h).
 *
 * Why a thread: an archive of large incompressible files is mostly copies. Profiled on a full
 * backup of 2 × 1 GiB, the copy of each written byte into the page cache
 * (copy_folio_from_iter_atomic) took more of the backup's CPU than reading, hashing and
 * probing the same byte together, all on the one thread that also waited for the disk. Here
 * the writing runs beside them, on the second core.
 *
 * Why O_DIRECT: the page cache costs the writing thread a page allocated, filled, written
 * back and reclaimed per 4 KiB, and under dirty-page throttling it sleeps, for bytes nobody
 * reads again (`dd` of 2 GiB to the bench's backup device: 0.97 s of system time buffered,
 * 0.21 s O_DIRECT). Where the filesystem allows it, the thread gathers the stream in an
 * aligned staging buffer and writes it out in whole aligned blocks; the stream is contiguous,
 * so all that stays behind is a tail of less than one block. Bytes filled in below what was
 * already written (the header frames, filled in after their file's content) and the final
 * tail go through the ordinary descriptor: the kernel merges them with the blocks on disk. A
 * filesystem that refuses O_DIRECT gets every write through the ordinary descriptor, as it
 * comes, with its writeback started every write_behind bytes.
 *
 * The thread also makes the file's checksum over blocks (block-sum.h) from the bytes it
 * writes, while they are in memory: hashing the finished archive again cost a full backup of
 * large files an eighth of its time, all of it after the copy, and would read an archive
 * written O_DIRECT back from the disk.
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

#include "block-sum.h"
#include "io-util.h"
#include "write-queue.h"

#define NO_BUFFER SIZE_MAX
#define STAGE_SIZE (2U * 1024U * 1024U)     /* gathered before each O_DIRECT write */

typedef enum JobKind {
        JOB_WRITE,              /* iov at offset */
        JOB_FLUSH,              /* write out the staged tail too (write_queue_drain) */
} JobKind;

typedef struct Job {
        JobKind kind;
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
        BlockSum *sum;          /* the file's checksum, as written (the thread's until drained) */

        /* O_DIRECT (the thread's): stage holds the file's bytes from stage_off on. */
        int dfd;                /* fd reopened O_DIRECT, or -EBADF */
        uint8_t *stage;
        uint64_t stage_off;     /* a multiple of WRITE_QUEUE_ALIGN; everything before is in the file */
        size_t stage_len;

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

/*
 * fd reopened O_DIRECT, with the same access (a descriptor not open for writing stays so),
 * when its filesystem takes our alignment (statx says so, or, where it does not tell, the
 * first write finds out: stage_write falls back); else -EBADF. Direct writes wait for the
 * device, which is this thread's to wait for.
 */
static int direct_open(int fd) {
        char path[sizeof("/proc/self/fd/") + 12];
        int mode = fcntl(fd, F_GETFL);
        struct statx sx;

        if (mode < 0 || (mode & O_ACCMODE) == O_RDONLY)
                return -EBADF;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
            (sx.stx_dio_offset_align == 0 || sx.stx_dio_offset_align > WRITE_QUEUE_ALIGN ||
             sx.stx_dio_mem_align > WRITE_QUEUE_ALIGN))
                return -EBADF;
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        fd = open(path, (mode & O_ACCMODE) | O_DIRECT | O_CLOEXEC);
        return fd >= 0 ? fd : -EBADF;
}

/* Stop writing O_DIRECT: what is staged goes through fd like everything after it. */
static int direct_give_up(WriteQueue *q) {
        int r;

        r = pwrite_full(q->fd, q->stage, q->stage_len, q->stage_off);
        closep(&q->dfd);
        q->dfd = -EBADF;
        q->stage_off += q->stage_len;
        q->stage_len = 0;
        return r;
}

/* Write the whole blocks of the stage O_DIRECT and keep the rest; with tail, also write the
 * rest through fd (it stays staged: the next bytes complete its block). */
static int stage_write(WriteQueue *q, bool tail) {
        size_t n = q->stage_len / WRITE_QUEUE_ALIGN * WRITE_QUEUE_ALIGN;
        int r;

        if (n > 0) {
                r = pwrite_full(q->dfd, q->stage, n, q->stage_off);
                if (r == -EINVAL)
                        return direct_give_up(q);
                if (r < 0)
                        return r;
                memmove(q->stage, q->stage + n, q->stage_len - n);
                q->stage_off += n;
                q->stage_len -= n;
        }
        if (tail && q->stage_len > 0)
                return pwrite_full(q->fd, q->stage, q->stage_len, q->stage_off);
        return 0;
}

/* Append len bytes (zeros when p is NULL) at the stage's end, writing each full stage out. */
static int stage_append(WriteQueue *q, const uint8_t *p, size_t len) {
        while (len > 0 && q->dfd >= 0) {
                size_t k = MIN(len, STAGE_SIZE - q->stage_len);
                int r;

                if (p) {
                        memcpy(q->stage + q->stage_len, p, k);
                        p += k;
                } else
                        memset(q->stage + q->stage_len, 0, k);
                q->stage_len += k;
                len -= k;
                if (q->stage_len == STAGE_SIZE) {
                        r = stage_write(q, false);
                        if (r < 0)
                                return r;
                }
        }
        if (len > 0 && p)       /* O_DIRECT given up on the way */
                return pwrite_full(q->fd, p, len, q->stage_off + q->stage_len);
        return 0;
}

/* Put len bytes at offset while writing O_DIRECT: below the stage through fd, inside it in
 * place, past its end appended (after zeros for a gap: room left for a later fill-in). */
static int stage_put(WriteQueue *q, const uint8_t *p, size_t len, uint64_t offset) {
        uint64_t end = q->stage_off + q->stage_len;
        int r;

        if (offset < q->stage_off) {
                size_t k = (size_t) MIN((uint64_t) len, q->stage_off - offset);

                r = pwrite_full(q->fd, p, k, offset);
                if (r < 0)
                        return r;
                p += k;
                len -= k;
                offset += k;
        }
        if (len > 0 && offset < end) {
                size_t k = (size_t) MIN((uint64_t) len, end - offset);

                memcpy(q->stage + (offset - q->stage_off), p, k);
                p += k;
                len -= k;
                offset += k;
        }
        if (len == 0)
                return 0;
        r = stage_append(q, NULL, offset - end);
        if (r < 0)
                return r;
        return stage_append(q, p, len);
}

/* The file as written so far, for the checksum's blocks read back: what is staged from the
 * stage, the rest from the file. */
static int file_read(void *userdata, uint8_t *buf, size_t len, uint64_t offset) {
        WriteQueue *q = userdata;
        uint64_t end = offset + len;

        if (q->dfd >= 0 && end > q->stage_off) {
                uint64_t from = MAX(offset, q->stage_off);

                if (end > q->stage_off + q->stage_len)
                        return -EIO;
                memcpy(buf + (from - offset), q->stage + (from - q->stage_off), (size_t) (end - from));
                end = from;
        }
        return end > offset ? pread_full(q->fd, buf, (size_t) (end - offset), offset) : 0;
}

/* Start the writeback of what lies behind the furthest write (see write_queue_new). */
static void write_behind(WriteQueue *q, uint64_t end) {
        q->written = MAX(q->written, end);
        if (q->write_behind > 0 && q->written >= q->synced + q->write_behind) {
                (void) sync_file_range(q->fd, (off_t) q->synced, (off_t) (q->written - q->synced),
                                       SYNC_FILE_RANGE_WRITE);
                q->synced = q->written;
        }
}

/* Write one piece: staged while O_DIRECT, else straight through fd. */
static int piece_write(WriteQueue *q, const struct iovec *iov, uint64_t offset) {
        int r;

        if (q->dfd >= 0)
                return stage_put(q, iov->iov_base, iov->iov_len, offset);
        r = pwrite_full(q->fd, iov->iov_base, iov->iov_len, offset);
        if (r >= 0)
                write_behind(q, offset + iov->iov_len);
        return r;
}

/* Write one job's pieces and hash them into the file's checksum, from memory; a header
 * frame filled in below the end has its block read back, so that comes after the write. */
static int job_write(WriteQueue *q, Job *j) {
        uint64_t offset = j->offset;
        int r = 0;

        if (j->kind == JOB_FLUSH)
                return q->dfd >= 0 ? stage_write(q, true) : 0;
        for (int i = 0; i < j->n_iov && r >= 0; i++) {
                r = piece_write(q, &j->iov[i], offset);
                if (r >= 0)
                        r = block_sum_add(q->sum, j->iov[i].iov_base, j->iov[i].iov_len, offset);
                offset += j->iov[i].iov_len;
        }
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
        q->dfd = -EBADF;
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
        r = block_sum_new(file_read, q, &q->sum);
        if (r < 0)
                return r;

        q->dfd = direct_open(fd);
        if (q->dfd >= 0) {
                /* Staging starts at offset 0: only a new, empty file is written O_DIRECT. */
                struct stat st;

                if (fstat(fd, &st) < 0 || st.st_size != 0 ||
                    posix_memalign((void **) &q->stage, WRITE_QUEUE_ALIGN, STAGE_SIZE) != 0) {
                        closep(&q->dfd);
                        q->dfd = -EBADF;
                }
        }

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

        j->kind = JOB_WRITE;
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

static void fill_flush(Job *j, void *userdata) {
        (void) userdata;
        j->kind = JOB_FLUSH;
}

int write_queue_drain(WriteQueue *q) {
        int r;

        assert(q);

        r = queue_job(q, fill_flush, NULL);
        if (r < 0)
                return r;
        pthread_mutex_lock(&q->lock);
        while (q->n_jobs > 0)
                pthread_cond_wait(&q->done, &q->lock);
        r = q->error;
        pthread_mutex_unlock(&q->lock);
        return r;
}

int write_queue_checksum(WriteQueue *q, uint8_t ret[static WRITE_QUEUE_CHECKSUM_SIZE]) {
        int r;

        assert(q);

        r = write_queue_drain(q);
        if (r < 0)
                return r;
        return block_sum_finish(q->sum, ret);
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
        block_sum_free(q->sum);
        closep(&q->dfd);
        free(q->stage);
        free(q->jobs);
        free(q->buffers);
        free(q->memory);
        free(q);
        return NULL;
}

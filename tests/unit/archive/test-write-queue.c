/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-write-queue.c: the two threads behind a large file's copy into an archive. The write
 * queue (write-queue.c) must put every piece at its offset, copy pieces that lie outside its
 * buffers, give every buffer back, and report a failed write to the caller and to the archive
 * writer above it; the chunk reader (chunk-reader.c) must deliver a file's segments in order,
 * O_DIRECT where the offsets allow and ordinary reads where they do not, report a file that
 * ended early after the chunks before it, and give back what was read but not taken; the
 * checksum over blocks (block-sum.c) made while writing must equal the one read from the file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>

#include "archive-test.h"
#include "backup-archive.h"
#include "block-sum.h"
#include "chunk-reader.h"
#include "write-queue.h"

#define BUF_SIZE (64U * 1024U)
#define N_BUFFERS 4U

static int open_at(const Scratch *s, const char *name, int flags) {
        int fd = openat(s->basefd, name, flags | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        return fd;
}

/* Take every buffer once: proves none is still counted as held or queued. */
static void assert_all_buffers_free(WriteQueue *q) {
        uint8_t *held[N_BUFFERS];

        for (size_t i = 0; i < N_BUFFERS; i++)
                held[i] = write_queue_get(q);
        for (size_t i = 0; i < N_BUFFERS; i++)
                write_queue_release(q, held[i]);
}

/* Many more buffers' worth than the queue holds (3 MiB), written back to front, each with a
 * header from the stack: the file must read back as the pattern. */
static void test_pieces_land_at_their_offsets(void **state) {
        const size_t rounds = 48, piece = BUF_SIZE - 8;
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        uint8_t sum[WRITE_QUEUE_CHECKSUM_SIZE], file_sum[BLOCK_SUM_SIZE];
        _cleanup_free_ char *want = malloc(rounds * BUF_SIZE), *got = NULL;
        Scratch s;
        size_t len;
        int fd;

        (void) state;
        assert_non_null(want);
        fill_pattern(want, rounds * BUF_SIZE, 3);
        scratch_init(&s);
        fd = open_at(&s, "out", O_RDWR | O_CREAT);
        assert_int_equal(write_queue_new(fd, N_BUFFERS, BUF_SIZE, BUF_SIZE, &q), 0);
        assert_int_equal(write_queue_buffer_size(q), BUF_SIZE);

        for (size_t i = rounds; i-- > 0;) {
                uint8_t head[8], *buf = write_queue_get(q);
                struct iovec iov[2] = { { head, sizeof(head) }, { buf + 8, piece } };

                memcpy(head, want + i * BUF_SIZE, sizeof(head));
                memcpy(buf + 8, want + i * BUF_SIZE + sizeof(head), piece);
                assert_int_equal(write_queue_put(q, buf, iov, 2, i * BUF_SIZE), 0);
                memset(head, 0xEE, sizeof(head));       /* the queue copied it */
                write_queue_release(q, buf);
        }
        assert_int_equal(write_queue_drain(q), 0);
        assert_all_buffers_free(q);

        got = read_file_at(s.basefd, "out", &len);
        assert_int_equal(len, rounds * BUF_SIZE);
        assert_memory_equal(got, want, len);
        /* Every write but the first filled in a gap the one before left. */
        assert_int_equal(write_queue_checksum(q, sum), 0);
        assert_int_equal(block_sum_file(fd, file_sum), 0);
        assert_memory_equal(sum, file_sum, sizeof(sum));
        q = write_queue_free(q);
        close(fd);
        scratch_done(&s);
}

/* Writes into an fd that cannot be written fail on the thread: drain and every later put
 * report the error, and the buffers still come back. */
static void test_write_error_reported(void **state) {
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        uint8_t *buf;
        Scratch s;
        int fd;

        (void) state;
        scratch_init(&s);
        close(open_at(&s, "ro", O_RDWR | O_CREAT));
        fd = open_at(&s, "ro", O_RDONLY);
        assert_int_equal(write_queue_new(fd, N_BUFFERS, BUF_SIZE, 0, &q), 0);

        buf = write_queue_get(q);
        assert_int_equal(write_queue_put(q, buf, &(struct iovec) { buf, BUF_SIZE }, 1, 0), 0);
        write_queue_release(q, buf);
        assert_int_equal(write_queue_drain(q), -EBADF);

        buf = write_queue_get(q);
        assert_int_equal(write_queue_put(q, buf, &(struct iovec) { buf, 10 }, 1, 0), -EBADF);
        write_queue_release(q, buf);
        assert_all_buffers_free(q);
        q = write_queue_free(q);
        close(fd);
        scratch_done(&s);
}

/* Read segs of fd through a reader; returns the bytes delivered, in order, how it ended
 * (0 or the error) and how many bytes. */
static char *read_all(int fd, WriteQueue *q, const Segment *segs, size_t n, int *ret_end, size_t *ret_len) {
        _cleanup_(chunk_reader_freep) ChunkReader *r = NULL;
        char *all = malloc(16U * 1024U * 1024U);
        size_t len = 0, k;
        uint8_t *buf;
        int e;

        assert_non_null(all);
        assert_int_equal(chunk_reader_new(q, fd, segs, n, 2, &r), 0);
        while ((e = chunk_reader_next(r, &buf, &k)) > 0) {
                assert_true(k > 0 && k <= BUF_SIZE);
                memcpy(all + len, buf, k);
                len += k;
                write_queue_release(q, buf);
        }
        *ret_end = e;
        *ret_len = len;
        return all;
}

static bool fs_takes_direct(const Scratch *s) {
        int fd = openat(s->basefd, "data", O_RDONLY | O_DIRECT | O_CLOEXEC);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

/* Aligned segments are read O_DIRECT (on a filesystem that has it), an unaligned one with
 * ordinary reads; the chunks come in order and split at segment ends. */
static void test_reader_segments_in_order(void **state) {
        const size_t size = 5 * BUF_SIZE + 777;
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        _cleanup_free_ char *data = malloc(size), *got = NULL, *got2 = NULL;
        const Segment aligned[] = { { 0, 2 * BUF_SIZE + 5 }, { 3 * BUF_SIZE, size - 3 * BUF_SIZE } };
        const Segment unaligned[] = { { 13, BUF_SIZE + 1 }, { 4 * BUF_SIZE + 1, 100 } };
        Scratch s;
        size_t len;
        int fd, end, sink;

        (void) state;
        assert_non_null(data);
        fill_pattern(data, size, 5);
        scratch_init(&s);
        write_file_at(s.basefd, "data", data, size, 0600);
        fd = open_at(&s, "data", O_RDONLY);
        sink = open_at(&s, "sink", O_RDWR | O_CREAT);
        assert_int_equal(write_queue_new(sink, N_BUFFERS, BUF_SIZE, 0, &q), 0);

        got = read_all(fd, q, aligned, ELEMENTSOF(aligned), &end, &len);
        assert_int_equal(end, 0);
        assert_int_equal(len, 2 * BUF_SIZE + 5 + size - 3 * BUF_SIZE);
        assert_memory_equal(got, data, 2 * BUF_SIZE + 5);
        assert_memory_equal(got + 2 * BUF_SIZE + 5, data + 3 * BUF_SIZE, size - 3 * BUF_SIZE);
        if (fs_takes_direct(&s))
                assert_true(fcntl(fd, F_GETFL) & O_DIRECT);
        close(fd);

        fd = open_at(&s, "data", O_RDONLY);
        got2 = read_all(fd, q, unaligned, ELEMENTSOF(unaligned), &end, &len);
        assert_int_equal(end, 0);
        assert_int_equal(len, BUF_SIZE + 1 + 100);
        assert_memory_equal(got2, data + 13, BUF_SIZE + 1);
        assert_memory_equal(got2 + BUF_SIZE + 1, data + 4 * BUF_SIZE + 1, 100);
        assert_false(fcntl(fd, F_GETFL) & O_DIRECT);
        close(fd);
        assert_all_buffers_free(q);
        q = write_queue_free(q);
        close(sink);
        scratch_done(&s);
}

/* A file shorter than its segments say (it shrank): the whole chunks before its end come
 * first, then -ESTALE, on both kinds of reads. */
static void test_reader_short_file(void **state) {
        const size_t size = 3 * BUF_SIZE + 100;
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        _cleanup_free_ char *data = malloc(size);
        const Segment aligned[] = { { 0, 6 * BUF_SIZE } }, unaligned[] = { { 1, 6 * BUF_SIZE } };
        const Segment *cases[] = { aligned, unaligned };
        Scratch s;
        int sink;

        (void) state;
        assert_non_null(data);
        fill_pattern(data, size, 6);
        scratch_init(&s);
        write_file_at(s.basefd, "data", data, size, 0600);
        sink = open_at(&s, "sink", O_RDWR | O_CREAT);
        assert_int_equal(write_queue_new(sink, N_BUFFERS, BUF_SIZE, 0, &q), 0);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = NULL;
                int fd = open_at(&s, "data", O_RDONLY), end;
                size_t len;

                got = read_all(fd, q, cases[i], 1, &end, &len);
                assert_int_equal(end, -ESTALE);
                assert_int_equal(len, 3 * BUF_SIZE);
                assert_memory_equal(got, data + cases[i]->offset, len);
                close(fd);
        }
        assert_all_buffers_free(q);
        q = write_queue_free(q);
        close(sink);
        scratch_done(&s);
}

/* Freed before the caller took anything: the chunks read ahead go back to the queue. */
static void test_reader_free_early(void **state) {
        const size_t size = 8 * BUF_SIZE;
        _cleanup_(write_queue_freep) WriteQueue *q = NULL;
        _cleanup_free_ char *data = malloc(size);
        const Segment seg = { 0, size };
        Scratch s;
        int sink;

        (void) state;
        assert_non_null(data);
        fill_pattern(data, size, 7);
        scratch_init(&s);
        write_file_at(s.basefd, "data", data, size, 0600);
        sink = open_at(&s, "sink", O_RDWR | O_CREAT);
        assert_int_equal(write_queue_new(sink, N_BUFFERS, BUF_SIZE, 0, &q), 0);

        for (int i = 0; i < 3; i++) {
                ChunkReader *r = NULL;
                int fd = open_at(&s, "data", O_RDONLY);
                uint8_t *buf;
                size_t k;

                assert_int_equal(chunk_reader_new(q, fd, &seg, 1, 2, &r), 0);
                if (i > 0) {
                        assert_int_equal(chunk_reader_next(r, &buf, &k), 1);
                        assert_memory_equal(buf, data, k);
                        write_queue_release(q, buf);
                }
                if (i == 2)
                        usleep(20 * 1000);      /* let it fill its ring */
                chunk_reader_free(r);
                close(fd);
                assert_all_buffers_free(q);
        }
        q = write_queue_free(q);
        close(sink);
        scratch_done(&s);
}

/* A write the queue's thread fails (here: past RLIMIT_FSIZE, EFBIG) fails the archive: the
 * file that was being added or the close reports it, and no archive appears. */
static void test_archive_write_error(void **state) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        const size_t size = 6U * 1024U * 1024U;
        _cleanup_free_ char *data = malloc(size);
        struct rlimit old, lim = { 2U * 1024U * 1024U, 0 };
        struct stat st;
        Scratch s;
        int r;

        (void) state;
        assert_non_null(data);
        fill_pattern(data, size, 8);
        scratch_init(&s);
        write_file_at(s.srcfd, "big", data, size, 0600);

        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim.rlim_max = old.rlim_max;
        assert_int_equal(signal(SIGXFSZ, SIG_IGN) == SIG_ERR, false);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

        assert_int_equal(archive_writer_open_full(s.basefd, "a.tar.zst",
                                                  &(ArchiveWriterOptions) { .threads = 1, .compression_level = 1 }, &w), 0);
        r = archive_writer_add_file(w, s.srcfd, "big", "big", NULL);
        if (r == 0)
                r = archive_writer_close(w);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(r, -EFBIG);
        assert_int_equal(fstatat(s.basefd, "a.tar.zst", &st, AT_SYMLINK_NOFOLLOW), -1);
        w = archive_writer_free(w);
        scratch_done(&s);
}

/* The block sum's read-back: straight from the test's file. */
static int fd_read(void *userdata, uint8_t *buf, size_t len, uint64_t offset) {
        return pread(*(int *) userdata, buf, len, (off_t) offset) == (ssize_t) len ? 0 : -EIO;
}

/* Write data[start, end) at start into fd and tell s. */
static int put(BlockSum *s, int fd, const char *data, uint64_t start, uint64_t end) {
        assert_int_equal(pwrite(fd, data + start, end - start, (off_t) start), (ssize_t) (end - start));
        return block_sum_add(s, data + start, end - start, start);
}

/* The checksum made while writing, with gaps left and filled in every way the archive writer
 * could (inside a block, across block ends, over a whole block, split, in the last partial
 * block), equals the one read from the finished file; a fill-in that is not in a gap and a
 * gap never filled in are errors. */
static void test_block_sum_gaps(void **state) {
        const uint64_t M = BLOCK_SUM_BLOCK, size = 5 * M + M / 2 + 200;
        _cleanup_free_ char *data = malloc(size);
        uint8_t made[BLOCK_SUM_SIZE], read_back[BLOCK_SUM_SIZE];
        BlockSum *bs = NULL;
        Scratch s;
        int fd;

        (void) state;
        assert_non_null(data);
        fill_pattern(data, size, 9);
        scratch_init(&s);
        fd = open_at(&s, "sum", O_RDWR | O_CREAT);

        /* Nothing written: the empty file's checksum. */
        assert_int_equal(block_sum_new(fd_read, &fd, &bs), 0);
        assert_int_equal(block_sum_finish(bs, made), 0);
        assert_int_equal(block_sum_file(fd, read_back), 0);
        assert_memory_equal(made, read_back, sizeof(made));
        bs = block_sum_free(bs);

        assert_int_equal(block_sum_new(fd_read, &fd, &bs), 0);
        assert_int_equal(put(bs, fd, data, 0, 100), 0);
        assert_int_equal(put(bs, fd, data, 300, M + M / 2 + 7), 0);             /* gap [100, 300) */
        assert_int_equal(put(bs, fd, data, M + M / 2 + 7, 2 * M + 4096), 0);
        assert_int_equal(put(bs, fd, data, 3 * M + 10, 5 * M + M / 2), 0);      /* gap over a block end */
        assert_int_equal(put(bs, fd, data, 5 * M + M / 2 + 100, size), 0);      /* gap in the last block */
        assert_int_equal(put(bs, fd, data, 40, 60), -EINVAL);                   /* not in a gap */
        assert_int_equal(put(bs, fd, data, 200, 300), 0);
        assert_int_equal(put(bs, fd, data, 100, 200), 0);
        assert_int_equal(put(bs, fd, data, 2 * M + M / 2, 2 * M + M / 2 + 4096), 0);   /* splits the gap */
        assert_int_equal(put(bs, fd, data, 2 * M + 4096, 2 * M + M / 2), 0);
        assert_int_equal(block_sum_finish(bs, made), -EBADMSG);                 /* two gaps left */
        assert_int_equal(put(bs, fd, data, 2 * M + M / 2 + 4096, 3 * M + 10), 0);
        assert_int_equal(put(bs, fd, data, 5 * M + M / 2, 5 * M + M / 2 + 100), 0);
        assert_int_equal(block_sum_finish(bs, made), 0);
        assert_int_equal(block_sum_file(fd, read_back), 0);
        assert_memory_equal(made, read_back, sizeof(made));
        bs = block_sum_free(bs);

        /* Any byte changed changes it. */
        assert_int_equal(pwrite(fd, "x", 1, (off_t) (3 * M)), 1);
        assert_int_equal(block_sum_file(fd, read_back), 0);
        assert_memory_not_equal(made, read_back, sizeof(made));
        close(fd);
        scratch_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pieces_land_at_their_offsets),
                cmocka_unit_test(test_write_error_reported),
                cmocka_unit_test(test_reader_segments_in_order),
                cmocka_unit_test(test_reader_short_file),
                cmocka_unit_test(test_reader_free_early),
                cmocka_unit_test(test_archive_write_error),
                cmocka_unit_test(test_block_sum_gaps),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-archive-raw.c: content that does not compress is stored in raw zstd frames of the
 * writer's own (no compression tried past a 32 KiB probe per chunk); content that does is
 * still compressed. Both must round-trip, a flipped byte inside a raw frame (which carries no
 * checksum of zstd's) must be caught by our XXH3-128, an archive laid out the old way (the
 * same tar in one compressed frame) must still read, and the restore's block-wise read must
 * fill the holes of a sparse entry as libarchive's copying read did.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <xxhash.h>
#include <zstd.h>

#include "archive-test.h"
#include "backup-archive.h"
#include "block-sum.h"

#define MIB (1024U * 1024U)
#define MIXED_SIZE (3U * MIB + 5000U)
#define RANDOM_SIZE (2U * MIB + MIB / 2U)
#define TEXT_SIZE (2U * MIB)

/* Text that zstd level 1 squeezes several times over. */
static void fill_text(char *buf, size_t len, unsigned seed) {
        static const char *const words[] = { "volume ", "shadow ", "copy ", "writer ", "backup\n", "restore ", "the " };
        uint32_t x = seed * 2654435761u + 1;
        size_t i = 0;

        while (i < len) {
                const char *w;

                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                w = words[x % ELEMENTSOF(words)];
                for (size_t k = 0; w[k] && i < len; k++)
                        buf[i++] = w[k];
        }
}

/* mixed: 1 MiB random, 1 MiB text, 1 MiB random, 5000 random bytes (too few to probe). */
static char *make_mixed(void) {
        char *m = malloc(MIXED_SIZE);

        assert_non_null(m);
        fill_pattern(m, MIXED_SIZE, 11);
        fill_text(m + MIB, MIB, 12);
        return m;
}

static void make_sources(int srcfd) {
        char *m = make_mixed(), *r = malloc(RANDOM_SIZE), *t = malloc(TEXT_SIZE);

        assert_non_null(r);
        assert_non_null(t);
        fill_pattern(r, RANDOM_SIZE, 13);
        fill_text(t, TEXT_SIZE, 14);
        write_file_at(srcfd, "mixed", m, MIXED_SIZE, 0644);
        write_file_at(srcfd, "random", r, RANDOM_SIZE, 0600);
        write_file_at(srcfd, "text", t, TEXT_SIZE, 0640);
        write_file_at(srcfd, "small", "small\n", 6, 0644);
        free(m);
        free(r);
        free(t);
}

static void write_archive(Scratch *s, const char *name, unsigned threads) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        ArchiveWriterOptions wo = { .xattrs = true, .threads = threads, .compression_level = 1 };
        static const char *const files[] = { "small", "mixed", "random", "text" };

        char sum[ARCHIVE_CHECKSUM_SIZE * 2 + 1], want[ARCHIVE_CHECKSUM_SIZE * 2 + 1];
        uint8_t bytes[BLOCK_SUM_SIZE];
        int fd;

        assert_int_equal(archive_writer_open_full(s->basefd, name, &wo, &w), 0);
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                assert_int_equal(archive_writer_add_file(w, s->srcfd, files[i], files[i], NULL), 0);
        assert_int_equal(archive_writer_get_checksum(w, sum), -EBUSY);
        assert_int_equal(archive_writer_close(w), 0);

        /* The checksum the writer made as it wrote is the finished file's, headers filled in. */
        assert_int_equal(archive_writer_get_checksum(w, sum), 0);
        fd = openat(s->basefd, name, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(block_sum_file(fd, bytes), 0);
        close(fd);
        for (size_t i = 0; i < sizeof(bytes); i++)
                snprintf(want + 2 * i, 3, "%02x", bytes[i]);
        assert_string_equal(sum, want);
}

/* A frame made only of raw blocks whose header says how much it holds: the writer's own. */
typedef struct RawFrameInfo {
        size_t offset;          /* of the frame in the file */
        size_t data;            /* of its first block's bytes */
        size_t content;
} RawFrameInfo;

/* The raw frames of at least min_content bytes in the archive file, in order. */
static size_t find_raw_frames(const uint8_t *p, size_t len, size_t min_content, RawFrameInfo *ret, size_t max) {
        size_t off = 0, n = 0;

        while (off < len) {
                size_t fs = ZSTD_findFrameCompressedSize(p + off, len - off);

                assert_false(ZSTD_isError(fs));
                /* magic, then Single_Segment with a 4-byte content size: header of 9 bytes */
                if (fs > 12 && p[off] == 0x28 && p[off + 1] == 0xB5 && p[off + 2] == 0x2F && p[off + 3] == 0xFD &&
                    p[off + 4] == 0xA0) {
                        size_t content = (size_t) p[off + 5] | (size_t) p[off + 6] << 8 | (size_t) p[off + 7] << 16 |
                                         (size_t) p[off + 8] << 24;
                        size_t b = off + 9;
                        bool raw = true, last = false;

                        while (!last) {
                                uint32_t bh = (uint32_t) p[b] | (uint32_t) p[b + 1] << 8 | (uint32_t) p[b + 2] << 16;

                                last = bh & 1;
                                raw = raw && ((bh >> 1) & 3) == 0;
                                b += 3 + (((bh >> 1) & 3) == 1 ? 1 : bh >> 3);
                        }
                        if (raw && content >= min_content && n < max)
                                ret[n++] = (RawFrameInfo) { off, off + 12, content };
                }
                off += fs;
        }
        return n;
}

static void assert_restores(Scratch *s, const char *name) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        ArchiveFileStatus st;
        ArchiveEntry e;
        unsigned n = 0;
        int k;

        assert_int_equal(archive_reader_open(s->basefd, name, NULL, NULL, &r), 0);
        while ((k = archive_reader_next(r, &e)) == 1) {
                assert_true(e.has_checksum);
                assert_int_equal(archive_extract_entry(r, s->targetfd, NULL, &st), 0);
                assert_int_equal(st.outcome, ARCHIVE_FILE_RESTORED);
                n++;
        }
        assert_int_equal(k, 0);
        assert_int_equal(n, 4);
        assert_int_equal(archive_extract_finish(r, s->targetfd), 0);
        for (const char *const *f = (const char *const[]) { "small", "mixed", "random", "text", NULL }; *f; f++) {
                size_t la, lb;
                char *a = read_file_at(s->srcfd, *f, &la), *b = read_file_at(s->targetfd, *f, &lb);

                assert_int_equal(la, lb);
                assert_memory_equal(a, b, la);
                free(a);
                free(b);
                assert_int_equal(unlinkat(s->targetfd, *f, 0), 0);
        }
}

/*
 * Random chunks go raw, the text chunk and the text file are compressed, with and without
 * zstd worker threads; everything verifies and restores byte for byte.
 */
static void test_raw_round_trip(void **state) {
        for (unsigned threads = 0; threads <= 2; threads += 2) {
                RawFrameInfo frames[16];
                ArchiveVerifyStats vs;
                size_t len, n;
                uint8_t *data;
                char *mixed;
                Scratch s;

                scratch_init(&s);
                make_sources(s.srcfd);
                write_archive(&s, "a.tar.zst", threads);
                assert_int_equal(archive_verify(s.basefd, "a.tar.zst", NULL, NULL, &vs), 0);
                assert_int_equal(vs.entries, 4);
                assert_int_equal(vs.mismatched, 0);

                data = (uint8_t *) read_file_at(s.basefd, "a.tar.zst", &len);
                /* mixed: chunks 0 and 2 (not the text chunk 1, not the 5000-byte tail);
                 * random: two whole chunks and the half one; text: none. */
                n = find_raw_frames(data, len, 64U * 1024U, frames, ELEMENTSOF(frames));
                assert_int_equal(n, 5);
                mixed = make_mixed();
                assert_int_equal(frames[0].content, MIB);
                assert_memory_equal(data + frames[0].data, mixed, 128U * 1024U);
                assert_int_equal(frames[1].content, MIB);
                assert_memory_equal(data + frames[1].data, mixed + 2U * MIB, 128U * 1024U);
                assert_int_equal(frames[4].content, MIB / 2U);
                /* The 3 MiB of text went through zstd: the archive is well below the sum. */
                assert_true(len < MIXED_SIZE + RANDOM_SIZE + TEXT_SIZE - 2U * MIB);
                free(mixed);
                free(data);

                assert_restores(&s, "a.tar.zst");
                scratch_done(&s);
        }
}

/* zstd keeps no checksum of raw blocks: a flipped byte in one decompresses fine, and only
 * our XXH3-128 of the content can catch it. It must: verify and restore refuse the file. */
static void test_raw_corrupt_detected(void **state) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        RawFrameInfo frames[16];
        ArchiveFileStatus st;
        ArchiveVerifyStats vs;
        ArchiveEntry e;
        size_t len, n;
        uint8_t *data;
        int fd;
        Scratch s;

        scratch_init(&s);
        make_sources(s.srcfd);
        write_archive(&s, "a.tar.zst", 2);
        data = (uint8_t *) read_file_at(s.basefd, "a.tar.zst", &len);
        n = find_raw_frames(data, len, 64U * 1024U, frames, ELEMENTSOF(frames));
        assert_true(n >= 3);
        data[frames[2].data + 4321] ^= 0x40;    /* random's first chunk */
        fd = openat(s.basefd, "bad.tar.zst", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
        free(data);

        assert_int_equal(archive_verify(s.basefd, "bad.tar.zst", NULL, NULL, &vs), -EBADMSG);
        assert_int_equal(vs.entries, 4);
        assert_int_equal(vs.mismatched, 1);
        assert_false(vs.corrupt);

        assert_int_equal(archive_reader_open(s.basefd, "bad.tar.zst", NULL, NULL, &r), 0);
        while (archive_reader_next(r, &e) == 1) {
                assert_int_equal(archive_extract_entry(r, s.targetfd, NULL, &st), 0);
                if (strcmp(e.path, "random") == 0) {
                        assert_int_equal(st.outcome, ARCHIVE_FILE_FAILED);
                        assert_int_equal(st.error, EBADMSG);
                } else
                        assert_int_equal(st.outcome, ARCHIVE_FILE_RESTORED);
        }
        assert_dir_lists(s.targetfd, "mixed|small|text");
        scratch_done(&s);
}

/*
 * The layout archives had before raw frames and before read-once (the same tar in a single
 * compressed frame, as `zstd` makes of it) reads, verifies and restores the same.
 */
static void test_single_frame_archive(void **state) {
        ArchiveVerifyStats vs;
        size_t len, cap, z;
        char *tar;
        void *one;
        int fd;
        Scratch s;

        scratch_init(&s);
        make_sources(s.srcfd);
        write_archive(&s, "a.tar.zst", 2);
        {
                /* the whole archive through plain libzstd */
                size_t in_len, out_len = 0;
                char *in = read_file_at(s.basefd, "a.tar.zst", &in_len);
                ZSTD_DStream *ds = ZSTD_createDStream();
                ZSTD_inBuffer ib = { in, in_len, 0 };

                cap = 32U * MIB;
                tar = malloc(cap);
                assert_non_null(tar);
                while (ib.pos < ib.size) {
                        ZSTD_outBuffer ob = { tar, cap, out_len };

                        assert_false(ZSTD_isError(ZSTD_decompressStream(ds, &ob, &ib)));
                        out_len = ob.pos;
                }
                ZSTD_freeDStream(ds);
                free(in);
                len = out_len;
        }
        one = malloc(ZSTD_compressBound(len));
        assert_non_null(one);
        z = ZSTD_compress(one, ZSTD_compressBound(len), tar, len, 3);
        assert_false(ZSTD_isError(z));
        fd = openat(s.basefd, "old.tar.zst", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, one, z), (ssize_t) z);
        close(fd);
        free(one);
        free(tar);

        assert_int_equal(archive_verify(s.basefd, "old.tar.zst", NULL, NULL, &vs), 0);
        assert_int_equal(vs.entries, 4);
        assert_restores(&s, "old.tar.zst");
        scratch_done(&s);
}

/*
 * The restore takes content block by block from libarchive (no copy into a buffer). A sparse
 * entry (pax GNU.sparse, which vssbackup never writes, but a tar tool may) comes with holes
 * between blocks: they must come out as zeros, hashed like content, as before.
 */
static void test_sparse_entry_holes(void **state) {
        const size_t size = 3U * MIB + 100U, piece = 4096U, at2 = 2U * MIB;
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        XXH128_canonical_t canon;
        char *full = calloc(1, size), hex[33], *got;
        ArchiveFileStatus st;
        ArchiveEntry ae;
        size_t got_len;
        int fd;
        Scratch s;

        assert_non_null(full);
        scratch_init(&s);
        fill_pattern(full, piece, 21);
        fill_pattern(full + at2, piece, 22);
        XXH128_canonicalFromHash(&canon, XXH3_128bits(full, size));
        for (size_t i = 0; i < 16; i++)
                sprintf(hex + 2 * i, "%02x", canon.digest[i]);

        fd = openat(s.basefd, "sparse.tar.zst", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        archive_entry_set_pathname(e, "sp");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) size);
        archive_entry_sparse_add_entry(e, 0, (la_int64_t) piece);
        archive_entry_sparse_add_entry(e, (la_int64_t) at2, (la_int64_t) piece);
        archive_entry_xattr_add_entry(e, ARCHIVE_META_CHECKSUM, hex, 32);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, full, size), (la_ssize_t) size);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        archive_entry_free(e);
        close(fd);

        assert_int_equal(archive_reader_open(s.basefd, "sparse.tar.zst", NULL, NULL, &r), 0);
        assert_int_equal(archive_reader_next(r, &ae), 1);
        assert_string_equal(ae.path, "sp");
        assert_int_equal(archive_extract_entry(r, s.targetfd, NULL, &st), 0);
        assert_int_equal(st.outcome, ARCHIVE_FILE_RESTORED);
        got = read_file_at(s.targetfd, "sp", &got_len);
        assert_int_equal(got_len, size);
        assert_memory_equal(got, full, size);
        free(got);
        free(full);
        scratch_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_raw_round_trip),
                cmocka_unit_test(test_raw_corrupt_detected),
                cmocka_unit_test(test_single_frame_archive),
                cmocka_unit_test(test_sparse_entry_holes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-archive: backup archives written and read back. A tree of regular files (empty, small,
 * bigger than one read chunk), directories, symlinks, modes, nanosecond mtimes, hard links,
 * an xattr, a blob and a partial file goes through archive_writer_* and comes back byte for
 * byte through archive_extract_entry; the writer never shows a half archive, never replaces
 * one and never updates atimes; the restore refuses to overwrite without being told; ranges
 * and path checks parse what they should and nothing else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>

#include <xxhash.h>
#include <zstd.h>

#include "archive-test.h"
#include "backup-archive.h"
#include "safe-path.h"

#define BIG_SIZE (3U * 1024U * 1024U + 12345U)   /* more than one 1 MiB chunk: read once, header filled in after */
#define DB_SIZE (3U * 1024U * 1024U)

static void set_times(int dirfd, const char *path, time_t sec, long nsec) {
        struct timespec ts[2] = { { sec - 100000, 0 }, { sec, nsec } };
        assert_int_equal(utimensat(dirfd, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void assert_same_file(int afd, int bfd, const char *path) {
        struct stat a, b;

        assert_int_equal(fstatat(afd, path, &a, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(fstatat(bfd, path, &b, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(a.st_mode, b.st_mode);
        assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
        assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
        assert_int_equal(a.st_size, b.st_size);

        if (S_ISREG(a.st_mode)) {
                size_t la, lb;
                char *x = read_file_at(afd, path, &la), *y = read_file_at(bfd, path, &lb);

                assert_int_equal(la, lb);
                assert_memory_equal(x, y, la);
                free(x);
                free(y);
        } else if (S_ISLNK(a.st_mode)) {
                char x[256], y[256];
                ssize_t n = readlinkat(afd, path, x, sizeof(x)), m = readlinkat(bfd, path, y, sizeof(y));

                assert_true(n > 0);
                assert_int_equal(n, m);
                assert_memory_equal(x, y, (size_t) n);
        }
}

typedef struct Progress {
        uint64_t calls, bytes, files;
} Progress;

static void on_progress(uint64_t bytes, uint64_t files, void *userdata) {
        Progress *p = userdata;

        assert_true(bytes >= p->bytes);
        assert_true(files >= p->files);
        p->calls++;
        p->bytes = bytes;
        p->files = files;
}

static const char *const tree_dirs[] = { "d1", "d1/d2", "exec" };
static const char *const tree_files[] = { "empty", "small", "big", "d1/in-d1", "d1/d2/deep", "exec/run.sh", "hl1" };

/* The source tree: the dirs and files above, hl2 (hard link to hl1), two symlinks. */
static void make_tree(int srcfd) {
        char *big = malloc(BIG_SIZE);

        assert_non_null(big);
        fill_pattern(big, BIG_SIZE, 7);

        assert_int_equal(mkdirat(srcfd, "d1", 0750), 0);
        assert_int_equal(mkdirat(srcfd, "d1/d2", 0700), 0);
        assert_int_equal(mkdirat(srcfd, "exec", 0755), 0);
        write_file_at(srcfd, "empty", "", 0, 0600);
        write_file_at(srcfd, "small", "hello, archive\n", 15, 0644);
        write_file_at(srcfd, "big", big, BIG_SIZE, 0640);
        write_file_at(srcfd, "d1/in-d1", big, 1024U * 1024U, 0444);   /* exactly one chunk */
        write_file_at(srcfd, "d1/d2/deep", "deep\n", 5, 0600);
        write_file_at(srcfd, "exec/run.sh", "#!/bin/sh\nexit 0\n", 17, 0755);
        write_file_at(srcfd, "hl1", "linked\n", 7, 0644);
        assert_int_equal(linkat(srcfd, "hl1", srcfd, "hl2", 0), 0);
        assert_int_equal(symlinkat("d1/in-d1", srcfd, "rel-link"), 0);
        assert_int_equal(symlinkat("/nonexistent/absolute", srcfd, "abs-link"), 0);
        free(big);

        for (size_t i = 0; i < ELEMENTSOF(tree_files); i++)
                set_times(srcfd, tree_files[i], 1700000000 + (time_t) i, 123456789 + (long) i);
        set_times(srcfd, "rel-link", 1600000000, 1);
        set_times(srcfd, "abs-link", 1600000001, 999999999);
        for (size_t i = 0; i < ELEMENTSOF(tree_dirs); i++)
                set_times(srcfd, tree_dirs[i], 1650000000 + (time_t) i, 500000000 + (long) i);
}

static void extract_all(int dirfd, const char *name, int targetfd, const ArchiveExtractOptions *opts,
                        size_t expect_entries, ArchiveFileOutcome expect) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        ArchiveEntry e;
        size_t n = 0;
        int k;

        assert_int_equal(archive_reader_open(dirfd, name, NULL, NULL, &r), 0);
        while ((k = archive_reader_next(r, &e)) > 0) {
                ArchiveFileStatus s;

                assert_int_equal(archive_extract_entry(r, targetfd, opts, &s), 0);
                if (s.outcome != expect)
                        fail_msg("%s: %s (%s, %s)", e.path, archive_file_outcome_to_string(s.outcome),
                                 strerror(s.error), s.reason ? s.reason : "-");
                /* A second extract of the same entry is out of sequence. */
                assert_int_equal(archive_extract_entry(r, targetfd, opts, &s), -ESTALE);
                n++;
        }
        assert_int_equal(k, 0);
        assert_int_equal(archive_extract_finish(r, targetfd), 0);
        assert_int_equal(n, expect_entries);
}

static void test_round_trip(void **state) {
        ArchiveWriterOptions wo = { .hardlinks = true, .xattrs = true, .threads = 2 };
        ArchiveExtractOptions xo = { .restore_xattrs = true, .restore_owner = true };
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        _cleanup_(archive_ranges_done) ArchiveRanges ranges = {};
        static const char bcd[] = "<BackupComponents/>\n";
        char *db_old = malloc(DB_SIZE), *db_new = malloc(DB_SIZE);
        ArchiveVerifyStats vs;
        Progress pr = {};
        bool have_xattr;
        int xfd;
        size_t n_entries = 0, len;
        char value[16];
        char *blob;
        struct stat a, b;
        Scratch s;

        scratch_init(&s);
        make_tree(s.srcfd);
        xfd = openat(s.srcfd, "small", O_RDONLY | O_CLOEXEC);
        assert_true(xfd >= 0);
        have_xattr = fsetxattr(xfd, "user.vss-test", "v1", 2, 0) == 0;   /* not every /tmp has them */
        close(xfd);

        /* The partial file: the target already holds db_old (a previous restore); the
         * source's db differs from it exactly in the ranges backed up. */
        fill_pattern(db_old, DB_SIZE, 11);
        memcpy(db_new, db_old, DB_SIZE);
        memset(db_new + 0, 'X', 10);
        memset(db_new + 1048576, 'Y', 4096);
        memset(db_new + 2097152 - 50, 'Z', 100);   /* spans a chunk boundary */
        write_file_at(s.srcfd, "db", db_new, DB_SIZE, 0600);
        set_times(s.srcfd, "db", 1710000000, 42);
        write_file_at(s.targetfd, "db", db_old, DB_SIZE, 0600);
        assert_int_equal(archive_ranges_parse("0:10,0x100000:4096,2097102:100", &ranges), 0);

        wo.progress = on_progress;
        wo.userdata = &pr;
        assert_int_equal(archive_writer_open_full(s.basefd, "backup.tar.zst", &wo, &w), 0);
        /* Nothing under the final name until close. */
        assert_int_equal(faccessat(s.basefd, "backup.tar.zst", F_OK, AT_SYMLINK_NOFOLLOW), -1);

        for (size_t i = 0; i < ELEMENTSOF(tree_dirs); i++, n_entries++)
                assert_int_equal(archive_writer_add_file(w, s.srcfd, tree_dirs[i], tree_dirs[i], NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(tree_files); i++, n_entries++)
                assert_int_equal(archive_writer_add_file(w, s.srcfd, tree_files[i], tree_files[i], NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "hl2", "hl2", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "rel-link", "rel-link", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "abs-link", "abs-link", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "db", "db", &ranges), 0);
        assert_int_equal(archive_writer_add_blob(w, "vss/backup-components.xml", bcd, sizeof(bcd) - 1), 0);
        n_entries += 5;
        assert_int_equal(archive_writer_close(w), 0);
        assert_int_equal(archive_writer_close(w), -EALREADY);
        assert_true(pr.calls > 0);
        assert_int_equal(pr.files, n_entries);
        assert_true(pr.bytes >= BIG_SIZE);

        /* Only the archive is left in base: no temporary file. */
        assert_dir_lists(s.basefd, "backup.tar.zst|outside|src|target");
        assert_int_equal(fstatat(s.basefd, "backup.tar.zst", &a, 0), 0);
        assert_int_equal(a.st_mode & 0777, 0600);

        assert_int_equal(archive_verify(s.basefd, "backup.tar.zst", NULL, NULL, &vs), 0);
        assert_int_equal(vs.entries, n_entries);
        assert_int_equal(vs.mismatched, 0);
        assert_int_equal(vs.unchecked, 0);
        assert_false(vs.corrupt);

        xo.overwrite = true;   /* db is there already */
        extract_all(s.basefd, "backup.tar.zst", s.targetfd, &xo, n_entries, ARCHIVE_FILE_RESTORED);

        for (size_t i = 0; i < ELEMENTSOF(tree_files); i++)
                assert_same_file(s.srcfd, s.targetfd, tree_files[i]);
        for (size_t i = 0; i < ELEMENTSOF(tree_dirs); i++)
                assert_same_file(s.srcfd, s.targetfd, tree_dirs[i]);
        assert_same_file(s.srcfd, s.targetfd, "hl2");
        assert_same_file(s.srcfd, s.targetfd, "rel-link");
        assert_same_file(s.srcfd, s.targetfd, "abs-link");
        assert_same_file(s.srcfd, s.targetfd, "db");   /* db_old + the ranges == db_new */

        /* hl1 and hl2 are one inode again. */
        assert_int_equal(fstatat(s.targetfd, "hl1", &a, 0), 0);
        assert_int_equal(fstatat(s.targetfd, "hl2", &b, 0), 0);
        assert_int_equal(a.st_ino, b.st_ino);

        blob = read_file_at(s.targetfd, "vss/backup-components.xml", &len);
        assert_int_equal(len, sizeof(bcd) - 1);
        assert_memory_equal(blob, bcd, len);
        free(blob);

        if (have_xattr) {
                int fd = openat(s.targetfd, "small", O_RDONLY | O_CLOEXEC);
                assert_int_equal(fgetxattr(fd, "user.vss-test", value, sizeof(value)), 2);
                assert_memory_equal(value, "v1", 2);
                /* Our own records are never applied as attributes. */
                assert_int_equal(fgetxattr(fd, "vss-linux.xxh128", value, sizeof(value)), -1);
                close(fd);
        }

        free(db_old);
        free(db_new);
        scratch_done(&s);
}

/* A partial file restored where no base exists: the ranges at their offsets, holes elsewhere. */
static void test_partial_without_base(void **state) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        _cleanup_(archive_ranges_done) ArchiveRanges ranges = {};
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        char *src = malloc(200000), *out;
        ArchiveFileStatus st;
        ArchiveEntry e;
        size_t len;
        Scratch s;

        scratch_init(&s);
        fill_pattern(src, 200000, 3);
        write_file_at(s.srcfd, "f", src, 200000, 0640);
        assert_int_equal(archive_ranges_parse("100:50,150000:10", &ranges), 0);

        assert_int_equal(archive_writer_open(s.basefd, "p.tar.zst", &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "f", &ranges), 0);
        assert_int_equal(archive_writer_close(w), 0);

        assert_int_equal(archive_reader_open(s.basefd, "p.tar.zst", NULL, NULL, &r), 0);
        assert_int_equal(archive_reader_next(r, &e), 1);
        assert_true(e.partial);
        assert_int_equal(e.size, 60);
        assert_int_equal(e.file_size, 200000);
        assert_int_equal(e.ranges->n, 2);
        assert_int_equal(e.ranges->items[1].offset, 150000);
        assert_int_equal(archive_extract_entry(r, s.targetfd, NULL, &st), 0);
        assert_int_equal(st.outcome, ARCHIVE_FILE_RESTORED);
        assert_int_equal(archive_reader_next(r, &e), 0);

        out = read_file_at(s.targetfd, "f", &len);
        assert_int_equal(len, 200000);
        assert_memory_equal(out + 100, src + 100, 50);
        assert_memory_equal(out + 150000, src + 150000, 10);
        for (size_t i = 0; i < 100; i++)
                assert_int_equal(out[i], 0);
        free(out);
        free(src);
        scratch_done(&s);
}

static void test_overwrite(void **state) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        ArchiveExtractOptions xo = {};
        size_t len;
        char *c;
        Scratch s;

        scratch_init(&s);
        write_file_at(s.srcfd, "f", "new content\n", 12, 0644);
        write_file_at(s.srcfd, "g", "gee\n", 4, 0644);
        assert_int_equal(archive_writer_open(s.basefd, "a.tar.zst", &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "f", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "g", "g", NULL), 0);
        assert_int_equal(archive_writer_close(w), 0);

        /* f exists; g is a symlink pointing outside the target. */
        write_file_at(s.targetfd, "f", "old\n", 4, 0600);
        assert_int_equal(symlinkat("../outside/g", s.targetfd, "g"), 0);

        extract_all(s.basefd, "a.tar.zst", s.targetfd, &xo, 2, ARCHIVE_FILE_SKIPPED_EXISTS);
        c = read_file_at(s.targetfd, "f", &len);
        assert_int_equal(len, 4);
        assert_memory_equal(c, "old\n", 4);
        free(c);

        xo.overwrite = true;
        extract_all(s.basefd, "a.tar.zst", s.targetfd, &xo, 2, ARCHIVE_FILE_RESTORED);
        c = read_file_at(s.targetfd, "f", &len);
        assert_int_equal(len, 12);
        assert_memory_equal(c, "new content\n", 12);
        free(c);
        /* The symlink was replaced, not followed. */
        c = read_file_at(s.targetfd, "g", &len);
        assert_int_equal(len, 4);
        free(c);
        assert_dir_lists(s.outsidefd, "");
        assert_dir_lists(s.targetfd, "f|g");
        scratch_done(&s);
}

static void test_writer_refusals(void **state) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        _cleanup_(archive_ranges_done) ArchiveRanges ranges = {};
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int sock;
        Scratch s;

        scratch_init(&s);
        write_file_at(s.srcfd, "f", "0123456789", 10, 0644);

        assert_int_equal(archive_writer_open(s.basefd, "x/y", &w), -EINVAL);
        assert_int_equal(archive_writer_open(s.basefd, "", &w), -EINVAL);
        assert_int_equal(archive_writer_open(s.basefd, "src", &w), -EEXIST);
        assert_null(w);

        assert_int_equal(archive_writer_open(s.basefd, "a.tar.zst", &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "../f", NULL), -EINVAL);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "/f", NULL), -EINVAL);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "missing", "m", NULL), -ENOENT);
        assert_int_equal(archive_ranges_parse("5:6", &ranges), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "f", &ranges), -EINVAL);   /* past EOF */

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/src/sock", s.base);
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(sock >= 0);
        assert_int_equal(bind(sock, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "sock", "sock", NULL), -EOPNOTSUPP);
        close(sock);

        /* After those refusals the archive still works. */
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "f", NULL), 0);

        /* Someone creates the final name meanwhile: close refuses to replace it. */
        write_file_at(s.basefd, "a.tar.zst", "precious", 8, 0600);
        assert_int_equal(archive_writer_close(w), -EEXIST);
        w = archive_writer_free(w);
        assert_dir_lists(s.basefd, "a.tar.zst|outside|src|target");

        /* A writer freed without close leaves nothing behind. */
        assert_int_equal(archive_writer_open(s.basefd, "b.tar.zst", &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "f", "f", NULL), 0);
        w = archive_writer_free(w);
        assert_dir_lists(s.basefd, "a.tar.zst|outside|src|target");
        scratch_done(&s);
}

/* Reading for a backup must not move access times (O_NOATIME). */
static void test_noatime(void **state) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        struct timespec ts[2] = { { 1000000000, 0 }, { 999999999, 0 } };   /* atime > mtime, old */
        char *big = malloc(BIG_SIZE);
        struct stat st;
        Scratch s;

        scratch_init(&s);
        fill_pattern(big, BIG_SIZE, 5);
        write_file_at(s.srcfd, "small", "x", 1, 0644);
        write_file_at(s.srcfd, "big", big, BIG_SIZE, 0644);
        assert_int_equal(utimensat(s.srcfd, "small", ts, 0), 0);
        assert_int_equal(utimensat(s.srcfd, "big", ts, 0), 0);

        assert_int_equal(archive_writer_open(s.basefd, "a.tar.zst", &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "small", "small", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "big", "big", NULL), 0);
        assert_int_equal(archive_writer_close(w), 0);

        assert_int_equal(fstatat(s.srcfd, "small", &st, 0), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        assert_int_equal(fstatat(s.srcfd, "big", &st, 0), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        free(big);
        scratch_done(&s);
}

/* The whole archive file decompressed with plain libzstd (as `tar --zstd` would). */
static char *decompress_archive(int dirfd, const char *name, size_t *ret_len) {
        size_t len, cap, out_len = 0;
        char *in = read_file_at(dirfd, name, &len), *out;
        ZSTD_DStream *ds = ZSTD_createDStream();
        ZSTD_inBuffer ib = { in, len, 0 };

        assert_non_null(ds);
        cap = 16U * 1024U * 1024U;
        out = malloc(cap);
        assert_non_null(out);
        while (ib.pos < ib.size) {
                ZSTD_outBuffer ob = { out, cap, out_len };
                size_t k = ZSTD_decompressStream(ds, &ob, &ib);

                assert_false(ZSTD_isError(k));
                out_len = ob.pos;
                assert_true(out_len < cap);
        }
        ZSTD_freeDStream(ds);
        free(in);
        *ret_len = out_len;
        return out;
}

/*
 * A file larger than one chunk is read once: its header goes out after its content, in a raw
 * zstd frame of its own. The stream must still decompress to the tar a plain reader expects,
 * with the content's real checksum (never the placeholder) in both records libarchive writes.
 */
static void test_large_file_header(void **state) {
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        ArchiveWriterOptions wo = { .xattrs = true, .threads = 2, .compression_level = 1 };
        XXH128_canonical_t canon;
        char *big = malloc(BIG_SIZE), *tar, hex[33], rec[128], enc[64], head[4096];
        size_t len, e = 0;
        ArchiveVerifyStats vs;
        Scratch s;

        assert_non_null(big);
        scratch_init(&s);
        fill_pattern(big, BIG_SIZE, 9);
        write_file_at(s.srcfd, "big", big, BIG_SIZE, 0644);
        write_file_at(s.srcfd, "big2", big, 2U * 1024U * 1024U, 0644);   /* two streamed entries in a row */
        write_file_at(s.srcfd, "small", "x", 1, 0644);

        assert_int_equal(archive_writer_open_full(s.basefd, "a.tar.zst", &wo, &w), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "small", "small", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "big", "big", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s.srcfd, "big2", "big2", NULL), 0);
        assert_int_equal(archive_writer_close(w), 0);
        assert_int_equal(archive_verify(s.basefd, "a.tar.zst", NULL, NULL, &vs), 0);
        assert_int_equal(vs.entries, 3);

        XXH128_canonicalFromHash(&canon, XXH3_128bits(big, BIG_SIZE));
        for (size_t i = 0; i < 16; i++)
                sprintf(hex + 2 * i, "%02x", canon.digest[i]);

        tar = decompress_archive(s.basefd, "a.tar.zst", &len);
        /* 3 headers, the contents padded to 512, two zero blocks at the end. */
        assert_true(len > BIG_SIZE + 2U * 1024U * 1024U + 1024U);
        assert_int_equal(len % 512, 0);
        snprintf(rec, sizeof(rec), "SCHILY.xattr.vss-linux.xxh128=%s\n", hex);
        assert_non_null(memmem(tar, len, rec, strlen(rec)));
        for (size_t i = 0; i + 3 <= 32; i += 3) {
                uint32_t v = (uint32_t) (uint8_t) hex[i] << 16 | (uint32_t) (uint8_t) hex[i + 1] << 8 | (uint8_t) hex[i + 2];

                enc[e++] = b64[v >> 18 & 63];
                enc[e++] = b64[v >> 12 & 63];
                enc[e++] = b64[v >> 6 & 63];
                enc[e++] = b64[v & 63];
        }
        enc[e++] = b64[(uint8_t) hex[30] >> 2];
        enc[e++] = b64[((uint8_t) hex[30] & 3) << 4 | (uint8_t) hex[31] >> 4];
        enc[e++] = b64[((uint8_t) hex[31] & 15) << 2];
        enc[e] = 0;
        snprintf(rec, sizeof(rec), "LIBARCHIVE.xattr.vss-linux.xxh128=%s", enc);
        assert_non_null(memmem(tar, len, rec, strlen(rec)));
        /* The content follows its header, as in any tar. */
        fill_pattern(head, sizeof(head), 9);    /* big's first bytes */
        assert_non_null(memmem(tar, len, head, sizeof(head)));
        assert_true((char *) memmem(tar, len, head, sizeof(head)) > (char *) memmem(tar, len, rec, strlen(rec)));

        free(tar);
        free(big);
        scratch_done(&s);
}

static void test_prefetch(void **state) {
        Scratch s;

        scratch_init(&s);
        write_file_at(s.srcfd, "f", "data", 4, 0644);
        assert_int_equal(mkfifoat(s.srcfd, "fifo", 0600), 0);
        assert_int_equal(symlinkat("f", s.srcfd, "link"), 0);
        assert_int_equal(archive_writer_prefetch(s.srcfd, "f"), 0);
        assert_int_equal(archive_writer_prefetch(s.srcfd, "fifo"), 0);   /* left alone */
        assert_int_equal(archive_writer_prefetch(s.srcfd, "link"), 0);   /* not followed */
        assert_int_equal(archive_writer_prefetch(s.srcfd, "missing"), -ENOENT);
        assert_int_equal(archive_writer_prefetch(s.srcfd, ""), -EINVAL);
        scratch_done(&s);
}

static void test_ranges_parse(void **state) {
        ArchiveRanges r = {};
        char *text;

        assert_int_equal(archive_ranges_parse("0:1", &r), 0);
        assert_int_equal(r.n, 1);
        archive_ranges_done(&r);

        assert_int_equal(archive_ranges_parse("0x10:0X20,100:5", &r), 0);
        assert_int_equal(r.n, 2);
        assert_int_equal(r.items[0].offset, 16);
        assert_int_equal(r.items[0].length, 32);
        text = archive_ranges_format(&r);
        assert_string_equal(text, "16:32,100:5");
        free(text);
        archive_ranges_done(&r);
        assert_null(r.items);

        assert_int_equal(archive_ranges_parse("", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse(NULL, &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("5", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("5:", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("5:0", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("1:2,", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("1:2;3:4", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("-1:2", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("0x:2", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("18446744073709551616:1", &r), -EINVAL);
        assert_int_equal(archive_ranges_parse("18446744073709551615:1", &r), -EINVAL);   /* wraps */
        assert_null(r.items);
}

static void test_safe_path_check(void **state) {
        const char *why = NULL;

        assert_int_equal(safe_path_check("a", false, &why), 0);
        assert_int_equal(safe_path_check("a/b/c.txt", false, &why), 0);
        assert_int_equal(safe_path_check("..a/b..", false, &why), 0);
        assert_int_equal(safe_path_check("a b/ü", false, &why), 0);
        assert_null(why);

        assert_int_equal(safe_path_check("/abs", false, &why), -EINVAL);
        assert_string_equal(why, "absolute path");
        assert_int_equal(safe_path_check("..", false, &why), -EINVAL);
        assert_int_equal(safe_path_check("a/../b", false, &why), -EINVAL);
        assert_string_equal(why, "'..' path component");
        assert_int_equal(safe_path_check("a/..", false, &why), -EINVAL);
        assert_int_equal(safe_path_check("./a", false, &why), -EINVAL);
        assert_int_equal(safe_path_check("a//b", false, &why), -EINVAL);
        assert_string_equal(why, "empty path component");
        assert_int_equal(safe_path_check("a/", false, &why), -EINVAL);
        assert_int_equal(safe_path_check("", false, &why), -EINVAL);
        assert_int_equal(safe_path_check("new\nline", false, &why), -EINVAL);
        assert_string_equal(why, "control character in name");
        assert_int_equal(safe_path_check("new\nline", true, &why), 0);
}

/* safe_path_open_dir never follows a symlink, whichever way it resolves. */
static void test_safe_path_open(void **state) {
        int fd = -1;
        Scratch s;

        scratch_init(&s);
        assert_int_equal(symlinkat("../outside", s.targetfd, "link"), 0);
        assert_int_equal(safe_path_open_dir(s.targetfd, "link", false, 0755, &fd), -ELOOP);
        assert_int_equal(safe_path_open_dir(s.targetfd, "link/sub", true, 0755, &fd), -ELOOP);
        assert_int_equal(safe_path_open_dir(s.targetfd, "../outside", true, 0755, &fd), -EINVAL);
        assert_dir_lists(s.outsidefd, "");

        assert_int_equal(safe_path_open_dir(s.targetfd, "x/y/z", true, 0700, &fd), 0);
        close(fd);
        assert_int_equal(safe_path_open_dir(s.targetfd, "x/y", false, 0, &fd), 0);
        close(fd);
        write_file_at(s.targetfd, "file", "", 0, 0600);
        assert_int_equal(safe_path_open_dir(s.targetfd, "file/sub", true, 0755, &fd), -ENOTDIR);
        assert_dir_lists(s.targetfd, "file|link|x");
        scratch_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_partial_without_base),
                cmocka_unit_test(test_overwrite),
                cmocka_unit_test(test_writer_refusals),
                cmocka_unit_test(test_noatime),
                cmocka_unit_test(test_large_file_header),
                cmocka_unit_test(test_prefetch),
                cmocka_unit_test(test_ranges_parse),
                cmocka_unit_test(test_safe_path_check),
                cmocka_unit_test(test_safe_path_open),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

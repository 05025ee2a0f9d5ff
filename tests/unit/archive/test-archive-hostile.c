/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-archive-hostile: archives made to hurt. Built here with libarchive directly (as an
 * attacker would), they try '..', absolute paths, symlinks and hard links out of the target,
 * device nodes, setuid files and odd names; each entry must get the right outcome and
 * nothing may appear outside the target. Truncated, corrupted and tampered archives must be
 * reported (by extract and by verify), never crash or leave partial files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/sysmacros.h>

#include "archive-test.h"
#include "backup-archive.h"

/* ----------------------------------------------------------------------------------------- */

typedef struct Hostile {
        struct archive *a;
} Hostile;

static Hostile hostile_begin(int dirfd, const char *name) {
        Hostile h;
        int fd;

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        h.a = archive_write_new();
        assert_non_null(h.a);
        assert_int_equal(archive_write_set_format_pax(h.a), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_zstd(h.a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_fd(h.a, fd), ARCHIVE_OK);
        return h;
}

static void hostile_add(Hostile *h, const char *path, unsigned type, mode_t perm, const char *symlink,
                        const char *hardlink, const char *data, dev_t rdev) {
        struct archive_entry *e = archive_entry_new();
        size_t len = data ? strlen(data) : 0;

        archive_entry_copy_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_size(e, (la_int64_t) len);
        if (symlink)
                archive_entry_copy_symlink(e, symlink);
        if (hardlink)
                archive_entry_copy_hardlink(e, hardlink);
        if (rdev)
                archive_entry_set_rdev(e, rdev);
        assert_true(archive_write_header(h->a, e) >= ARCHIVE_WARN);
        if (len > 0)
                assert_int_equal(archive_write_data(h->a, data, len), (la_ssize_t) len);
        archive_entry_free(e);
}

static void hostile_end(Hostile *h) {
        assert_int_equal(archive_write_close(h->a), ARCHIVE_OK);
        archive_write_free(h->a);
}

typedef struct Expect {
        const char *path;
        ArchiveFileOutcome outcome;
        int error;
} Expect;

static void extract_expect(int dirfd, const char *name, int targetfd, const ArchiveExtractOptions *opts,
                           const Expect *expect, size_t n_expect) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        ArchiveEntry e;
        size_t i = 0;
        int k;

        assert_int_equal(archive_reader_open(dirfd, name, NULL, NULL, &r), 0);
        while ((k = archive_reader_next(r, &e)) > 0) {
                ArchiveFileStatus s;

                assert_true(i < n_expect);
                assert_string_equal(e.path, expect[i].path);
                assert_int_equal(archive_extract_entry(r, targetfd, opts, &s), 0);
                if (s.outcome != expect[i].outcome || (expect[i].error && s.error != expect[i].error))
                        fail_msg("entry %zu '%s': got %s errno %d (%s), expected %s errno %d", i, e.path,
                                 archive_file_outcome_to_string(s.outcome), s.error, s.reason ? s.reason : "-",
                                 archive_file_outcome_to_string(expect[i].outcome), expect[i].error);
                if (s.outcome == ARCHIVE_FILE_REFUSED_UNSAFE)
                        assert_non_null(s.reason);
                i++;
        }
        assert_int_equal(k, 0);
        assert_int_equal(i, n_expect);
        assert_int_equal(archive_extract_finish(r, targetfd), 0);
}

/* ----------------------------------------------------------------------------------------- */

static void test_hostile_paths(void **state) {
        char outside_abs[128], canary[128];
        Hostile h;
        Scratch s;
        struct stat st;

        scratch_init(&s);
        snprintf(outside_abs, sizeof(outside_abs), "%s/outside", s.base);
        /* The /etc attempt aims at a name that does not exist there, so even a broken
         * implementation could not damage the machine; the test then checks it stayed absent. */
        snprintf(canary, sizeof(canary), "vss-archive-test-canary-%d", (int) getpid());

        h = hostile_begin(s.basefd, "evil.tar.zst");
        hostile_add(&h, "../escape", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_add(&h, "/abs/path", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_add(&h, "a/../../b", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_add(&h, "a//b", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_add(&h, "link", AE_IFLNK, 0777, outside_abs, NULL, NULL, 0);
        hostile_add(&h, "link/passwd", AE_IFREG, 0644, NULL, NULL, "owned", 0);
        hostile_add(&h, "link/sub/deeper", AE_IFREG, 0644, NULL, NULL, "owned", 0);
        hostile_add(&h, "etc", AE_IFLNK, 0777, "/etc", NULL, NULL, 0);
        {
                char p[200];
                snprintf(p, sizeof(p), "etc/%s", canary);
                hostile_add(&h, p, AE_IFREG, 0644, NULL, NULL, "owned", 0);
        }
        hostile_add(&h, "up", AE_IFLNK, 0777, "..", NULL, NULL, 0);
        hostile_add(&h, "up/escaped", AE_IFREG, 0644, NULL, NULL, "owned", 0);
        hostile_add(&h, "up/outside/escaped", AE_IFREG, 0644, NULL, NULL, "owned", 0);
        hostile_add(&h, "shadow", AE_IFREG, 0644, NULL, "/etc/shadow", NULL, 0);
        hostile_add(&h, "sibling", AE_IFREG, 0644, NULL, "../outside/x", NULL, 0);
        hostile_add(&h, "via-link", AE_IFREG, 0644, NULL, "up/outside", NULL, 0);
        hostile_add(&h, "null", AE_IFCHR, 0666, NULL, NULL, NULL, makedev(1, 3));
        hostile_add(&h, "disk", AE_IFBLK, 0660, NULL, NULL, NULL, makedev(8, 0));
        hostile_add(&h, "fifo", AE_IFIFO, 0644, NULL, NULL, NULL, 0);
        hostile_add(&h, "suid", AE_IFREG, 06755, NULL, NULL, "#!/bin/sh\n", 0);
        hostile_add(&h, "bad\nname", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_end(&h);

        const Expect expect[] = {
                { "../escape", ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL },
                { "/abs/path", ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL },
                { "a/../../b", ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL },
                { "a//b", ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL },
                { "link", ARCHIVE_FILE_RESTORED, 0 },            /* a symlink itself is fine... */
                { "link/passwd", ARCHIVE_FILE_REFUSED_UNSAFE, 0 }, /* ...going through it is not */
                { "link/sub/deeper", ARCHIVE_FILE_REFUSED_UNSAFE, 0 },
                { "etc", ARCHIVE_FILE_RESTORED, 0 },
                { NULL, ARCHIVE_FILE_REFUSED_UNSAFE, 0 },
                { "up", ARCHIVE_FILE_RESTORED, 0 },
                { "up/escaped", ARCHIVE_FILE_REFUSED_UNSAFE, 0 },
                { "up/outside/escaped", ARCHIVE_FILE_REFUSED_UNSAFE, 0 },
                { "shadow", ARCHIVE_FILE_REFUSED_UNSAFE, EXDEV },
                { "sibling", ARCHIVE_FILE_REFUSED_UNSAFE, EXDEV },
                { "via-link", ARCHIVE_FILE_REFUSED_UNSAFE, 0 },
                { "null", ARCHIVE_FILE_REFUSED_UNSAFE, EPERM },
                { "disk", ARCHIVE_FILE_REFUSED_UNSAFE, EPERM },
                { "fifo", ARCHIVE_FILE_REFUSED_UNSAFE, EPERM },
                { "suid", ARCHIVE_FILE_RESTORED, 0 },
                { "bad\nname", ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL },
        };
        Expect e2[ELEMENTSOF(expect)];
        char canary_path[200];

        memcpy(e2, expect, sizeof(expect));
        snprintf(canary_path, sizeof(canary_path), "etc/%s", canary);
        e2[8].path = canary_path;

        extract_expect(s.basefd, "evil.tar.zst", s.targetfd, NULL, e2, ELEMENTSOF(e2));

        /* Nothing outside the target: base and outside/ exactly as before, /etc untouched. */
        assert_dir_lists(s.basefd, "evil.tar.zst|outside|src|target");
        assert_dir_lists(s.outsidefd, "");
        assert_int_equal(fstatat(AT_FDCWD, "/etc", &st, 0), 0);
        {
                char p[200];
                snprintf(p, sizeof(p), "/etc/%s", canary);
                assert_int_equal(access(p, F_OK), -1);
        }
        /* In the target: the three symlinks and the setuid file, without its setuid bits. */
        assert_dir_lists(s.targetfd, "etc|link|suid|up");
        assert_int_equal(fstatat(s.targetfd, "suid", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(fstatat(s.targetfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISLNK(st.st_mode));

        scratch_done(&s);
}

/* What a caller may allow: setid bits kept, FIFOs created, newline names. */
static void test_allowed_when_asked(void **state) {
        ArchiveExtractOptions opts = { .keep_setid = true, .allow_special = true, .allow_control_chars = true };
        Hostile h;
        Scratch s;
        struct stat st;

        scratch_init(&s);
        h = hostile_begin(s.basefd, "a.tar.zst");
        hostile_add(&h, "suid", AE_IFREG, 04755, NULL, NULL, "#!/bin/sh\n", 0);
        hostile_add(&h, "fifo", AE_IFIFO, 0640, NULL, NULL, NULL, 0);
        hostile_add(&h, "odd\nname", AE_IFREG, 0644, NULL, NULL, "x", 0);
        hostile_add(&h, "dir/", AE_IFDIR, 0750, NULL, NULL, NULL, 0);
        hostile_add(&h, "dir/hard", AE_IFREG, 0644, NULL, "suid", NULL, 0);
        hostile_end(&h);

        const Expect expect[] = {
                { "suid", ARCHIVE_FILE_RESTORED, 0 },
                { "fifo", ARCHIVE_FILE_RESTORED, 0 },
                { "odd\nname", ARCHIVE_FILE_RESTORED, 0 },
                { "dir", ARCHIVE_FILE_RESTORED, 0 },
                { "dir/hard", ARCHIVE_FILE_RESTORED, 0 },
        };
        extract_expect(s.basefd, "a.tar.zst", s.targetfd, &opts, expect, ELEMENTSOF(expect));

        assert_int_equal(fstatat(s.targetfd, "suid", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        assert_int_equal(st.st_nlink, 2);
        assert_int_equal(fstatat(s.targetfd, "fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0640);
        assert_int_equal(fstatat(s.targetfd, "dir", &st, 0), 0);
        assert_int_equal(st.st_mode & 0777, 0750);
        assert_int_equal(st.st_mtim.tv_sec, 1700000000);
        scratch_done(&s);
}

/* ----------------------------------------------------------------------------------------- */

static void make_good_archive(Scratch *s, const char *name) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        char *big = malloc(2U * 1024U * 1024U);

        assert_non_null(big);
        fill_pattern(big, 2U * 1024U * 1024U, 9);
        write_file_at(s->srcfd, "one", "first file\n", 11, 0644);
        write_file_at(s->srcfd, "two", big, 2U * 1024U * 1024U, 0644);
        write_file_at(s->srcfd, "three", "third file\n", 11, 0644);
        free(big);

        assert_int_equal(archive_writer_open(s->basefd, name, &w), 0);
        assert_int_equal(archive_writer_add_file(w, s->srcfd, "one", "one", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s->srcfd, "two", "two", NULL), 0);
        assert_int_equal(archive_writer_add_file(w, s->srcfd, "three", "three", NULL), 0);
        assert_int_equal(archive_writer_close(w), 0);
}

/* Extract everything; returns the error that stopped it (0 when it reached the end). */
static int extract_until_error(int dirfd, const char *name, int targetfd, unsigned *ret_failed) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        ArchiveExtractOptions opts = { .overwrite = true };
        ArchiveEntry e;
        unsigned failed = 0;
        int k;

        k = archive_reader_open(dirfd, name, NULL, NULL, &r);
        if (k < 0) {
                *ret_failed = 0;
                return k;
        }
        while ((k = archive_reader_next(r, &e)) > 0) {
                ArchiveFileStatus s;

                k = archive_extract_entry(r, targetfd, &opts, &s);
                if (s.outcome == ARCHIVE_FILE_FAILED)
                        failed++;
                if (k < 0) {
                        assert_int_equal(s.outcome, ARCHIVE_FILE_FAILED);
                        break;
                }
        }
        if (k < 0)   /* a broken reader stays broken */
                assert_int_equal(archive_reader_next(r, &e), -EBADMSG);
        *ret_failed = failed;
        return k;
}

static void copy_prefix(int dirfd, const char *from, const char *to, size_t keep, ssize_t flip_at) {
        size_t len;
        char *data = read_file_at(dirfd, from, &len);

        if (keep > len)
                keep = len;
        if (flip_at >= 0 && (size_t) flip_at < keep)
                data[flip_at] ^= 0x5a;
        write_file_at(dirfd, to, data, keep, 0600);
        free(data);
}

/* No temporary file of ours is left in the target after a failure. */
static void assert_no_temp(int dirfd) {
        char *l = list_dir(dirfd);
        assert_null(strstr(l, ".vss-tmp-"));
        free(l);
}

static void test_truncated(void **state) {
        ArchiveVerifyStats vs;
        unsigned failed;
        size_t len;
        char *data;
        int k;
        Scratch s;

        scratch_init(&s);
        make_good_archive(&s, "good.tar.zst");
        data = read_file_at(s.basefd, "good.tar.zst", &len);
        free(data);

        /* Cut in the middle of the big file's data. */
        copy_prefix(s.basefd, "good.tar.zst", "cut.tar.zst", len / 2, -1);
        k = extract_until_error(s.basefd, "cut.tar.zst", s.targetfd, &failed);
        assert_int_equal(k, -EBADMSG);
        assert_int_equal(failed, 1);
        assert_no_temp(s.targetfd);
        assert_int_equal(faccessat(s.targetfd, "two", F_OK, AT_SYMLINK_NOFOLLOW), -1);

        assert_int_equal(archive_verify(s.basefd, "cut.tar.zst", NULL, NULL, &vs), -EBADMSG);
        assert_true(vs.corrupt);

        /* Cut anywhere, even inside the zstd frame header: reported, never a crash. */
        for (size_t cut = 0; cut < len; cut += len / 37 + 1) {
                copy_prefix(s.basefd, "good.tar.zst", "cut.tar.zst", cut, -1);
                k = archive_verify(s.basefd, "cut.tar.zst", NULL, NULL, &vs);
                assert_true(k == -EBADMSG || (k < 0 && cut == 0));
        }

        /* Not an archive at all. */
        write_file_at(s.basefd, "junk.tar.zst", "this is not a tar archive, not even close........", 50, 0600);
        assert_true(archive_verify(s.basefd, "junk.tar.zst", NULL, NULL, &vs) < 0);
        k = extract_until_error(s.basefd, "junk.tar.zst", s.targetfd, &failed);
        assert_true(k < 0);
        scratch_done(&s);
}

static void test_corrupted_stream(void **state) {
        ArchiveVerifyStats vs;
        unsigned failed;
        size_t len;
        char *data;
        int k, detected = 0;
        Scratch s;

        scratch_init(&s);
        make_good_archive(&s, "good.tar.zst");
        data = read_file_at(s.basefd, "good.tar.zst", &len);
        free(data);

        /* Flip bytes of the compressed stream at several places: each must be noticed by
         * verify (a zstd error, a tar error or our checksum), and extraction must not crash. */
        for (size_t at = 64; at < len; at += len / 11 + 1) {
                copy_prefix(s.basefd, "good.tar.zst", "bad.tar.zst", len, (ssize_t) at);
                k = archive_verify(s.basefd, "bad.tar.zst", NULL, NULL, &vs);
                if (k == -EBADMSG)
                        detected++;
                (void) extract_until_error(s.basefd, "bad.tar.zst", s.targetfd, &failed);
                assert_no_temp(s.targetfd);
        }
        assert_true(detected > 0);
        scratch_done(&s);
}

typedef struct Seen {
        char path[64];
        ArchiveVerifyResult result;
        unsigned calls;
} Seen;

static void on_verify(const char *path, ArchiveVerifyResult result, void *userdata) {
        Seen *seen = userdata;

        snprintf(seen->path, sizeof(seen->path), "%s", path);
        seen->result = result;
        seen->calls++;
}

/* Re-pack our archive with libarchive, records intact, one content byte of `victim` flipped. */
static void tamper(int dirfd, const char *from, const char *to, const char *victim, size_t flip_at) {
        struct archive *in = archive_read_new(), *out = archive_write_new();
        struct archive_entry *e;
        int infd, outfd;
        char buf[65536];

        infd = openat(dirfd, from, O_RDONLY | O_CLOEXEC);
        outfd = openat(dirfd, to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(infd >= 0 && outfd >= 0);
        archive_read_support_filter_zstd(in);
        archive_read_support_format_tar(in);
        assert_int_equal(archive_read_open_fd(in, infd, 65536), ARCHIVE_OK);
        archive_write_set_format_pax(out);
        archive_write_add_filter_zstd(out);
        assert_int_equal(archive_write_open_fd(out, outfd), ARCHIVE_OK);

        while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
                size_t pos = 0;
                la_ssize_t n;

                assert_true(archive_write_header(out, e) >= ARCHIVE_WARN);
                while ((n = archive_read_data(in, buf, sizeof(buf))) > 0) {
                        if (strcmp(archive_entry_pathname(e), victim) == 0 && flip_at >= pos &&
                            flip_at < pos + (size_t) n)
                                buf[flip_at - pos] ^= 1;
                        assert_int_equal(archive_write_data(out, buf, (size_t) n), n);
                        pos += (size_t) n;
                }
                assert_int_equal(n, 0);
        }
        archive_read_free(in);
        assert_int_equal(archive_write_close(out), ARCHIVE_OK);
        archive_write_free(out);
        close(infd);
        close(outfd);
}

static void test_flipped_byte(void **state) {
        ArchiveVerifyStats vs;
        Seen seen = {};
        Scratch s;

        scratch_init(&s);
        make_good_archive(&s, "good.tar.zst");

        /* The untouched re-pack still verifies: the flip is what verify reports. */
        tamper(s.basefd, "good.tar.zst", "same.tar.zst", "none", 0);
        assert_int_equal(archive_verify(s.basefd, "same.tar.zst", on_verify, &seen, &vs), 0);
        assert_int_equal(seen.calls, 0);
        assert_int_equal(vs.entries, 3);

        tamper(s.basefd, "good.tar.zst", "bad.tar.zst", "two", 1500000);
        assert_int_equal(archive_verify(s.basefd, "bad.tar.zst", on_verify, &seen, &vs), -EBADMSG);
        assert_int_equal(seen.calls, 1);
        assert_string_equal(seen.path, "two");
        assert_int_equal(seen.result, ARCHIVE_VERIFY_MISMATCH);
        assert_int_equal(vs.entries, 3);
        assert_int_equal(vs.mismatched, 1);
        assert_false(vs.corrupt);

        /* Extraction refuses the tampered file before it gets its name; the others restore. */
        {
                const Expect expect[] = {
                        { "one", ARCHIVE_FILE_RESTORED, 0 },
                        { "two", ARCHIVE_FILE_FAILED, EBADMSG },
                        { "three", ARCHIVE_FILE_RESTORED, 0 },
                };
                extract_expect(s.basefd, "bad.tar.zst", s.targetfd, NULL, expect, ELEMENTSOF(expect));
        }
        assert_dir_lists(s.targetfd, "one|three");
        scratch_done(&s);
}

/* Our own records, when malformed, refuse the entry instead of being trusted. */
static void test_malformed_records(void **state) {
        struct archive_entry *e;
        ArchiveVerifyStats vs;
        Hostile h;
        Scratch s;

        scratch_init(&s);
        h = hostile_begin(s.basefd, "m.tar.zst");
        e = archive_entry_new();
        archive_entry_copy_pathname(e, "f");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 4);
        archive_entry_xattr_add_entry(e, ARCHIVE_META_RANGES, "0:4", 3);   /* no file-size record */
        assert_true(archive_write_header(h.a, e) >= ARCHIVE_WARN);
        assert_int_equal(archive_write_data(h.a, "abcd", 4), 4);
        archive_entry_clear(e);
        archive_entry_copy_pathname(e, "g");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 4);
        archive_entry_xattr_add_entry(e, ARCHIVE_META_CHECKSUM, "zz", 2);
        assert_true(archive_write_header(h.a, e) >= ARCHIVE_WARN);
        assert_int_equal(archive_write_data(h.a, "abcd", 4), 4);
        archive_entry_clear(e);
        archive_entry_copy_pathname(e, "h");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 4);
        archive_entry_xattr_add_entry(e, ARCHIVE_META_RANGES, "1000:4", 6);   /* past file-size */
        archive_entry_xattr_add_entry(e, ARCHIVE_META_FILE_SIZE, "10", 2);
        assert_true(archive_write_header(h.a, e) >= ARCHIVE_WARN);
        assert_int_equal(archive_write_data(h.a, "abcd", 4), 4);
        archive_entry_free(e);
        hostile_end(&h);

        const Expect expect[] = {
                { "f", ARCHIVE_FILE_REFUSED_UNSAFE, EBADMSG },
                { "g", ARCHIVE_FILE_REFUSED_UNSAFE, EBADMSG },
                { "h", ARCHIVE_FILE_REFUSED_UNSAFE, EBADMSG },
        };
        extract_expect(s.basefd, "m.tar.zst", s.targetfd, NULL, expect, ELEMENTSOF(expect));
        assert_dir_lists(s.targetfd, "");
        assert_int_equal(archive_verify(s.basefd, "m.tar.zst", NULL, NULL, &vs), -EBADMSG);
        assert_int_equal(vs.mismatched, 3);
        scratch_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hostile_paths),
                cmocka_unit_test(test_allowed_when_asked),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_corrupted_stream),
                cmocka_unit_test(test_flipped_byte),
                cmocka_unit_test(test_malformed_records),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

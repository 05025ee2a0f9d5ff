/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-archive-load: libarchive is loaded when the first archive is made or read, not when a
 * program starts (archive-dl.c), every function in its table resolves, and a libarchive that
 * cannot be loaded is a clear failure of that call, not a crash. Built twice: as is, and as
 * test-archive-load-absent with archive-dl.c compiled for a library name that does not exist
 * (ARCHIVE_LOAD_ABSENT).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive-dl.h"
#include "backup-archive.h"
#include "macro.h"
#include "proc-maps.h"

/* A fresh directory for archives; removed with everything in it by cleanup_dir. */
static int make_dir(char *tmpl) {
        int fd;

        assert_non_null(mkdtemp(tmpl));
        fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static void cleanup_dir(const char *path) {
        _cleanup_free_ char *cmd = NULL;

        assert_true(asprintf(&cmd, "rm -rf '%s'", path) > 0);
        assert_int_equal(system(cmd), 0);
}

#ifndef ARCHIVE_LOAD_ABSENT

#define ARCHIVE_SYMBOL_SET(name) assert_non_null(sym_##name);

static void test_loaded_on_first_archive(void **state) {
        char dir[] = "/tmp/test-archive-load-XXXXXX";
        ArchiveWriter *w = NULL;
        ArchiveReader *r = NULL;
        ArchiveVerifyStats stats = {};
        ArchiveEntry e;
        int dfd;

        /* Nothing in this program has made or read an archive yet, and a bad name is refused
         * before anything is loaded. */
        assert_false(library_mapped(LIBARCHIVE_SONAME));
        dfd = make_dir(dir);
        assert_int_equal(archive_writer_open(dfd, "a/b", &w), -EINVAL);
        assert_false(library_mapped(LIBARCHIVE_SONAME));

        assert_int_equal(archive_writer_open(dfd, "one.tar.zst", &w), 0);
        assert_true(library_mapped(LIBARCHIVE_SONAME));
        ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_SET);
        assert_int_equal(archive_dl_load(NULL), S_OK);

        assert_int_equal(archive_writer_add_blob(w, "doc.xml", "<x/>", 4), 0);
        assert_int_equal(archive_writer_close(w), 0);
        w = archive_writer_free(w);

        assert_int_equal(archive_reader_open(dfd, "one.tar.zst", NULL, NULL, &r), 0);
        assert_int_equal(archive_reader_next(r, &e), 1);
        assert_string_equal(e.path, "doc.xml");
        assert_int_equal(e.size, 4);
        assert_int_equal(archive_reader_next(r, &e), 0);
        r = archive_reader_free(r);
        assert_int_equal(archive_verify(dfd, "one.tar.zst", NULL, NULL, &stats), 0);

        close(dfd);
        cleanup_dir(dir);
}

#else

static void test_absent_library_fails_clearly(void **state) {
        char dir[] = "/tmp/test-archive-load-XXXXXX";
        _cleanup_free_ char *reason = NULL;
        ArchiveWriter *w = NULL;
        ArchiveReader *r = NULL;
        int dfd;

        dfd = make_dir(dir);
        assert_int_equal(archive_dl_load(&reason), VSS_E_UNEXPECTED);
        assert_non_null(reason);
        assert_non_null(strstr(reason, LIBARCHIVE_SONAME));
        assert_non_null(strstr(reason, "could not be loaded"));
        assert_null(sym_archive_write_new);

        /* Every way in fails the same way, creates nothing and maps nothing. */
        assert_int_equal(archive_writer_open(dfd, "one.tar.zst", &w), -ELIBACC);
        assert_null(w);
        assert_int_equal(faccessat(dfd, "one.tar.zst", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(openat(dfd, "empty", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) >= 0, true);
        assert_int_equal(archive_reader_open(dfd, "empty", NULL, NULL, &r), -ELIBACC);
        assert_null(r);
        assert_int_equal(archive_verify(dfd, "empty", NULL, NULL, NULL), -ELIBACC);
        assert_false(library_mapped(LIBARCHIVE_SONAME));

        close(dfd);
        cleanup_dir(dir);
}

#endif

int main(void) {
        const struct CMUnitTest tests[] = {
#ifndef ARCHIVE_LOAD_ABSENT
                cmocka_unit_test(test_loaded_on_first_archive),
#else
                cmocka_unit_test(test_absent_library_fails_clearly),
#endif
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

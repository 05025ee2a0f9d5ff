/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pattern.c: the path patterns of `vssbackup backup --exclude` and `restore --include`
 * (pattern.c), table-driven: anchored and floating patterns, whole components only, a match on
 * a directory covering what is below it, and the exclude file's format and limits.
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

#include "vssbackup.h"

static const struct {
        const char *pattern;
        const char *path;
        bool match;
} cases[] = {
        /* Anchored: the path or one of its ancestors. */
        { "/srv/a", "/srv/a", true },
        { "/srv/a", "/srv/a/x/y", true },
        { "/srv/a", "/srv/ab", false },
        { "/srv/a", "/srv/b/srv/a", false },
        { "/srv/*/cache", "/srv/web/cache/f", true },
        { "/srv/*/cache", "/srv/web/x/cache", false },  /* '*' stops at '/' */
        { "/srv/a/", "/srv/a/f", true },                 /* a trailing '/' is ignored */
        /* Floating: whole components at any depth. */
        { "*.tmp", "/x/y.tmp", true },
        { "*.tmp", "/x/y.tmp/z", true },
        { "*.tmp", "/x/y.tmpx", false },
        { "cache", "/srv/cache/z", true },
        { "cache", "/srv/mycache/z", false },
        { "cache", "/srv/cache", true },
        { "db/*.log", "/a/db/1.log", true },
        { "db/*.log", "/a/xdb/1.log", false },
        { "db/*.log", "/a/db/sub/1.log", false },
        { "a/b", "/x/a/b/c", true },
        { "?", "/x/y", true },
        { "[0-9]*", "/var/log/2024", true },
        { "[0-9]*", "/var/log/x2024", false },
        /* Relative paths (a backup's listing) work the same. */
        { "cache", "srv/cache/z", true },
        { "/srv", "srv/a", false },
        /* Nothing matches nothing. */
        { "*", "", false },
};

static void test_match_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (path_pattern_match(cases[i].pattern, cases[i].path) != cases[i].match)
                        fail_msg("\"%s\" vs %s: expected %s", cases[i].pattern, cases[i].path,
                                 cases[i].match ? "a match" : "no match");
}

static void test_any(void **state) {
        char *pats[] = { (char *) "*.o", (char *) "/tmp" };

        assert_true(path_patterns_match(pats, 2, "/src/a.o"));
        assert_true(path_patterns_match(pats, 2, "/tmp/x"));
        assert_false(path_patterns_match(pats, 2, "/src/a.c"));
        assert_false(path_patterns_match(pats, 0, "/src/a.o"));
}

static void test_exclude_file(void **state) {
        char path[] = "/tmp/test-pattern-XXXXXX";
        char **pats = NULL;
        size_t n = 0;
        unsigned line = 0;
        int fd = mkstemp(path);
        const char text[] = "# caches\n\n*.tmp\n/srv/a/cache/\r\n[#]literal\n";

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        assert_int_equal(patterns_read_file(path, &pats, &n, &line), 0);
        assert_int_equal(n, 3);
        assert_string_equal(pats[0], "*.tmp");
        assert_string_equal(pats[1], "/srv/a/cache/");
        assert_true(path_patterns_match(pats, n, "/srv/a/cache/x"));
        assert_true(path_patterns_match(pats, n, "/x/#literal"));
        patterns_free(pats, n);

        /* A control byte is refused with its line number; nothing half-added is kept by the caller. */
        pats = NULL;
        n = 0;
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "ok\nbad\tpattern\n", 15), 15);
        close(fd);
        assert_int_equal(patterns_read_file(path, &pats, &n, &line), -EINVAL);
        assert_int_equal(line, 2);
        patterns_free(pats, n);
        unlink(path);

        assert_int_equal(patterns_read_file("/nonexistent/x", &pats, &n, NULL), -ENOENT);
}

static void test_limits(void **state) {
        char **pats = NULL;
        size_t n = 0;

        assert_int_equal(patterns_add(&pats, &n, ""), -EINVAL);
        for (unsigned i = 0; i < VB_MAX_PATTERNS; i++)
                assert_int_equal(patterns_add(&pats, &n, "x"), 0);
        assert_int_equal(patterns_add(&pats, &n, "x"), -E2BIG);
        patterns_free(pats, n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_match_table),
                cmocka_unit_test(test_any),
                cmocka_unit_test(test_exclude_file),
                cmocka_unit_test(test_limits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-change-scan: the directory walk under file selection: file specs (and that they mean
 * what the writer side's bcd_filespec_match means), recursion, the time filter, directory
 * pruning, symlinks never followed (in the start path or below), trees deeper than PATH_MAX
 * and deeper than the limit, callback errors, and directory atimes left alone.
 */
#include "selection-test.h"

#include <dirent.h>

#include "backup-components.h"
#include "change-scan.h"

static int collect(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        assert_non_null(e->name);
        assert_true(e->name >= e->path);
        assert_string_equal(e->name, strrchr(e->path, '/') ? strrchr(e->path, '/') + 1 : e->path);
        strlist_addf(l, "%s%s", e->path, e->type == DT_LNK ? "@" : e->type == DT_DIR ? "/" : "");
        return 0;
}

static void test_filespec(void **state) {
        static const struct {
                const char *spec, *name;
                bool match;
        } t[] = {
                { "*", "anything", true },        { "*", ".hidden", true },     { "*.db", "a.db", true },
                { "*.db", "a.db.old", false },    { "a?c", "abc", true },       { "a?c", "ac", false },
                { "a?c", "aéc", true },           { "*x*y", "axxxy", true },    { "*x*y", "axyx", false },
                { "??", "é", false },             { "?", "é", true },           { "*.*", "noext", false },
                { "a*b*c", "abbbc", true },       { "A.DB", "a.db", false },    { "[ab]", "a", false },
                { "[ab]", "[ab]", true },         { "a\\b", "a\\b", true },     { "**", "", true },
                { "*?", "", false },              { "é*", "éte", true },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (change_scan_filespec_match(t[i].spec, t[i].name) != t[i].match)
                        fail_msg("\"%s\" vs \"%s\"", t[i].spec, t[i].name);
                /* Both sides of the protocol agree on valid UTF-8. */
                assert_int_equal(bcd_filespec_match(t[i].spec, t[i].name), t[i].match);
        }
        /* Bytes that are not UTF-8 still count as characters here. */
        assert_true(change_scan_filespec_match("*", "\xff\xfe"));
        assert_true(change_scan_filespec_match("??", "\xff\xfe"));
        assert_false(change_scan_filespec_match("?", "\xff\xfe"));
        assert_true(change_scan_filespec_match("a*", "a\xff"));
        assert_true(change_scan_filespec_match(NULL, "x"));
        assert_false(change_scan_filespec_match("*", NULL));
}

static void test_walk_basics(void **state) {
        _cleanup_free_ char *d = make_scratch(), *p = NULL;
        StrList l = {};

        make_file(d, "a.db", 0);
        make_file(d, "b.txt", 0);
        make_file(d, "s/c.db", 0);
        make_file(d, "s/t/d.db", 0);
        make_file(d, "u/e.txt", 0);
        assert_true(asprintf(&p, "%s/s/link.db", d) > 0);
        assert_int_equal(symlink("/etc/passwd", p), 0);
        free(p);
        assert_true(asprintf(&p, "%s/s/loop", d) > 0);
        assert_int_equal(symlink("..", p), 0);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "*.db", 0, 0, collect, &l), 0);
        strlist_expect(&l, "flat", "a.db");
        strlist_clear(&l);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "*.db", CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
        strlist_expect(&l, "recursive", "a.db s/c.db s/t/d.db s/link.db@");
        strlist_clear(&l);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
        strlist_expect(&l, "all", "a.db b.txt s/c.db s/t/d.db s/link.db@ s/loop@ u/e.txt");
        strlist_clear(&l);

        /* Relative to a directory fd. */
        {
                _cleanup_close_ int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                assert_true(fd >= 0);
                assert_int_equal(change_scan_walk(fd, "s", "*", CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
                strlist_expect(&l, "relative", "c.db t/d.db link.db@ loop@");
                strlist_clear(&l);
        }

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "a/b", 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, "", 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, "", NULL, 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, 0, 0, NULL, &l), -EINVAL);
        free(p);
        assert_true(asprintf(&p, "%s/missing", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ENOENT);
        free(p);
        assert_true(asprintf(&p, "%s/a.db", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ENOTDIR);
        /* A symlink anywhere in the start path is never followed. */
        free(p);
        assert_true(asprintf(&p, "%s/s/loop/u", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ELOOP);
        free(p);
        assert_true(asprintf(&p, "%s/s/loop", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ELOOP);
        assert_int_equal(l.n, 0);
        remove_tree(d);
}

static void test_walk_since(void **state) {
        _cleanup_free_ char *d = make_scratch();
        vss_timestamp future = now_filetime() + 3600 * FT_SECOND;
        StrList l = {};

        make_file(d, "old", 0);
        make_file(d, "x/new", future + 10 * FT_SECOND);
        make_file(d, "x/edge", future);
        make_file(d, "x/y/older", future - 10 * FT_SECOND);

        /* Only mtime or ctime at or after since; ctime is now, so only the future mtimes count. */
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, future, collect, &l), 0);
        strlist_expect(&l, "since", "x/new x/edge");
        strlist_clear(&l);

        /* ctime counts too: everything was changed after an hour ago. */
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, now_filetime() - 3600 * FT_SECOND,
                                          collect, &l),
                         0);
        assert_int_equal(l.n, 4);
        strlist_clear(&l);
        remove_tree(d);
}

static int stat_check(const ChangeScanEntry *e, void *userdata) {
        struct stat st;

        assert_true(e->have_stat);
        assert_true(e->dir_fd >= 0);
        assert_int_equal(fstatat(e->dir_fd, e->name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(e->ino, st.st_ino);
        assert_int_equal(e->size, (uint64_t) st.st_size);
        assert_int_equal(e->mtime, vss_timestamp_from_unix_ns((int64_t) st.st_mtim.tv_sec * 1000000000 +
                                                              st.st_mtim.tv_nsec));
        (*(unsigned *) userdata)++;
        return 0;
}

static int prune(const ChangeScanEntry *e, void *userdata) {
        if (e->type == DT_DIR)
                return streq(e->name, "skip") ? CHANGE_SCAN_SKIP : 0;
        return collect(e, userdata);
}

static int stop_at_two(const ChangeScanEntry *e, void *userdata) {
        return ++*(unsigned *) userdata == 2 ? -ECANCELED : 0;
}

static void test_walk_stat_prune_stop(void **state) {
        _cleanup_free_ char *d = make_scratch();
        StrList l = {};
        unsigned n = 0;

        make_file(d, "a", 0);
        make_file(d, "skip/b", 0);
        make_file(d, "keep/c", 0);
        make_file(d, "keep/skip/d", 0);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, 0, stat_check,
                                          &n),
                         0);
        assert_int_equal(n, 4);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, 0, prune, &l), 0);
        strlist_expect(&l, "pruned", "a keep/c");
        strlist_clear(&l);

        n = 0;
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, stop_at_two, &n), -ECANCELED);
        assert_int_equal(n, 2);
        remove_tree(d);
}

/* Build depth levels of 200-character directory names below d, a file at the bottom. */
static void make_deep(const char *d, unsigned depth) {
        char name[201];
        int fd, nfd;

        memset(name, 'n', 200);
        name[200] = 0;
        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (unsigned i = 0; i < depth; i++) {
                assert_int_equal(mkdirat(fd, name, 0755), 0);
                nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(nfd >= 0);
                close(fd);
                fd = nfd;
        }
        nfd = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(nfd >= 0);
        close(nfd);
        close(fd);
}

static int deep_entry(const ChangeScanEntry *e, void *userdata) {
        assert_string_equal(e->name, "bottom");
        *(size_t *) userdata = strlen(e->path);
        return 0;
}

/* Deleting a tree deeper than PATH_MAX needs fds too. */
static void remove_deep(int parent, const char *name) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *dir;
        struct dirent *de;

        if (fd < 0) {
                (void) unlinkat(parent, name, 0);
                return;
        }
        dir = fdopendir(fd);
        assert_non_null(dir);
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        remove_deep(dirfd(dir), de->d_name);
        closedir(dir);
        (void) unlinkat(parent, name, AT_REMOVEDIR);
}

static void test_walk_deep(void **state) {
        _cleanup_free_ char *d = make_scratch(), *a = NULL, *b = NULL;
        size_t len = 0;

        assert_true(asprintf(&a, "%s/a", d) > 0 && asprintf(&b, "%s/b", d) > 0);
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(b, 0755), 0);

        /* 100 levels: a 20 kB relative path, five times PATH_MAX. */
        make_deep(a, 100);
        assert_int_equal(change_scan_walk(AT_FDCWD, a, NULL, CHANGE_SCAN_RECURSIVE, 0, deep_entry, &len), 0);
        assert_int_equal(len, 100 * 201 + strlen("bottom"));

        /* Past the depth limit: an error, never a silent partial result. */
        make_deep(b, CHANGE_SCAN_MAX_DEPTH + 1);
        len = 0;
        assert_int_equal(change_scan_walk(AT_FDCWD, b, NULL, CHANGE_SCAN_RECURSIVE, 0, deep_entry, &len), -ELOOP);
        assert_int_equal(len, 0);

        remove_deep(AT_FDCWD, d);
}

static int count(const ChangeScanEntry *e, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* Reading directories for a backup must not dirty their atimes (relatime would here). */
static void test_walk_noatime(void **state) {
        _cleanup_free_ char *d = make_scratch(), *sub = NULL;
        struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_nsec = UTIME_OMIT } };
        struct stat st;
        unsigned n = 0;

        make_file(d, "sub/f", 0);
        assert_true(asprintf(&sub, "%s/sub", d) > 0);
        assert_int_equal(utimensat(AT_FDCWD, sub, ts, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, d, ts, 0), 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, count, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(stat(sub, &st), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        assert_int_equal(stat(d, &st), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        remove_tree(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_filespec),
                cmocka_unit_test(test_walk_basics),
                cmocka_unit_test(test_walk_since),
                cmocka_unit_test(test_walk_stat_prune_stop),
                cmocka_unit_test(test_walk_deep),
                cmocka_unit_test(test_walk_noatime),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

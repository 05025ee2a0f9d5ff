/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * selection-test.h: what the selection tests share: a scratch directory, files with chosen
 * modification times, and a sorted list of strings the callbacks collect, compared against an
 * expected list in one assertion that prints both on a mismatch.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "vss/vss-common.h"

static inline vss_timestamp now_filetime(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
        return vss_timestamp_from_unix_ns((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec);
}

#define FT_SECOND INT64_C(10000000)

/* mkdir -p below an existing directory. */
static inline void mkdir_p(const char *path) {
        char buf[4096];

        assert_true(strlen(path) < sizeof(buf));
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
                        *p = '/';
                }
        assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
}

/* Write a small file (creating its directories) and give it mtime (FILETIME; 0 keeps "now"). */
static inline void make_file(const char *dir, const char *rel, vss_timestamp mtime) {
        char path[4096], *slash;
        int fd;

        assert_true((size_t) snprintf(path, sizeof(path), "%s/%s", dir, rel) < sizeof(path));
        slash = strrchr(path, '/');
        *slash = 0;
        mkdir_p(path);
        *slash = '/';
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, rel, strlen(rel)), (ssize_t) strlen(rel));
        assert_int_equal(close(fd), 0);
        if (mtime != 0) {
                int64_t ns = vss_timestamp_to_unix_ns(mtime);
                struct timespec ts[2] = {
                        { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
                        { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 },
                };

                assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
        }
}

static inline char *make_scratch(void) {
        char *d = strdup("/tmp/vss-selection-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static inline void remove_tree(const char *dir) {
        if (dir)
                (void) nftw(dir, rm_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A growable list of strings. */
typedef struct StrList {
        char **v;
        size_t n;
} StrList;

static inline void strlist_add(StrList *l, const char *s) {
        l->v = reallocarray(l->v, l->n + 1, sizeof(char *));
        assert_non_null(l->v);
        l->v[l->n] = strdup(s);
        assert_non_null(l->v[l->n]);
        l->n++;
}

_printf_(2, 3) static inline void strlist_addf(StrList *l, const char *fmt, ...) {
        char *s;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        strlist_add(l, s);
        free(s);
}

static inline void strlist_clear(StrList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (StrList) {};
}

static inline int strlist_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Assert the list, sorted, equals the space-separated words of expected (any order). */
static inline void strlist_expect(StrList *l, const char *what, const char *expected) {
        StrList e = {};
        _cleanup_free_ char *copy = strdup(expected);
        bool same;

        assert_non_null(copy);
        for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " "))
                strlist_add(&e, tok);
        qsort(l->v, l->n, sizeof(char *), strlist_cmp);
        qsort(e.v, e.n, sizeof(char *), strlist_cmp);
        same = l->n == e.n;
        for (size_t i = 0; same && i < l->n; i++)
                same = streq(l->v[i], e.v[i]);
        if (!same) {
                print_error("%s: selection differs\n  expected:", what);
                for (size_t i = 0; i < e.n; i++)
                        print_error(" %s", e.v[i]);
                print_error("\n  got:     ");
                for (size_t i = 0; i < l->n; i++)
                        print_error(" %s", l->v[i]);
                print_error("\n");
        }
        strlist_clear(&e);
        assert_true(same);
}

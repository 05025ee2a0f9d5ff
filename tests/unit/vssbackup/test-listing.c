/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-listing.c: the format 2 listing (listing.c) on its own: what the writer groups is what a
 * reader finds by directory (a binary search over the mapped file, with names that sort next
 * to '/' and bytes above 0x7f), paths outside every group kept apart, a flipped byte caught by
 * the group it hits (the others still found) and by the whole-file checksum, and a chain of a
 * whole listing and a delta assembled into the tree at the delta's backup: deleted
 * directories gone with what was below them, new ones in, unchanged ones from the older file.
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

static char tmpdir[] = "/tmp/vss-listing-XXXXXX";
static int dirfd_ = -1;
static unsigned n_files;

/* Writes a listing: paths (type + path) and the groups; returns its name, checksum in hex. */
static const char *write_listing(const char *const *paths, const char *const *groups, char hex[static 33]) {
        static char name[32];
        ListingWriter *w = NULL;

        snprintf(name, sizeof(name), "l%u.list", n_files++);
        assert_int_equal(listing_writer_open(dirfd_, name, &w), 0);
        for (size_t i = 0; groups[i]; i++)
                assert_int_equal(listing_writer_group(w, groups[i]), 0);
        for (size_t i = 0; paths[i]; i++)
                assert_int_equal(listing_writer_add(w, paths[i][0], paths[i] + 1), 0);
        assert_int_equal(listing_writer_close(w, hex), 0);
        listing_writer_free(w);
        return name;
}

/* The group's entries as "tname,tname". */
static void assert_group(const Listing *l, const char *dir, const char *expected) {
        ListingGroup g;
        char buf[4096] = "", type;

        assert_int_equal(listing_group(l, dir, &g), 1);
        assert_string_equal(g.dir, dir);
        for (const char *e = listing_group_next(&g, NULL, &type); e; e = listing_group_next(&g, e, &type)) {
                if (buf[0])
                        strcat(buf, ",");
                strncat(buf, &type, 1);
                strcat(buf, e);
        }
        assert_string_equal(buf, expected);
}

static void test_groups_found(void **state) {
        /* Added out of order; directories whose names sort around '/' ('-' and '.' below it, '0' above). */
        static const char *const paths[] = {
                "dz", "fa.txt", "da", "da-b", "da.b", "da0", "fa/x", "da/b", "fa/b/y", "la/b/link", "fa-b/1",
                "da/b/c", "f\xc3\xa9t\xc3\xa9", "d\xc3\xa9", "f\xc3\xa9/f", "fz/in-z", "foutside/of/groups",
                NULL,
        };
        static const char *const groups[] = { "", "a", "a/b", "a-b", "a.b", "a0", "z", "a/b/c", "\xc3\xa9", NULL };
        _cleanup_(listing_freep) Listing *l = NULL;
        const char **idx = NULL;
        ListingGroup g;
        char hex[33], type;
        const char *name;

        name = write_listing(paths, groups, hex);
        assert_int_equal(listing_open(dirfd_, name, hex, &l), 0);

        assert_group(l, "", "da,da-b,da.b,fa.txt,da0,dz,d\xc3\xa9,f\xc3\xa9t\xc3\xa9");
        assert_group(l, "a", "db,fx");
        assert_group(l, "a/b", "dc,llink,fy");
        assert_group(l, "a-b", "f1");
        assert_group(l, "a.b", "");
        assert_group(l, "a0", "");
        assert_group(l, "a/b/c", "");
        assert_group(l, "z", "fin-z");
        assert_group(l, "\xc3\xa9", "ff");
        /* Not read whole by this backup: no group. */
        assert_int_equal(listing_group(l, "b", &g), 0);
        assert_int_equal(listing_group(l, "a/b/c/d", &g), 0);
        assert_int_equal(listing_group(l, "outside", &g), 0);
        assert_int_equal(listing_group(l, "a/", &g), 0);
        /* Paths whose directory is no group are kept apart, whole. */
        assert_int_equal(listing_extras(l, &g), 1);
        name = listing_group_next(&g, NULL, &type);
        assert_string_equal(name, "outside/of/groups");
        assert_int_equal(type, 'f');
        assert_null(listing_group_next(&g, name, &type));

        /* A name is found in its group, by halves. */
        assert_int_equal(listing_group(l, "", &g), 1);
        assert_int_equal(listing_group_index(&g, &idx), 0);
        assert_int_equal(listing_group_find(&g, idx, "a-b"), 'd');
        assert_int_equal(listing_group_find(&g, idx, "a.txt"), 'f');
        assert_int_equal(listing_group_find(&g, idx, "\xc3\xa9t\xc3\xa9"), 'f');
        assert_int_equal(listing_group_find(&g, idx, "b"), 0);
        assert_int_equal(listing_group_find(&g, idx, "a/b"), 0);
        free(idx);
}

/* A directory name next to dir that no listing here has a group for. */
static const char *pathf_absent(const char *dir) {
        static char buf[128];

        snprintf(buf, sizeof(buf), "%s~", dir);
        return buf;
}

static void test_many_groups(void **state) {
        enum { N = 3000 };
        char **paths = calloc(2 * N + 1, sizeof(char *)), **groups = calloc(N + 2, sizeof(char *));
        _cleanup_(listing_freep) Listing *l = NULL;
        char hex[33];
        const char *name;
        ListingGroup g;

        assert_non_null(paths);
        assert_non_null(groups);
        groups[0] = strdup("");
        /* Directories of every depth and width, each with one file; every one must be found. */
        for (unsigned i = 0; i < N; i++) {
                char dir[64];

                snprintf(dir, sizeof(dir), "%u/%u/%u", i % 7, i % 101, i);
                assert_true(asprintf(&paths[2 * i], "f%s/file-%u", dir, i) > 0);
                assert_true(asprintf(&groups[i + 1], "%s", dir) > 0);
                assert_true(asprintf(&paths[2 * i + 1], "d%u", i) > 0);        /* in the top's group */
        }
        name = write_listing((const char *const *) paths, (const char *const *) groups, hex);
        assert_int_equal(listing_open(dirfd_, name, NULL, &l), 0);
        for (unsigned i = 0; i < N; i++) {
                char file[32];
                const char **idx = NULL;

                snprintf(file, sizeof(file), "file-%u", i);
                assert_int_equal(listing_group(l, groups[i + 1], &g), 1);
                assert_int_equal(g.n, 1);
                assert_int_equal(listing_group_index(&g, &idx), 0);
                assert_int_equal(listing_group_find(&g, idx, file), 'f');
                free(idx);
                /* Its siblings' absent neighbours are not found either. */
                assert_int_equal(listing_group(l, pathf_absent(groups[i + 1]), &g), 0);
        }
        assert_int_equal(listing_group(l, "", &g), 1);
        assert_int_equal(g.n, N);
        for (unsigned i = 0; i < 2 * N; i++)
                free(paths[i]);
        for (unsigned i = 0; i < N + 1; i++)
                free(groups[i]);
        free(paths);
        free(groups);
}

static void test_damage_found(void **state) {
        static const char *const paths[] = { "fa", "db", "db/x", "dc", "fc/y", NULL };
        static const char *const groups[] = { "", "b", "c", NULL };
        _cleanup_(listing_freep) Listing *l = NULL, *whole = NULL;
        char hex[33], buf[256];
        const char *name;
        ListingGroup g;
        ssize_t n;
        int fd;

        name = write_listing(paths, groups, hex);
        fd = openat(dirfd_, name, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        n = pread(fd, buf, sizeof(buf), 0);
        assert_true(n > 0);
        /* The group of "b" is "Db\0dx\0E<hex>\0": flip its entry's name. */
        assert_non_null(memmem(buf, (size_t) n, "Db\0dx", 6));
        assert_int_equal(pwrite(fd, "q", 1, (char *) memmem(buf, (size_t) n, "Db\0dx", 6) - buf + 4), 1);
        assert_int_equal(close(fd), 0);

        assert_int_equal(listing_open(dirfd_, name, hex, &whole), -EBADMSG);
        assert_int_equal(listing_open(dirfd_, name, NULL, &l), 0);
        assert_int_equal(listing_group(l, "b", &g), -EBADMSG);
        assert_group(l, "", "fa,db,dc");
        assert_group(l, "c", "fy");
}

static void test_chain_assembled(void **state) {
        /* The full: a/, a/b/, a/b/f, a/g, k/, k/h, t. */
        static const char *const full_paths[] = { "da", "da/b", "fa/b/f", "fa/g", "dk", "fk/h", "ft", NULL };
        static const char *const full_groups[] = { "", "a", "a/b", "k", NULL };
        /* The delta: a/ deleted (with all below it), n/ new with n/x, k/ read again with h gone and i new. */
        static const char *const delta_paths[] = { "dk", "dn", "ft", "fn/x", "fk/i", "fwriter/elsewhere", NULL };
        static const char *const delta_groups[] = { "", "n", "k", NULL };
        _cleanup_(listing_freep) Listing *full = NULL, *delta = NULL;
        _cleanup_(pathset_freep) PathSet *set = NULL;
        char hex[33];
        const char *name;

        name = write_listing(full_paths, full_groups, hex);
        assert_int_equal(listing_open(dirfd_, name, hex, &full), 0);
        name = write_listing(delta_paths, delta_groups, hex);
        assert_int_equal(listing_open(dirfd_, name, hex, &delta), 0);

        assert_int_equal(listing_assemble((Listing *[]) { delta, full }, 2, &set), 0);
        assert_int_equal(pathset_size(set), 6);
        assert_int_equal(pathset_get(set, "k", NULL), 'd');
        assert_int_equal(pathset_get(set, "k/i", NULL), 'f');
        assert_int_equal(pathset_get(set, "n", NULL), 'd');
        assert_int_equal(pathset_get(set, "n/x", NULL), 'f');
        assert_int_equal(pathset_get(set, "t", NULL), 'f');
        assert_int_equal(pathset_get(set, "writer/elsewhere", NULL), 'f');
        assert_int_equal(pathset_get(set, "a", NULL), 0);
        assert_int_equal(pathset_get(set, "a/b/f", NULL), 0);
        assert_int_equal(pathset_get(set, "k/h", NULL), 0);
        pathset_free(TAKE_PTR(set));

        /* The full alone is the tree at the full. */
        assert_int_equal(listing_assemble((Listing *[]) { full }, 1, &set), 0);
        assert_int_equal(pathset_size(set), 7);
        assert_int_equal(pathset_get(set, "a/b/f", NULL), 'f');
        pathset_free(TAKE_PTR(set));

        /* A directory listed that no listing of the chain has a group for: damaged, not a smaller tree. */
        {
                static const char *const bad_paths[] = { "dk", "dm", NULL };
                static const char *const bad_groups[] = { "", NULL };
                _cleanup_(listing_freep) Listing *bad = NULL;

                name = write_listing(bad_paths, bad_groups, hex);
                assert_int_equal(listing_open(dirfd_, name, hex, &bad), 0);
                assert_int_equal(listing_assemble((Listing *[]) { bad, full }, 2, &set), -EBADMSG);
        }
}

static int setup(void **state) {
        if (!mkdtemp(tmpdir))
                return -1;
        dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return dirfd_ < 0 ? -1 : 0;
}

static int teardown(void **state) {
        for (unsigned i = 0; i < n_files; i++) {
                char name[32];

                snprintf(name, sizeof(name), "l%u.list", i);
                (void) unlinkat(dirfd_, name, 0);
        }
        close(dirfd_);
        return rmdir(tmpdir) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_groups_found),
                cmocka_unit_test(test_many_groups),
                cmocka_unit_test(test_damage_found),
                cmocka_unit_test(test_chain_assembled),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive-test.h: what the archive tests share: a scratch directory per test (base/ with
 * src/, target/ and outside/ inside), small file helpers, and a tree walk that lists a
 * directory's entries so a test can prove nothing appeared where it must not.
 */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Scratch {
        char base[64];
        int basefd;
        int srcfd;
        int targetfd;
        int outsidefd;
} Scratch;

static inline int scratch_subdir(int basefd, const char *name) {
        int fd;

        assert_int_equal(mkdirat(basefd, name, 0755), 0);
        fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static inline void scratch_init(Scratch *s) {
        snprintf(s->base, sizeof(s->base), "/tmp/vss-archive-test-XXXXXX");
        assert_non_null(mkdtemp(s->base));
        s->basefd = open(s->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(s->basefd >= 0);
        s->srcfd = scratch_subdir(s->basefd, "src");
        s->targetfd = scratch_subdir(s->basefd, "target");
        s->outsidefd = scratch_subdir(s->basefd, "outside");
}

static inline void scratch_done(Scratch *s) {
        char cmd[128];

        close(s->srcfd);
        close(s->targetfd);
        close(s->outsidefd);
        close(s->basefd);
        /* Test-owned directory under /tmp with a fixed prefix; nothing else is touched. */
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->base);
        assert_int_equal(system(cmd), 0);
}

static inline void write_file_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode) {
        int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        const char *p = data;

        assert_true(fd >= 0);
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                assert_true(n > 0);
                p += n;
                len -= (size_t) n;
        }
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
}

/* Whole file into a fresh buffer; *ret_len gets the size. */
static inline char *read_file_at(int dirfd, const char *path, size_t *ret_len) {
        struct stat st;
        char *buf;
        size_t done = 0;
        int fd;

        fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        assert_non_null(buf);
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t) st.st_size - done);
                assert_true(n > 0);
                done += (size_t) n;
        }
        close(fd);
        *ret_len = done;
        return buf;
}

static inline void fill_pattern(char *buf, size_t len, unsigned seed) {
        uint32_t x = seed * 2654435761u + 1;

        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (char) (x & 0xff);
        }
}

/* Names in a directory (without . and ..), sorted, joined by '|'. */
static inline char *list_dir(int dirfd) {
        char *names[256];
        size_t n = 0, total = 1;
        char *out;
        DIR *d;
        struct dirent *de;
        int fd;

        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                assert_true(n < 256);
                names[n] = strdup(de->d_name);
                total += strlen(de->d_name) + 1;
                n++;
        }
        closedir(d);

        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strcmp(names[i], names[j]) > 0) {
                                char *t = names[i];
                                names[i] = names[j];
                                names[j] = t;
                        }

        out = calloc(1, total);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(out, "|");
                strcat(out, names[i]);
                free(names[i]);
        }
        return out;
}

static inline void assert_dir_lists(int dirfd, const char *expected) {
        char *l = list_dir(dirfd);
        assert_string_equal(l, expected);
        free(l);
}

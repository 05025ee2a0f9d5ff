/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * doc-test.h: helpers the document tests share: watching stderr (libxml2 must never print),
 * and the hostile inputs both documents must refuse the same way.
 */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Redirect fd 2 to a temporary file; stderr_end says how many bytes were written meanwhile. */
typedef struct StderrCapture {
        int saved;
        int file;
} StderrCapture;

static inline StderrCapture stderr_begin(void) {
        char path[] = "/tmp/vss-doc-test-stderr-XXXXXX";
        StderrCapture c;

        fflush(stderr);
        c.file = mkstemp(path);
        assert_true(c.file >= 0);
        (void) unlink(path);
        c.saved = dup(STDERR_FILENO);
        assert_true(c.saved >= 0);
        assert_true(dup2(c.file, STDERR_FILENO) >= 0);
        return c;
}

static inline off_t stderr_end(StderrCapture *c) {
        struct stat st;

        fflush(stderr);
        assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
        close(c->saved);
        assert_int_equal(fstat(c->file, &st), 0);
        close(c->file);
        return st.st_size;
}

/* A string of n copies of unit followed by tail, malloc'd. */
static inline char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *s = malloc(hl + ul * n + tl + 1), *p;

        assert_non_null(s);
        memcpy(s, head, hl);
        p = s + hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, tail, tl + 1);
        return s;
}

/* The classic exponential entity expansion, with the root element name filled in. */
#define BILLION_LAUGHS(root)                                                                   \
        "<?xml version=\"1.0\"?>\n"                                                           \
        "<!DOCTYPE " root " [\n"                                                              \
        " <!ENTITY lol \"lol\">\n"                                                            \
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"            \
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"  \
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"  \
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"  \
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"  \
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"  \
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"  \
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"  \
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"  \
        "]>\n"                                                                                \
        "<" root " version=\"1\">&lol9;</" root ">\n"

/*
 * A FIFO nobody writes to: a parser that tried to read it as an external entity or DTD would
 * block in open(), and the alarm turns that hang into a failure. *ret_dir and *ret_fifo are
 * malloc'd; fifo_done removes both.
 */
static inline void fifo_make(char **ret_dir, char **ret_fifo) {
        char tmpl[] = "/tmp/vss-doc-test-XXXXXX";
        char *dir, *fifo;

        dir = mkdtemp(tmpl);
        assert_non_null(dir);
        dir = strdup(dir);
        assert_non_null(dir);
        assert_true(asprintf(&fifo, "%s/secret", dir) > 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        *ret_dir = dir;
        *ret_fifo = fifo;
}

static inline void fifo_done(char *dir, char *fifo) {
        (void) unlink(fifo);
        (void) rmdir(dir);
        free(fifo);
        free(dir);
}

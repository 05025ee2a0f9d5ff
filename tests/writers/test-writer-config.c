/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-config: the option parsing every writer program shares (writer-util.c):
 * command lines through writer_parse_argv and "key = value" files through
 * writer_config_load, with the refusals each must make.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writers/common/writer-util.h"

enum { OPT_NAME = 0x100, OPT_COUNT, OPT_CONFIG };

static const struct option options[] = {
        { "name", required_argument, NULL, OPT_NAME },
        { "count", required_argument, NULL, OPT_COUNT },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        {}
};

typedef struct Seen {
        char name[64];
        char count[64];
        unsigned applied;
        bool help_shown;
} Seen;

static Seen *current;

static int apply(int val, const char *name, const char *value, void *userdata) {
        Seen *s = userdata;

        s->applied++;
        if (val == OPT_NAME)
                snprintf(s->name, sizeof(s->name), "%s", value);
        else if (val == OPT_COUNT) {
                if (strspn(value, "0123456789") != strlen(value))
                        return -EINVAL;
                snprintf(s->count, sizeof(s->count), "%s", value);
        }
        return 0;
}

static bool accept_in_file(int val) {
        return val != OPT_CONFIG && val != 'h';
}

static void help(void) {
        current->help_shown = true;
}

static char *write_config(const char *text) {
        char *path = strdup("/tmp/test-writer-config-XXXXXX");
        FILE *f;
        int fd;

        assert_non_null(path);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return path;
}

static int load(const char *text, Seen *s) {
        char *path = write_config(text);
        int r = writer_config_load(path, options, accept_in_file, apply, s);

        unlink(path);
        free(path);
        return r;
}

static void test_config_applied(void **state) {
        Seen s = {};

        assert_int_equal(load("# a comment\n\n   name =  my writer  \ncount=42\r\n", &s), 0);
        assert_string_equal(s.name, "my writer");
        assert_string_equal(s.count, "42");
        assert_int_equal(s.applied, 2);
}

static void test_config_refusals(void **state) {
        Seen s = {};
        char *big;

        assert_int_equal(load("colour = blue\n", &s), -EINVAL);           /* unknown key */
        assert_int_equal(load("config = /etc/other\n", &s), -EINVAL);     /* not allowed in a file */
        assert_int_equal(load("help = 1\n", &s), -EINVAL);
        assert_int_equal(load("name my writer\n", &s), -EINVAL);          /* no '=' */
        assert_int_equal(load("count = many\n", &s), -EINVAL);            /* the option refuses it */
        assert_int_equal(writer_config_load("/nonexistent/config", options, accept_in_file, apply, &s), -ENOENT);

        big = malloc(70 * 1024 + 1);
        assert_non_null(big);
        memset(big, '#', 70 * 1024);
        big[70 * 1024] = 0;
        assert_int_equal(load(big, &s), -E2BIG);
        free(big);
}

static int parse(Seen *s, int argc, const char **argv) {
        current = s;
        optind = 0; /* reset getopt between calls (glibc: 0 reinitialises) */
        return writer_parse_argv(argc, (char **) argv, "h", options, help, apply, s);
}

static void test_argv(void **state) {
        const char *ok[] = { "prog", "--name", "w", "--count=7", NULL };
        const char *stray[] = { "prog", "--name", "w", "extra", NULL };
        const char *unknown[] = { "prog", "--colour", "blue", NULL };
        const char *asks_help[] = { "prog", "--help", NULL };
        const char *bad_value[] = { "prog", "--count", "x", NULL };
        Seen s = {};

        assert_int_equal(parse(&s, 4, ok), 1);
        assert_string_equal(s.name, "w");
        assert_string_equal(s.count, "7");

        assert_int_equal(parse(&(Seen) {}, 4, stray), -EINVAL);
        assert_int_equal(parse(&(Seen) {}, 3, unknown), -EINVAL);
        assert_int_equal(parse(&(Seen) {}, 3, bad_value), -EINVAL);

        s = (Seen) {};
        assert_int_equal(parse(&s, 2, asks_help), 0);
        assert_true(s.help_shown);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_applied),
                cmocka_unit_test(test_config_refusals),
                cmocka_unit_test(test_argv),
        };

        opterr = 0; /* the refusals are expected; keep getopt quiet */
        wlog_init("test-writer-config");
        return cmocka_run_group_tests(tests, NULL, NULL);
}

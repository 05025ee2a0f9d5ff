/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-man-pages: every manual page the build makes (man/meson.build) renders with man(1)
 * at 80 columns without a single troff or tbl warning, and reads as a manual page: a NAME
 * line "name — description" and the page's own name in the header.
 *
 * The pages come as arguments (their paths in the build tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

#define OUTPUT_MAX (1024U * 1024U)

static int n_pages;
static char **pages;

/* Reads all of fd into a NUL-terminated buffer (at most OUTPUT_MAX bytes). */
static char *slurp(int fd) {
        char *buf = calloc(1, OUTPUT_MAX + 1);
        size_t len = 0;
        ssize_t n;

        assert_non_null(buf);
        while (len < OUTPUT_MAX && (n = read(fd, buf + len, OUTPUT_MAX - len)) > 0)
                len += (size_t) n;
        return buf;
}

/* man --warnings -l page, at 80 columns: its exit status, stdout and stderr. */
static int render(const char *page, char **ret_out, char **ret_err) {
        int out[2], err[2], status;
        pid_t pid;

        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) dup2(out[1], STDOUT_FILENO);
                (void) dup2(err[1], STDERR_FILENO);
                (void) setenv("MANWIDTH", "80", 1);
                (void) setenv("LC_ALL", "C.UTF-8", 1);
                (void) unsetenv("MANPAGER");
                (void) setenv("PAGER", "cat", 1);
                execlp("man", "man", "--warnings", "-E", "UTF-8", "-l", page, (char *) NULL);
                _exit(127);
        }
        (void) close(out[1]);
        (void) close(err[1]);
        /* Output first, then errors: a page is far smaller than a pipe's worth of warnings. */
        *ret_out = slurp(out[0]);
        *ret_err = slurp(err[0]);
        (void) close(out[0]);
        (void) close(err[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_pages_render_cleanly(void **state) {
        assert_true(n_pages > 0);
        for (int i = 0; i < n_pages; i++) {
                _cleanup_free_ char *out = NULL, *err = NULL, *name = NULL, *header = NULL;
                const char *base = strrchr(pages[i], '/') ? strrchr(pages[i], '/') + 1 : pages[i];
                const char *dot = strrchr(base, '.');
                int rc;

                assert_non_null(dot);
                name = strndup(base, (size_t) (dot - base));
                assert_non_null(name);
                assert_true(asprintf(&header, "%s(%s)", name, dot + 1) > 0);

                rc = render(pages[i], &out, &err);
                if (rc != 0 || err[0] != '\0')
                        print_error("%s: man exited %d:\n%s\n", pages[i], rc, err);
                assert_int_equal(rc, 0);
                assert_string_equal(err, "");
                assert_non_null(strstr(out, header));
                assert_non_null(strstr(out, "NAME"));
                assert_non_null(strstr(out, " — "));
        }
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pages_render_cleanly),
        };

        n_pages = argc - 1;
        pages = argv + 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-guardian.c: vss-guardian and its client without freezing anything (suite unit):
 * command line, start-up failures, argument checks on both ends, the error codes of paths
 * that cannot be frozen, and the client noticing a dead guardian and starting a new one.
 * The real freezes are in test-guardian-freeze.c (suite root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guardian-client.h"
#include "loop-fs.h"
#include "macro.h"

static const char *guardian_exe(void) {
        const char *p = getenv("VSS_GUARDIAN");

        assert_non_null(p);
        return p;
}

static int run_guardian(char *const extra[], int stdin_fd) {
        char *argv[8] = { (char *) guardian_exe() };
        int status;
        pid_t pid;

        for (size_t i = 0; extra[i]; i++)
                argv[i + 1] = extra[i];

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null_fd = open("/dev/null", O_WRONLY);

                if (stdin_fd >= 0)
                        (void) dup2(stdin_fd, STDIN_FILENO);
                (void) dup2(null_fd, STDOUT_FILENO);
                (void) dup2(null_fd, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_command_line(void **state) {
        _cleanup_close_ int null_fd = open("/dev/null", O_RDONLY);

        assert_int_equal(run_guardian((char *[]) { (char *) "--help", NULL }, -1), 0);
        /* --fd is required, must be a number, and must be a socket. */
        assert_int_not_equal(run_guardian((char *[]) { NULL }, -1), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--fd", (char *) "x3", NULL }, -1), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--fd", (char *) "0", NULL }, null_fd), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--bogus", NULL }, -1), 0);
}

static void test_spawn_failures(void **state) {
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(NULL, &g), -EINVAL);
        assert_int_equal(guardian_spawn(guardian_exe(), NULL), -EINVAL);
        assert_int_equal(guardian_spawn("/nonexistent/vss-guardian", &g), -ENOENT);
        /* Starts, but never answers the Ping: exits at once. */
        assert_int_equal(guardian_spawn("/bin/false", &g), -ECHILD);
        assert_null(g);
}

static void test_arguments(void **state) {
        char *paths[GUARDIAN_MAX_PATHS + 1];
        char *one[] = { (char *) "relative/path" };
        char *empty[] = { (char *) "" };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_true(guardian_pid(g) > 0);

        /* Nothing held: Thaw is a no-op that succeeds. */
        assert_int_equal(guardian_thaw(g), S_OK);

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                paths[i] = (char *) "/nonexistent";
        assert_int_equal(guardian_freeze(g, paths, 0, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, paths, GUARDIAN_MAX_PATHS + 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, paths, 1, GUARDIAN_MAX_DEADLINE_MS + 1), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, empty, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(NULL, paths, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_thaw(NULL), E_INVALIDARG);

        /* Relative paths are refused before anything is opened. */
        assert_int_equal(guardian_freeze(g, one, 1, 0), E_INVALIDARG);

        /* Opening fails before anything is frozen: the errno's code. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);

        /* procfs cannot be frozen: unsupported for root, refused for anyone else. */
        paths[0] = (char *) "/proc";
        assert_int_equal(guardian_freeze(g, paths, 1, 100),
                         geteuid() == 0 ? VSS_E_VOLUME_NOT_SUPPORTED : E_ACCESSDENIED);

        /* Still serving after all those refusals. */
        assert_int_equal(guardian_thaw(g), S_OK);
        g = guardian_free(g);
        assert_null(g);
}

static void test_respawn_after_death(void **state) {
        char *paths[] = { (char *) "/nonexistent" };
        Guardian *g = NULL;
        pid_t first;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        first = guardian_pid(g);
        assert_true(first > 0);

        /* SIGTERM ends it cleanly; the client finds out on its next call. */
        assert_int_equal(kill(first, SIGTERM), 0);
        for (int i = 0; i < 500 && kill(first, 0) == 0; i++) {
                int status;

                if (waitpid(first, &status, WNOHANG) == first)
                        break;
                sleep_msec(10);
        }

        /* Nothing was held, so its death loses nothing. */
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_int_equal(guardian_pid(g), 0);

        /* The next freeze starts a new guardian, which answers. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);
        assert_true(guardian_pid(g) > 0);
        assert_int_not_equal(guardian_pid(g), first);

        g = guardian_free(g);
}

static void test_free_reaps(void **state) {
        Guardian *g = NULL;
        pid_t pid;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        pid = guardian_pid(g);
        g = guardian_free(g);

        /* Reaped: no such child any more. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_null(guardian_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_command_line),
                cmocka_unit_test(test_spawn_failures),
                cmocka_unit_test(test_arguments),
                cmocka_unit_test(test_respawn_after_death),
                cmocka_unit_test(test_free_reaps),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

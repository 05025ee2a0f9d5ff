/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-stock-dbus-tools: the README's recipe for inspecting vssd with stock D-Bus tools works
 * against a real vssd: busctl and gdbus (which greet any address as a bus with Hello) and
 * dbus-send --peer (which does not) introspect vssd's object and call an Admin method.
 *
 * Needs root (Admin calls are for root and group backup): exits 77 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

#define OUTPUT_MAX (256U * 1024U)

/* Runs argv with stdout captured; returns its exit status and the output in *ret. */
static int run_capture(char *const argv[], char **ret) {
        char *out = calloc(1, OUTPUT_MAX + 1);
        size_t len = 0;
        int pipefd[2], status;
        ssize_t n;
        pid_t pid;

        assert_non_null(out);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) dup2(pipefd[1], STDOUT_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        (void) close(pipefd[1]);
        while (len < OUTPUT_MAX && (n = read(pipefd[0], out + len, OUTPUT_MAX - len)) > 0)
                len += (size_t) n;
        (void) close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        *ret = out;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *address(const Harness *h, const char *prefix) {
        char *a;

        assert_true(asprintf(&a, "%s%s", prefix, h->socket_path) > 0);
        return a;
}

static void test_busctl(void **state) {
        Harness *h = *state;
        _cleanup_free_ char *addr = address(h, "--address=unix:path="), *out = NULL, *out2 = NULL;
        char *const introspect[] = { (char *) "busctl", addr, (char *) "introspect", (char *) "org.vsslinux.VSS1",
                                     (char *) "/org/vsslinux/VSS1", NULL };
        char *const call[] = { (char *) "busctl", addr, (char *) "call", (char *) "org.vsslinux.VSS1",
                               (char *) "/org/vsslinux/VSS1", (char *) "org.vsslinux.VSS1.Admin",
                               (char *) "ListProviders", NULL };

        assert_int_equal(run_capture(introspect, &out), 0);
        assert_non_null(strstr(out, "org.vsslinux.VSS1.Admin"));
        assert_non_null(strstr(out, ".DoSnapshotSet"));
        assert_int_equal(run_capture(call, &out2), 0);
        assert_non_null(strstr(out2, "\"btrfs\""));
}

static void test_gdbus(void **state) {
        Harness *h = *state;
        _cleanup_free_ char *addr = address(h, "unix:path="), *out = NULL;
        char *const introspect[] = { (char *) "gdbus", (char *) "introspect", (char *) "--address", addr,
                                     (char *) "--dest", (char *) "org.vsslinux.VSS1", (char *) "--object-path",
                                     (char *) "/org/vsslinux/VSS1", NULL };

        assert_int_equal(run_capture(introspect, &out), 0);
        assert_non_null(strstr(out, "interface org.vsslinux.VSS1.Requester"));
}

static void test_dbus_send_peer(void **state) {
        Harness *h = *state;
        _cleanup_free_ char *peer = address(h, "--peer=unix:path="), *out = NULL;
        char *const call[] = { (char *) "dbus-send", peer, (char *) "--print-reply",
                               (char *) "--dest=org.vsslinux.VSS1", (char *) "/org/vsslinux/VSS1",
                               (char *) "org.vsslinux.VSS1.Admin.ListProviders", NULL };

        int rc = run_capture(call, &out);

        if (rc != 0)
                fprintf(stderr, "dbus-send exited %d: %s\n", rc, out);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "\"btrfs\""));
}

static int setup(void **state) {
        Harness *h = NULL;

        if (harness_new(NULL, &h) < 0)
                return -1;
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_free(*state);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_busctl),
                cmocka_unit_test(test_gdbus),
                cmocka_unit_test(test_dbus_send_peer),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-stock-dbus-tools needs root (Admin calls); skipping\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}

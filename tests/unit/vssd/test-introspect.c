/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-introspect.c: the introspection XML checked in as data/org.vsslinux.VSS1.xml must be
 * exactly what the running vssd returns for /org/vsslinux/VSS1, so the documented interface
 * and the vtables cannot drift apart. Starts the built vssd ($VSSD) on a temporary socket,
 * asks it over a peer-to-peer sd-bus connection, compares byte for byte.
 *
 * `test-introspect --print` prints the daemon's XML instead (to regenerate the file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "vss-bus.h"

static char tmpdir[] = "/tmp/vssd-introspect-XXXXXX";
static pid_t vssd_pid;

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &size, '\0', f) < 0) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

static int start_vssd(char **ret_socket) {
        const char *vssd = getenv("VSSD");
        char *sock, *state;
        struct timespec ts = { 0, 20 * 1000 * 1000 };

        if (!vssd || !mkdtemp(tmpdir))
                return -EINVAL;
        if (asprintf(&sock, "%s/s.sock", tmpdir) < 0 || asprintf(&state, "%s/state", tmpdir) < 0)
                return -ENOMEM;

        vssd_pid = fork();
        if (vssd_pid < 0)
                return -errno;
        if (vssd_pid == 0) {
                execl(vssd, vssd, "--socket", sock, "--state-dir", state, "--test-provider", "--log-level",
                      "warning", (char *) NULL);
                _exit(127);
        }
        free(state);

        for (int i = 0; i < 500; i++) {
                sd_bus *bus = NULL;

                if (vss_bus_connect(sock, &bus) >= 0) {
                        sd_bus_flush_close_unref(bus);
                        *ret_socket = sock;
                        return 0;
                }
                nanosleep(&ts, NULL);
        }
        free(sock);
        return -ETIMEDOUT;
}

static void stop_vssd(void) {
        char cmd[sizeof(tmpdir) + 16];
        int status;

        if (vssd_pid > 0) {
                kill(vssd_pid, SIGTERM);
                waitpid(vssd_pid, &status, 0);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        (void) !system(cmd);
}

static char *introspect(const char *sock) {
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        const char *xml;
        char *copy = NULL;

        if (vss_bus_connect(sock, &bus) < 0)
                return NULL;
        if (sd_bus_call_method(bus, NULL, VSS_BUS_PATH, "org.freedesktop.DBus.Introspectable", "Introspect",
                               &error, &reply, "") >= 0 &&
            sd_bus_message_read(reply, "s", &xml) >= 0)
                copy = strdup(xml);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return copy;
}

static void test_introspection_matches_data(void **state) {
        const char *srcdir = getenv("VSS_TEST_SRCDIR");
        _cleanup_free_ char *sock = NULL, *path = NULL, *expected = NULL, *actual = NULL;

        assert_non_null(srcdir);
        assert_true(asprintf(&path, "%s/data/org.vsslinux.VSS1.xml", srcdir) > 0);
        expected = read_file(path);
        assert_non_null(expected);

        assert_int_equal(start_vssd(&sock), 0);
        actual = introspect(sock);
        stop_vssd();

        assert_non_null(actual);
        if (!streq(actual, expected)) {
                print_error("vssd's introspection differs from %s; regenerate with test-introspect --print\n",
                            path);
                print_error("--- daemon says:\n%s\n", actual);
        }
        assert_string_equal(actual, expected);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_introspection_matches_data),
        };

        if (argc > 1 && streq(argv[1], "--print")) {
                _cleanup_free_ char *sock = NULL, *xml = NULL;

                if (start_vssd(&sock) < 0)
                        return EXIT_FAILURE;
                xml = introspect(sock);
                stop_vssd();
                if (!xml)
                        return EXIT_FAILURE;
                fputs(xml, stdout);
                return EXIT_SUCCESS;
        }

        return cmocka_run_group_tests(tests, NULL, NULL);
}

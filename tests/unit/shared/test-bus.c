/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus: HRESULT <-> D-Bus error mapping both ways, the socket path rule, and
 * vss_bus_connect against a real peer-to-peer server (short and over-long socket paths,
 * missing socket).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-id128.h>

#include "config.h"
#include "macro.h"
#include "vss-bus.h"

static void test_error_names(void **state) {
        _cleanup_(sd_bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = vss_hr_to_bus_error(&e, VSS_E_BAD_STATE, NULL);
        assert_true(r < 0);
        assert_string_equal(e.name, VSS_BUS_ERROR_PREFIX "VSS_E_BAD_STATE");
        assert_string_equal(e.message, vss_hr_message(VSS_E_BAD_STATE));
        assert_int_equal(vss_hr_from_bus_error(&e, r), VSS_E_BAD_STATE);
        sd_bus_error_free(&e);

        r = vss_hr_to_bus_error(&e, E_ACCESSDENIED, "uid %d is not allowed", 1000);
        assert_true(r < 0);
        assert_string_equal(e.name, VSS_BUS_ERROR_PREFIX "E_ACCESSDENIED");
        assert_string_equal(e.message, "uid 1000 is not allowed");
        assert_int_equal(vss_hr_from_bus_error(&e, r), E_ACCESSDENIED);
        sd_bus_error_free(&e);

        /* A code outside the table still travels exactly. */
        r = vss_hr_to_bus_error(&e, VSS_HRESULT(0x8004DEADu), NULL);
        assert_true(r < 0);
        assert_string_equal(e.name, VSS_BUS_ERROR_PREFIX "HR_0x8004DEAD");
        assert_int_equal((uint32_t) vss_hr_from_bus_error(&e, r), 0x8004DEADu);
}

static void test_error_fallbacks(void **state) {
        sd_bus_error e = SD_BUS_ERROR_NULL;

        assert_int_equal(vss_hr_from_bus_error(NULL, -ECONNRESET), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_hr_from_bus_error(NULL, -ENOTCONN), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_hr_from_bus_error(NULL, -EPIPE), VSS_E_WRITER_INFRASTRUCTURE);
        assert_int_equal(vss_hr_from_bus_error(NULL, -ETIMEDOUT), VSS_E_UNEXPECTED);
        assert_int_equal(vss_hr_from_bus_error(NULL, -EIO), VSS_E_UNEXPECTED);

        e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_DISCONNECTED, "gone");
        assert_int_equal(vss_hr_from_bus_error(&e, -EIO), VSS_E_WRITER_INFRASTRUCTURE);
        e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_REPLY, "Connection terminated");
        assert_int_equal(vss_hr_from_bus_error(&e, -ETIMEDOUT), VSS_E_WRITER_INFRASTRUCTURE);
        e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_REPLY, "Method call timed out");
        assert_int_equal(vss_hr_from_bus_error(&e, -ETIMEDOUT), VSS_E_UNEXPECTED);
        e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_UNKNOWN_METHOD, "no");
        assert_int_equal(vss_hr_from_bus_error(&e, -EBADR), VSS_E_UNEXPECTED);
        /* Malformed VSS names do not map to a code. */
        e = SD_BUS_ERROR_MAKE_CONST(VSS_BUS_ERROR_PREFIX "HR_0x1234", "x");
        assert_int_equal(vss_hr_from_bus_error(&e, -EIO), VSS_E_UNEXPECTED);
        e = SD_BUS_ERROR_MAKE_CONST(VSS_BUS_ERROR_PREFIX "VSS_E_NOPE", "x");
        assert_int_equal(vss_hr_from_bus_error(&e, -EIO), VSS_E_UNEXPECTED);
}

static void test_socket_path(void **state) {
        assert_int_equal(setenv("VSS_SOCKET", "/tmp/from-env.sock", 1), 0);
        assert_string_equal(vss_socket_path("/x/explicit.sock"), "/x/explicit.sock");
        assert_string_equal(vss_socket_path(NULL), "/tmp/from-env.sock");
        assert_int_equal(setenv("VSS_SOCKET", "", 1), 0);
        assert_string_equal(vss_socket_path(""), VSS_DEFAULT_SOCKET);
        assert_int_equal(unsetenv("VSS_SOCKET"), 0);
        assert_string_equal(vss_socket_path(NULL), VSS_DEFAULT_SOCKET);
}

static void test_connect_missing(void **state) {
        sd_bus *bus = NULL;
        char dir[] = "/tmp/test-bus-XXXXXX", path[PATH_MAX];

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/nothing.sock", dir);
        assert_int_equal(vss_bus_connect(path, &bus), -ENOENT);
        assert_null(bus);
        assert_int_equal(vss_bus_connect("", &bus), -EINVAL);
        assert_int_equal(rmdir(dir), 0);
}

/* ---- a small server on a listening socket, run in a thread ---- */

static int method_fail(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        uint32_t code;
        int r;

        r = sd_bus_message_read(m, "u", &code);
        if (r < 0)
                return r;
        return vss_hr_to_bus_error(error, VSS_HRESULT(code), NULL);
}

static int method_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", s);
}

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Fail", "u", "", method_fail, 0),
        SD_BUS_METHOD("Echo", "s", "s", method_echo, 0),
        SD_BUS_VTABLE_END,
};

static void *serve_one(void *arg) {
        int listen_fd = *(int *) arg, fd;
        sd_bus *bus = NULL;
        sd_id128_t id;

        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return NULL;

        if (sd_bus_new(&bus) < 0 || sd_id128_randomize(&id) < 0 || sd_bus_set_server(bus, 1, id) < 0 ||
            sd_bus_set_fd(bus, fd, fd) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, test_vtable, NULL) < 0 ||
            sd_bus_start(bus) < 0) {
                sd_bus_unref(bus);
                return NULL;
        }

        for (;;) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0 || !sd_bus_is_open(bus))
                        break;
                if (r == 0)
                        (void) sd_bus_wait(bus, UINT64_MAX);
        }
        sd_bus_flush_close_unref(bus);
        return NULL;
}

static void exchange_at(const char *path) {
        _cleanup_(sd_bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int listen_fd = -EBADF;
        sd_bus *bus = NULL;
        pthread_t t;
        const char *s;
        int r;

        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(listen_fd >= 0);
        if (strlen(path) < sizeof(sa.sun_path)) {
                strcpy(sa.sun_path, path);
                assert_int_equal(bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        } else {
                /* Bind the long path the same way the client reaches it. */
                _cleanup_free_ char *dir = strndup(path, strrchr(path, '/') - path);
                _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

                assert_true(dfd >= 0);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, strrchr(path, '/') + 1);
                assert_int_equal(bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        }
        assert_int_equal(listen(listen_fd, 4), 0);
        assert_int_equal(pthread_create(&t, NULL, serve_one, &listen_fd), 0);

        r = vss_bus_connect(path, &bus);
        assert_int_equal(r, 0);

        r = sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, "Echo", &e, &reply, "s", "hello");
        assert_int_equal(r, 1);
        assert_int_equal(sd_bus_message_read(reply, "s", &s), 1);
        assert_string_equal(s, "hello");

        r = sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, "Fail", &e, NULL, "u",
                               (uint32_t) VSS_E_SNAPSHOT_SET_IN_PROGRESS);
        assert_true(r < 0);
        assert_int_equal(vss_hr_from_bus_error(&e, r), VSS_E_SNAPSHOT_SET_IN_PROGRESS);
        sd_bus_error_free(&e);

        r = sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, "Fail", &e, NULL, "u",
                               (uint32_t) 0x8004DEADu);
        assert_true(r < 0);
        assert_int_equal((uint32_t) vss_hr_from_bus_error(&e, r), 0x8004DEADu);

        sd_bus_flush_close_unref(bus);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(unlink(path), 0);
}

static void test_connect_and_exchange(void **state) {
        char dir[] = "/tmp/test-bus-XXXXXX", path[PATH_MAX];

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/vssd.sock", dir);
        exchange_at(path);
        assert_int_equal(rmdir(dir), 0);
}

static void test_connect_long_path(void **state) {
        char dir[] = "/tmp/test-bus-XXXXXX", sub[256], path[PATH_MAX];

        /* Longer than sun_path (108): the client must go through the directory's fd. */
        assert_non_null(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/%0120d", dir, 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(path, sizeof(path), "%s/vssd with spaces,and=chars.sock", sub);
        assert_true(strlen(path) > sizeof(((struct sockaddr_un *) NULL)->sun_path));
        exchange_at(path);
        assert_int_equal(rmdir(sub), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_names),
                cmocka_unit_test(test_error_fallbacks),
                cmocka_unit_test(test_socket_path),
                cmocka_unit_test(test_connect_missing),
                cmocka_unit_test(test_connect_and_exchange),
                cmocka_unit_test(test_connect_long_path),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

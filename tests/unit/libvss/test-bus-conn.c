/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-conn: libvss's synchronous call over a connection whose I/O thread runs
 * (bus_conn_call), against a peer-to-peer sd-bus server on a thread of the test: a reply
 * comes back, and a call the server never answers fails at its own deadline. The caller does
 * not wake the I/O thread for every call; the deadline is then the caller's to watch, and
 * this test is what shows it still ends the call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "bus-conn.h"
#include "macro.h"
#include "vss-bus.h"

static int method_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", s);
}

/* Takes the call and never answers it. */
static int method_hold(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return 1;
}

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "s", "s", method_echo, 0),
        SD_BUS_METHOD("Hold", "", "", method_hold, 0),
        SD_BUS_VTABLE_END,
};

static void *serve(void *arg) {
        sd_bus *bus = arg;

        for (;;) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0 || !sd_bus_is_open(bus))
                        break;
                if (r == 0)
                        (void) sd_bus_wait(bus, UINT64_MAX);
        }
        return NULL;
}

typedef struct Pair {
        sd_bus *server;
        pthread_t thread;
        BusConn *conn;
} Pair;

static void pair_open(Pair *p) {
        sd_bus *client = NULL;
        sd_id128_t id;
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(sd_bus_new(&p->server), 0);
        assert_int_equal(sd_id128_randomize(&id), 0);
        assert_true(sd_bus_set_server(p->server, 1, id) >= 0);
        assert_true(sd_bus_set_fd(p->server, fds[0], fds[0]) >= 0);
        assert_true(sd_bus_add_object_vtable(p->server, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, test_vtable,
                                             NULL) >= 0);
        assert_true(sd_bus_start(p->server) >= 0);
        assert_int_equal(pthread_create(&p->thread, NULL, serve, p->server), 0);

        assert_int_equal(sd_bus_new(&client), 0);
        assert_true(sd_bus_set_fd(client, fds[1], fds[1]) >= 0);
        assert_true(sd_bus_start(client) >= 0);
        assert_int_equal(bus_conn_new(client, NULL, NULL, &p->conn), 0);
        assert_int_equal(bus_conn_start(p->conn), 0);
}

static void pair_close(Pair *p) {
        p->conn = bus_conn_unref(p->conn);
        /* Our end is closed: the server thread sees it and returns. */
        assert_int_equal(pthread_join(p->thread, NULL), 0);
        p->server = sd_bus_flush_close_unref(p->server);
}

static int call(Pair *p, const char *member, uint64_t timeout_usec, sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        bus_conn_lock(p->conn);
        r = sd_bus_message_new_method_call(bus_conn_get_bus(p->conn), &m, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER,
                                           member);
        if (r >= 0 && streq(member, "Echo"))
                r = sd_bus_message_append(m, "s", "hello");
        if (r >= 0)
                r = bus_conn_call(p->conn, m, timeout_usec, error, ret);
        bus_conn_unlock(p->conn);
        return r;
}

static void test_reply(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *s;
        Pair p = {};

        pair_open(&p);
        for (unsigned i = 0; i < 100; i++) {
                assert_int_equal(call(&p, "Echo", 10 * USEC_PER_SEC, &error, &reply), 0);
                bus_conn_lock(p.conn);
                assert_int_equal(sd_bus_message_read(reply, "s", &s), 1);
                assert_string_equal(s, "hello");
                reply = sd_bus_message_unref(reply);
                bus_conn_unlock(p.conn);
        }
        pair_close(&p);
}

static void test_deadline(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0, took;
        Pair p = {};

        pair_open(&p);
        t0 = now_usec();
        assert_true(call(&p, "Hold", 300 * USEC_PER_MSEC, &error, &reply) < 0);
        took = now_usec() - t0;
        assert_null(reply);
        assert_true(sd_bus_error_has_name(&error, SD_BUS_ERROR_NO_REPLY));
        /* At its deadline, not before, and not at the next unrelated event (there is none). */
        assert_true(took >= 300 * USEC_PER_MSEC);
        assert_true(took < 10 * USEC_PER_SEC);

        /* The connection still works afterwards. */
        sd_bus_error_free(&error);
        assert_int_equal(call(&p, "Echo", 10 * USEC_PER_SEC, &error, &reply), 0);
        bus_conn_lock(p.conn);
        reply = sd_bus_message_unref(reply);
        bus_conn_unlock(p.conn);
        pair_close(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reply),
                cmocka_unit_test(test_deadline),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

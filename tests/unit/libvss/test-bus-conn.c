/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-conn: libvss's synchronous call over a connection whose I/O thread runs
 * (bus_conn_call), against a peer-to-peer sd-bus server on a thread of the test: a reply
 * comes back, and a call the server never answers fails at its own deadline. The caller does
 * not wake the I/O thread for every call; the deadline is then the caller's to watch, and
 * this test is what shows it still ends the call.
 *
 * The same on a direct connection (bus_conn_set_direct), where the caller reads its reply
 * itself while the I/O thread is parked, and what that must keep: a call from a second thread
 * whose reply frees the first (as IVssAsync::Cancel does), an incoming method call while a
 * caller leads (dispatched by the leader, answered), a hang-up while leading and while nobody
 * calls, a close from another thread while a caller leads, and a reply nobody waits for in a
 * call (bus_conn_expect_locked: the I/O thread reads it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
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

/* Server thread only: the last call Hold took. */
static sd_bus_message *held;

/* Takes the call and answers it only when Release comes. */
static int method_hold(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message_unref(held);
        __atomic_store_n(&held, sd_bus_message_ref(m), __ATOMIC_SEQ_CST);
        return 1;
}

/* Answers the held call first, then this one. */
static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        int r;

        if (held) {
                r = sd_bus_reply_method_return(held, "");
                sd_bus_message_unref(held);
                __atomic_store_n(&held, NULL, __ATOMIC_SEQ_CST);
                if (r < 0)
                        return r;
        }
        return sd_bus_reply_method_return(m, "");
}

static unsigned event_replies;  /* server thread writes, read after the call that caused it */

static int event_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        if (!sd_bus_message_is_method_error(m, NULL))
                __atomic_add_fetch(&event_replies, 1, __ATOMIC_SEQ_CST);
        return 0;
}

/* Sends the client an Event call (as vssd sends a writer its events), then answers. */
static int method_ping(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        int r;

        r = sd_bus_call_method_async(sd_bus_message_get_bus(m), NULL, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER,
                                     "Event", event_reply, NULL, "");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "");
}

/* Hangs up without an answer. */
static int method_die(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_close(sd_bus_message_get_bus(m));
        return 1;
}

/* Answers, then hangs up. */
static int method_bye(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        int r = sd_bus_reply_method_return(m, "");

        (void) sd_bus_flush(sd_bus_message_get_bus(m));
        sd_bus_close(sd_bus_message_get_bus(m));
        return r;
}

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Echo", "s", "s", method_echo, 0),
        SD_BUS_METHOD("Hold", "", "", method_hold, 0),
        SD_BUS_METHOD("Release", "", "", method_release, 0),
        SD_BUS_METHOD("Ping", "", "", method_ping, 0),
        SD_BUS_METHOD("Die", "", "", method_die, 0),
        SD_BUS_METHOD("Bye", "", "", method_bye, 0),
        SD_BUS_VTABLE_END,
};

/* The client side: what handled the server's Event, on which thread. */
typedef struct Client {
        unsigned events;
        pthread_t event_thread;
        unsigned disconnects;
} Client;

static int client_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *cl = userdata;

        /* Dispatching thread, lock held. */
        cl->events++;
        cl->event_thread = pthread_self();
        return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable client_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Event", "", "", client_event, 0),
        SD_BUS_VTABLE_END,
};

static void client_disconnect(BusConn *c, void *userdata) {
        Client *cl = userdata;

        cl->disconnects++;
}

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
        Client client;
} Pair;

static void pair_open_full(Pair *p, bool direct) {
        sd_bus *client = NULL;
        sd_id128_t id;
        int fds[2];

        /* A call an earlier server held died with it. */
        held = sd_bus_message_unref(held);
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
        assert_true(sd_bus_add_object_vtable(client, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, client_vtable,
                                             &p->client) >= 0);
        assert_true(sd_bus_start(client) >= 0);
        assert_int_equal(bus_conn_new(client, client_disconnect, &p->client, &p->conn), 0);
        if (direct)
                assert_int_equal(bus_conn_set_direct(p->conn), 0);
        assert_int_equal(bus_conn_start(p->conn), 0);
}

/* The first tests run on both kinds of connection; state says which. */
static void pair_open(Pair *p, void **state) {
        pair_open_full(p, state && *state);
}

static void pair_close(Pair *p) {
        p->conn = bus_conn_unref(p->conn);
        /* Our end is closed: the server thread sees it and returns. */
        assert_int_equal(pthread_join(p->thread, NULL), 0);
        p->server = sd_bus_flush_close_unref(p->server);
}

static int call(Pair *p, const char *member, uint64_t timeout_usec, sd_bus_error *error, sd_bus_message **ret) {
        int r;

        bus_conn_lock(p->conn);
        {
                /* Dropped before the lock is: a message holds a reference on the bus, whose
                 * counter other threads change under the lock. */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(bus_conn_get_bus(p->conn), &m, NULL, VSS_BUS_PATH,
                                                   VSS_BUS_IFACE_REQUESTER, member);
                if (r >= 0 && streq(member, "Echo"))
                        r = sd_bus_message_append(m, "s", "hello");
                if (r >= 0)
                        r = bus_conn_call(p->conn, m, timeout_usec, error, ret);
        }
        bus_conn_unlock(p->conn);
        return r;
}

static void test_reply(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *s;
        Pair p = {};

        pair_open(&p, state);
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

        pair_open(&p, state);
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

static int set_direct(void **state) {
        *state = (void *) 1;
        return 0;
}

typedef struct Caller {
        Pair *pair;
        const char *member;
        uint64_t timeout_usec;
        int r;
        char error_name[128];
} Caller;

static void *caller_thread(void *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        Caller *c = arg;

        c->r = call(c->pair, c->member, c->timeout_usec, &error, &reply);
        bus_conn_lock(c->pair->conn);
        reply = sd_bus_message_unref(reply);
        bus_conn_unlock(c->pair->conn);
        (void) snprintf(c->error_name, sizeof(c->error_name), "%s", error.name ?: "");
        return NULL;
}

/* Wait until the server has taken a Hold (its thread is the one that set it). */
static void wait_held(void) {
        for (unsigned i = 0; i < 5000 && !__atomic_load_n(&held, __ATOMIC_SEQ_CST); i++)
                (void) usleep(1000);
        assert_non_null(__atomic_load_n(&held, __ATOMIC_SEQ_CST));
}

/* One thread waits for a reply that only a second thread's call brings about (Cancel's case):
 * both calls end, whichever thread reads the socket. Repeated to vary the interleaving. */
static void test_second_caller_frees_first(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        Pair p = {};

        pair_open_full(&p, true);
        for (unsigned i = 0; i < 50; i++) {
                Caller first = { .pair = &p, .member = "Hold", .timeout_usec = 10 * USEC_PER_SEC };
                pthread_t t;

                assert_int_equal(pthread_create(&t, NULL, caller_thread, &first), 0);
                wait_held();
                if (i % 2)
                        (void) usleep(200);
                assert_int_equal(call(&p, "Release", 10 * USEC_PER_SEC, &error, &reply), 0);
                bus_conn_lock(p.conn);
                reply = sd_bus_message_unref(reply);
                bus_conn_unlock(p.conn);
                assert_int_equal(pthread_join(t, NULL), 0);
                assert_int_equal(first.r, 0);
                assert_null(__atomic_load_n(&held, __ATOMIC_SEQ_CST));
        }
        pair_close(&p);
}

/* An incoming method call arriving while a caller leads is dispatched by that caller, as the
 * I/O thread would, and answered. */
static void test_incoming_call_while_leading(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        Pair p = {};

        __atomic_store_n(&event_replies, 0, __ATOMIC_SEQ_CST);
        pair_open_full(&p, true);
        for (unsigned i = 0; i < 20; i++) {
                assert_int_equal(call(&p, "Ping", 10 * USEC_PER_SEC, &error, &reply), 0);
                bus_conn_lock(p.conn);
                reply = sd_bus_message_unref(reply);
                /* Sent before the Ping's reply, so read before it: by the caller itself. */
                assert_int_equal(p.client.events, i + 1);
                assert_true(pthread_equal(p.client.event_thread, pthread_self()));
                bus_conn_unlock(p.conn);
        }
        /* Every Event was answered: the server saw the answers (one more round trip flushes). */
        assert_int_equal(call(&p, "Echo", 10 * USEC_PER_SEC, &error, &reply), 0);
        bus_conn_lock(p.conn);
        reply = sd_bus_message_unref(reply);
        bus_conn_unlock(p.conn);
        assert_int_equal(__atomic_load_n(&event_replies, __ATOMIC_SEQ_CST), 20);
        pair_close(&p);
}

/* The peer hangs up while a caller leads: the call fails as disconnected, the connection is
 * dead, the owner hears of it once. */
static void test_hangup_while_leading(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        Pair p = {};

        pair_open_full(&p, true);
        assert_true(call(&p, "Die", 10 * USEC_PER_SEC, &error, &reply) < 0);
        assert_null(reply);
        bus_conn_lock(p.conn);
        assert_true(bus_conn_is_dead(p.conn));
        assert_int_equal(p.client.disconnects, 1);
        bus_conn_unlock(p.conn);

        /* Later calls fail at once. */
        sd_bus_error_free(&error);
        assert_true(call(&p, "Echo", 10 * USEC_PER_SEC, &error, &reply) < 0);
        assert_true(sd_bus_error_has_name(&error, SD_BUS_ERROR_DISCONNECTED));
        pair_close(&p);
}

/* The peer hangs up while nobody calls: the parked I/O thread still notices. */
static void test_hangup_while_parked(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t deadline;
        Pair p = {};

        pair_open_full(&p, true);
        assert_int_equal(call(&p, "Bye", 10 * USEC_PER_SEC, &error, &reply), 0);
        deadline = now_usec() + 10 * USEC_PER_SEC;
        bus_conn_lock(p.conn);
        reply = sd_bus_message_unref(reply);
        while (!bus_conn_is_dead(p.conn) && now_usec() < deadline)
                (void) bus_conn_wait(p.conn, deadline);
        assert_true(bus_conn_is_dead(p.conn));
        assert_int_equal(p.client.disconnects, 1);
        bus_conn_unlock(p.conn);
        pair_close(&p);
}

/* The owner closes the connection while another thread leads: that call ends as
 * disconnected and the close returns. */
static void test_close_while_leading(void **state) {
        Pair p = {};

        for (unsigned i = 0; i < 10; i++) {
                Caller c = { .pair = &p, .member = "Hold", .timeout_usec = UINT64_MAX };
                pthread_t t;

                pair_open_full(&p, true);
                assert_int_equal(pthread_create(&t, NULL, caller_thread, &c), 0);
                wait_held();
                if (i % 2)
                        (void) usleep(500);
                bus_conn_close(p.conn);
                assert_int_equal(pthread_join(t, NULL), 0);
                assert_true(c.r < 0);
                assert_string_equal(c.error_name, SD_BUS_ERROR_DISCONNECTED);
                /* A close asked for is no loss. */
                assert_int_equal(p.client.disconnects, 0);
                pair_close(&p);
                held = sd_bus_message_unref(held);      /* the server thread has ended */
        }
}

typedef struct Expected {
        BusConn *conn;
        bool done;
} Expected;

static int expected_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Expected *e = userdata;

        bus_conn_expect_done_locked(e->conn);
        e->done = true;
        bus_conn_broadcast(e->conn);
        return 0;
}

/* A reply nobody waits for in a call is read by the I/O thread, and afterwards callers lead
 * again. */
static void test_expected_reply(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t deadline;
        Pair p = {};

        pair_open_full(&p, true);
        for (unsigned i = 0; i < 20; i++) {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
                Expected e = { .conn = p.conn };

                bus_conn_lock(p.conn);
                assert_true(sd_bus_call_method_async(bus_conn_get_bus(p.conn), &slot, NULL, VSS_BUS_PATH,
                                                     VSS_BUS_IFACE_REQUESTER, "Echo", expected_reply, &e, "s",
                                                     "x") >= 0);
                bus_conn_expect_locked(p.conn);
                deadline = now_usec() + 10 * USEC_PER_SEC;
                while (!e.done && now_usec() < deadline)
                        (void) bus_conn_wait(p.conn, deadline);
                assert_true(e.done);
                slot = sd_bus_slot_unref(slot);
                bus_conn_unlock(p.conn);

                assert_int_equal(call(&p, "Ping", 10 * USEC_PER_SEC, &error, &reply), 0);
                bus_conn_lock(p.conn);
                reply = sd_bus_message_unref(reply);
                bus_conn_unlock(p.conn);
        }
        pair_close(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reply),
                cmocka_unit_test(test_deadline),
                cmocka_unit_test_setup(test_reply, set_direct),
                cmocka_unit_test_setup(test_deadline, set_direct),
                cmocka_unit_test(test_second_caller_frees_first),
                cmocka_unit_test(test_incoming_call_while_leading),
                cmocka_unit_test(test_hangup_while_leading),
                cmocka_unit_test(test_hangup_while_parked),
                cmocka_unit_test(test_close_while_leading),
                cmocka_unit_test(test_expected_reply),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

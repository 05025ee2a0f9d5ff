/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-conn.h: one libvss connection to vssd, usable from any thread.
 *
 * sd-bus objects are not thread-safe, while VSS callers use several threads (a requester
 * waits on a vss_async from one thread while another cancels it; a writer's callbacks run on
 * a thread of their own). A BusConn therefore owns the sd_bus together with the one mutex
 * that guards every access to it, and an I/O thread that is the only one to poll and
 * dispatch. Other threads build and send messages with the mutex held and wake the I/O
 * thread through an eventfd. Reply callbacks and incoming method handlers run on the I/O
 * thread with the mutex held, so they must never block: they record results and signal.
 *
 * The condition variable of the BusConn is broadcast whenever the I/O thread has dispatched
 * something or the connection died; every waiter re-checks its own predicate.
 *
 * A direct connection (bus_conn_set_direct) spares the hand-off for synchronous calls: its
 * I/O thread polls for input only while a reply is expected that no caller waits for in
 * bus_conn_call() (bus_conn_expect_locked), and otherwise "parks", watching for a hang-up
 * only. A thread in bus_conn_call() that finds it parked leads: it polls and dispatches the
 * connection itself, reply callbacks, method handlers and the disconnect callback included,
 * with the same lock, until its reply is in. "The I/O thread" below means whichever thread
 * dispatches. Unsolicited messages on a direct connection wait, unread, for the next call.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "vss/vss-common.h"
#include "time-util.h"

typedef struct BusConn BusConn;

/*
 * Called once, on the I/O thread (or a caller leading a direct connection) with the lock
 * held, when the connection to vssd is lost
 * (peer closed, I/O error). Not called for a close the owner asked for.
 */
typedef void (*bus_conn_disconnect_t)(BusConn *c, void *userdata);

/*
 * Called on the I/O thread WITHOUT the lock, each time it has dispatched everything and is
 * about to poll. Returns true when it did something (sent a message, ran a callback): the
 * I/O thread then dispatches again before it polls. While the hook runs nobody polls the
 * connection, unless another thread serves it with bus_conn_serve().
 */
typedef bool (*bus_conn_idle_t)(BusConn *c, void *userdata);

/*
 * bus_conn_new: wrap a started client bus. Takes ownership of bus (also on failure). The I/O
 * thread is not running yet, so the caller may still add object vtables without locking;
 * bus_conn_start() starts it. Returns 0 or negative errno.
 */
int bus_conn_new(sd_bus *bus, bus_conn_disconnect_t on_disconnect, void *userdata, BusConn **ret);

/*
 * bus_conn_open: connect to vssd at socket_path (NULL: $VSS_SOCKET, else the default) and
 * wrap the bus with bus_conn_new(). The I/O thread is not started.
 * Returns S_OK; E_ACCESSDENIED (the socket refused us); E_OUTOFMEMORY;
 * VSS_E_WRITER_INFRASTRUCTURE (vssd not reachable).
 */
vss_hr bus_conn_open(const char *socket_path, bus_conn_disconnect_t on_disconnect, void *userdata,
                     BusConn **ret);

/* bus_conn_set_idle: install the idle hook; only before bus_conn_start(). */
void bus_conn_set_idle(BusConn *c, bus_conn_idle_t on_idle, void *userdata);

/*
 * bus_conn_set_direct: make c direct (see the top of this file); only before bus_conn_start(),
 * and not together with an idle hook: a writer's connection, whose events may come at any
 * time, keeps its I/O thread polling. Returns 0 or negative errno.
 */
int bus_conn_set_direct(BusConn *c);

/*
 * bus_conn_expect_locked: a reply to a call sent with sd_bus_call_async() is expected and
 * nobody will wait for it in bus_conn_call(): the I/O thread of a direct connection polls for
 * input until as many bus_conn_expect_done_locked() calls (from the reply callback, or when
 * the call is dropped unanswered). No-ops on a connection that is not direct. Lock held.
 */
void bus_conn_expect_locked(BusConn *c);
void bus_conn_expect_done_locked(BusConn *c);

/* bus_conn_is_io_thread: the calling thread is c's I/O thread. */
bool bus_conn_is_io_thread(BusConn *c);

/*
 * bus_conn_serve: poll and dispatch c from the calling thread as its I/O thread does (the
 * disconnect callback included), until stop_fd is readable (not drained here): returns true;
 * or until the connection is dead or being closed: returns false. For a thread standing in
 * while the I/O thread is busy in its idle hook; both may serve for a moment, dispatching
 * under the lock. Not from the I/O thread, and without the lock held.
 */
bool bus_conn_serve(BusConn *c, int stop_fd);

/* bus_conn_start: start the I/O thread. Returns 0 or negative errno. */
int bus_conn_start(BusConn *c);

/* Reference counting; bus_conn_unref frees on the last reference and returns NULL. */
BusConn *bus_conn_ref(BusConn *c);
BusConn *bus_conn_unref(BusConn *c);

/*
 * bus_conn_close: stop the I/O thread, flush what is queued (unless the peer is already gone)
 * and close the connection. Afterwards the BusConn is "dead": waiters wake up, new calls fail
 * with -ENOTCONN. Idempotent. Must not be called from the I/O thread or with the lock held.
 */
void bus_conn_close(BusConn *c);

/* The sd_bus, for use with the lock held only. */
sd_bus *bus_conn_get_bus(BusConn *c);

void bus_conn_lock(BusConn *c);
/* bus_conn_unlock: unlock, and wake the I/O thread if what it polls for changed under the
 * lock (output queued, a nearer timeout, a failure); it then re-reads what to poll for. */
void bus_conn_unlock(BusConn *c);

/* bus_conn_is_dead: the connection is closed or lost. Call with the lock held. */
bool bus_conn_is_dead(BusConn *c);

/*
 * bus_conn_wait: wait on the connection's condition variable (lock held) until signalled or
 * until the absolute CLOCK_MONOTONIC time deadline_usec (UINT64_MAX: no limit). Returns
 * true if woken before the deadline. Callers loop on their own predicate.
 */
bool bus_conn_wait(BusConn *c, uint64_t deadline_usec);

/* bus_conn_broadcast: wake every bus_conn_wait()er. Call with the lock held. */
void bus_conn_broadcast(BusConn *c);

/*
 * bus_conn_call: send method call m and wait for its reply, with the lock held (it is
 * released while waiting). On a direct connection the caller may dispatch the connection
 * meanwhile (see the top of this file), so a caller must not hold other locks that reply
 * callbacks or method handlers take. timeout_usec as sd_bus_call_async (UINT64_MAX: none).
 * Returns 0 and *ret_reply (a method return) or a negative errno with *ret_error filled
 * (a D-Bus error reply, a timeout, or a lost connection). *ret_reply must be unreferenced
 * with the lock still held.
 */
int bus_conn_call(BusConn *c, sd_bus_message *m, uint64_t timeout_usec, sd_bus_error *ret_error,
                  sd_bus_message **ret_reply);


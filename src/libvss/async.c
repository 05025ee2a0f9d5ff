/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * async.c: IVssAsync. A vss_async is the client end of one deferred D-Bus call: vssd replies
 * only when the operation has ended, and the reply callback (I/O thread) turns that reply into
 * the async's result and wakes the waiters.
 *
 * The object is reference counted and holds its own reference on the connection, so it stays
 * usable after vss_requester_release(): the release closes the connection, and an operation
 * that had not ended by then reports VSS_E_UNEXPECTED, as the header promises.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "requester-internal.h"
#include "vss-bus.h"

vss_async *async_new(BusConn *conn, vss_requester *r, AsyncKind kind) {
        vss_async *a;

        assert(conn);

        a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->n_ref = 1;
        a->conn = bus_conn_ref(conn);
        a->requester = r;
        a->kind = kind;
        a->result = VSS_S_ASYNC_PENDING;
        return a;
}

void async_expect_locked(vss_async *a) {
        assert(a);
        assert(!a->expected);
        bus_conn_expect_locked(a->conn);
        a->expected = true;
}

void async_unexpect_locked(vss_async *a) {
        assert(a);
        if (!a->expected)
                return;
        bus_conn_expect_done_locked(a->conn);
        a->expected = false;
}

vss_async *async_ref(vss_async *a) {
        if (a)
                __atomic_add_fetch(&a->n_ref, 1, __ATOMIC_SEQ_CST);
        return a;
}

void vss_async_release(vss_async *a) {
        if (!a)
                return;
        if (__atomic_sub_fetch(&a->n_ref, 1, __ATOMIC_SEQ_CST) > 0)
                return;

        /* The slot belongs to the bus: drop it under the lock, so a reply being dispatched
         * right now cannot race with us. */
        bus_conn_lock(a->conn);
        async_unexpect_locked(a);
        a->slot = sd_bus_slot_unref(a->slot);
        bus_conn_unlock(a->conn);
        bus_conn_unref(a->conn);
        free(a);
}

/* The result of a failed deferred call, as IVssAsync reports it. */
static vss_hr async_hr_from_reply_error(sd_bus_message *m) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (sd_bus_error_has_name(e, VSS_BUS_ERROR_PREFIX "VSS_S_ASYNC_CANCELLED"))
                return VSS_S_ASYNC_CANCELLED;

        /* Only vssd's own errors carry an operation's result. Anything else (no reply because
         * the connection broke, a transport error) means the operation's fate is unknown. */
        if (!e || !e->name || strncmp(e->name, VSS_BUS_ERROR_PREFIX, strlen(VSS_BUS_ERROR_PREFIX)) != 0)
                return VSS_E_UNEXPECTED;

        return vss_hr_from_bus_error(e, -sd_bus_message_get_errno(m));
}

int async_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        vss_async *a = userdata;
        vss_hr hr;

        /* I/O thread, lock held: record and signal, never block. */
        async_unexpect_locked(a);
        if (sd_bus_message_is_method_error(m, NULL)) {
                hr = async_hr_from_reply_error(m);
                if (a->requester && hr != VSS_S_ASYNC_CANCELLED) {
                        const sd_bus_error *e = sd_bus_message_get_error(m);
                        (void) requester_set_error_locked(a->requester, hr, e ? e->message : NULL);
                }
        } else if (a->requester)
                hr = requester_store_reply_locked(a->requester, a->kind, m);
        else
                hr = S_OK;

        a->result = hr;
        a->ended = true;
        bus_conn_broadcast(a->conn);
        return 0;
}

void async_refresh_locked(vss_async *a) {
        assert(a);

        if (a->ended || !bus_conn_is_dead(a->conn))
                return;
        a->result = VSS_E_UNEXPECTED;
        a->ended = true;
}

/* The IVssAsync status of an ended operation. */
static vss_hr async_status(const vss_async *a) {
        return a->result == S_OK ? VSS_S_ASYNC_FINISHED : a->result;
}

vss_hr vss_async_wait(vss_async *a, uint32_t timeout_ms) {
        uint64_t deadline;
        vss_hr hr;

        if (!a)
                return E_INVALIDARG;

        deadline = timeout_ms == VSS_INFINITE ? UINT64_MAX : now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        bus_conn_lock(a->conn);
        for (;;) {
                async_refresh_locked(a);
                if (a->ended) {
                        hr = S_OK;
                        break;
                }
                if (!bus_conn_wait(a->conn, deadline) && now_usec() >= deadline) {
                        async_refresh_locked(a);
                        hr = a->ended ? S_OK : VSS_S_ASYNC_PENDING;
                        break;
                }
        }
        bus_conn_unlock(a->conn);
        return hr;
}

vss_hr vss_async_query_status(vss_async *a, vss_hr *ret_hr_result) {
        if (!a || !ret_hr_result)
                return E_INVALIDARG;

        bus_conn_lock(a->conn);
        async_refresh_locked(a);
        *ret_hr_result = a->ended ? async_status(a) : VSS_S_ASYNC_PENDING;
        bus_conn_unlock(a->conn);
        return S_OK;
}

vss_hr vss_async_wait_result(vss_async *a) {
        vss_hr hr, status;

        hr = vss_async_wait(a, VSS_INFINITE);
        if (hr != S_OK)
                return hr;      /* E_INVALIDARG: with no timeout the wait cannot be pending */
        hr = vss_async_query_status(a, &status);
        if (hr != S_OK)
                return hr;
        return status == VSS_S_ASYNC_FINISHED ? S_OK : status;
}

/* Lock held. Ask vssd to cancel the connection's deferred operation. */
static void async_send_cancel_locked(vss_async *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(bus_conn_get_bus(a->conn), &m, NULL, VSS_BUS_PATH,
                                           VSS_BUS_IFACE_REQUESTER, "Cancel");
        if (r < 0)
                return;

        /* Every answer is fine: VSS_E_BAD_STATE means the operation's reply is already on its
         * way; a broken connection ends the operation as VSS_E_UNEXPECTED below. The truth is
         * the operation's own reply, which the caller waits for. */
        (void) bus_conn_call(a->conn, m, LIBVSS_CALL_TIMEOUT_USEC, &error, &reply);
}

vss_hr vss_async_cancel(vss_async *a) {
        vss_hr hr;

        if (!a)
                return E_INVALIDARG;

        bus_conn_lock(a->conn);
        async_refresh_locked(a);
        if (a->ended) {
                hr = async_status(a);
                bus_conn_unlock(a->conn);
                return hr;
        }

        async_send_cancel_locked(a);

        /* vssd honours the cancel at its next safe point and then answers the operation. */
        for (;;) {
                async_refresh_locked(a);
                if (a->ended)
                        break;
                (void) bus_conn_wait(a->conn, UINT64_MAX);
        }

        if (a->result == VSS_S_ASYNC_CANCELLED)
                hr = S_OK;
        else
                hr = async_status(a);
        bus_conn_unlock(a->conn);
        return hr;
}

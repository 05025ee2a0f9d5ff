/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.c: CVssWriter's life: Initialize (vss_writer_new), Subscribe, Unsubscribe, free.
 *
 * A vss_writer owns a copy of its options and callbacks; subscribing opens its own connection
 * to vssd, serves the WriterEvents object on it, starts the callback thread and registers
 * with Subscribe. Unsubscribing undoes it in the order that keeps the VSS promise: first every
 * set this writer still has frozen is thawed through on_abort, then vssd is told, then the
 * threads end and the connection closes.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "macro.h"
#include "vss-bus.h"
#include "writer-internal.h"

#define FREEZE_TIMEOUT_DEFAULT_MS 60000U

static bool string_ok(const char *s) {
        return !s || strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING;
}

static vss_hr writer_options_check(const vss_writer_options *opts, const vss_writer_callbacks *cb) {
        if (opts->version != VSS_WRITER_OPTIONS_VERSION ||
            (cb->version != VSS_WRITER_CALLBACKS_VERSION && cb->version != VSS_WRITER_CALLBACKS_VERSION_1))
                return E_INVALIDARG;
        if (vss_id_is_null(&opts->writer_id) || isempty(opts->writer_name))
                return E_INVALIDARG;
        if (!string_ok(opts->writer_name) || !string_ok(opts->instance_name) || !string_ok(opts->socket_path))
                return E_INVALIDARG;
        if (opts->usage_type < VSS_UT_UNDEFINED || opts->usage_type > VSS_UT_OTHER)
                return E_INVALIDARG;
        if (opts->source_type < VSS_ST_UNDEFINED || opts->source_type > VSS_ST_OTHER)
                return E_INVALIDARG;
        if (opts->level < VSS_APP_AUTO || opts->level > VSS_APP_SYSTEM_RM)
                return E_INVALIDARG;
        return S_OK;
}

static void writer_free_fields(vss_writer *w) {
        /* The callback thread has ended: what it kept can go. */
        writer_metadata_free(w->identify_md);
        writer_components_free(w->last_components);
        free(w->writer_name);
        free(w->instance_name);
        free(w->socket_path);
        if (w->worker_fd >= 0)
                (void) close(w->worker_fd);
        if (w->stand_in_fd >= 0)
                (void) close(w->stand_in_fd);
        if (w->deadline_fd >= 0)
                (void) close(w->deadline_fd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->api_lock);
        free(w);
}

vss_hr vss_writer_new(vss_writer **ret, const vss_writer_options *opts, const vss_writer_callbacks *cb,
                      void *userdata) {
        pthread_condattr_t attr;
        vss_writer *w;
        vss_hr hr;

        if (!ret || !opts || !cb)
                return E_INVALIDARG;
        hr = writer_options_check(opts, cb);
        if (hr != S_OK)
                return hr;

        w = calloc(1, sizeof(*w));
        if (!w)
                return E_OUTOFMEMORY;

        pthread_mutex_init(&w->api_lock, NULL);
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &attr);
        pthread_condattr_destroy(&attr);

        w->worker_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->stand_in_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        w->deadline_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        w->armed_deadline = UINT64_MAX;
        if (w->worker_fd < 0 || w->stand_in_fd < 0 || w->deadline_fd < 0) {
                hr = vss_hr_from_errno(-errno);
                writer_free_fields(w);
                return hr;
        }

        w->writer_id = opts->writer_id;
        w->writer_name = strdup(opts->writer_name);
        w->instance_name = strdup(strempty(opts->instance_name));
        w->socket_path = opts->socket_path ? strdup(opts->socket_path) : NULL;
        if (!w->writer_name || !w->instance_name || (opts->socket_path && !w->socket_path)) {
                writer_free_fields(w);
                return E_OUTOFMEMORY;
        }

        w->usage_type = opts->usage_type;
        w->source_type = opts->source_type;
        /* A zero-initialised options struct means the documented default level. */
        w->level = opts->level == VSS_APP_UNKNOWN ? VSS_APP_FRONT_END : opts->level;
        w->freeze_timeout_ms = opts->freeze_timeout_ms == 0 ? FREEZE_TIMEOUT_DEFAULT_MS : opts->freeze_timeout_ms;
        /* A version 1 struct ends before the restore callbacks: copy only what it has. */
        if (cb->version == VSS_WRITER_CALLBACKS_VERSION_1)
                memcpy(&w->cb, cb, offsetof(vss_writer_callbacks, on_pre_restore));
        else
                w->cb = *cb;
        w->userdata = userdata;

        *ret = w;
        return S_OK;
}

/* End the callback thread and close the connection; drop what is left. api_lock held. */
static void writer_disconnect(vss_writer *w) {
        if (w->worker_started) {
                pthread_mutex_lock(&w->lock);
                w->stopping = true;
                pthread_mutex_unlock(&w->lock);
                writer_wake_worker(w);
                pthread_join(w->worker, NULL);
                w->worker_started = false;
        }

        if (w->conn) {
                bus_conn_close(w->conn);
                writer_drop_queue(w);
                bus_conn_lock(w->conn);
                w->vtable_slot = sd_bus_slot_unref(w->vtable_slot);
                bus_conn_unlock(w->conn);
                w->conn = bus_conn_unref(w->conn);
        }

        w->subscribed = false;
        pthread_mutex_lock(&w->lock);
        w->registered = w->disconnected = w->closing = w->stopping = false;
        w->instance_id = VSS_ID_NULL;
        pthread_mutex_unlock(&w->lock);
}

/*
 * The event_flags Subscribe sends: the application's VSS_SM_* bits, and the events it has no
 * callback for, which vssd then does not send (vss-bus.h): each would cost a round trip that
 * only answers "ok". The events the Freeze safety net needs are always sent.
 */
static uint32_t writer_subscribe_flags(const vss_writer *w, uint32_t event_flags) {
        const vss_writer_callbacks *cb = &w->cb;
        uint32_t f = event_flags & VSS_BUS_SM_PUBLIC_MASK;

        if (!cb->on_prepare_backup)
                f |= VSS_BUS_SM_NO_PREPARE_BACKUP;
        if (!cb->on_prepare_snapshot)
                f |= VSS_BUS_SM_NO_PREPARE_SNAPSHOT;
        if (!cb->on_post_snapshot)
                f |= VSS_BUS_SM_NO_POST_SNAPSHOT;
        if (!cb->on_backup_complete)
                f |= VSS_BUS_SM_NO_BACKUP_COMPLETE;
        if (!cb->on_pre_restore)
                f |= VSS_BUS_SM_NO_PRE_RESTORE;
        if (!cb->on_post_restore)
                f |= VSS_BUS_SM_NO_POST_RESTORE;
        return f;
}

/* Lock held on the bus. Call Subscribe and read the instance id. */
static vss_hr writer_call_subscribe_locked(vss_writer *w, uint32_t event_flags, vss_id *ret_instance_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *instance;
        int k;

        k = sd_bus_message_new_method_call(bus_conn_get_bus(w->conn), &m, NULL, VSS_BUS_PATH,
                                           VSS_BUS_IFACE_WRITER, "Subscribe");
        if (k >= 0)
                k = sd_bus_message_append(m, "sssiiiuu", vss_id_to_str(&w->writer_id).s, w->writer_name,
                                          w->instance_name, (int32_t) w->usage_type, (int32_t) w->source_type,
                                          (int32_t) w->level, w->freeze_timeout_ms,
                                          writer_subscribe_flags(w, event_flags));
        if (k < 0)
                return vss_hr_from_errno(k);

        k = bus_conn_call(w->conn, m, LIBVSS_SUBSCRIBE_TIMEOUT_USEC, &error, &reply);
        if (k < 0)
                return vss_hr_from_bus_error(&error, k);

        k = sd_bus_message_read(reply, "s", &instance);
        if (k <= 0 || vss_id_from_bus(instance, ret_instance_id) != S_OK)
                return VSS_E_UNEXPECTED;
        return S_OK;
}

static vss_hr writer_subscribe_locked(vss_writer *w, uint32_t event_flags) {
        vss_id instance_id;
        vss_hr hr;
        int k;

        hr = bus_conn_open(w->socket_path, writer_on_disconnect, w, &w->conn);
        if (hr != S_OK)
                return hr;

        /* The I/O thread is not running yet: the bus is still ours alone. */
        k = sd_bus_add_object_vtable(bus_conn_get_bus(w->conn), &w->vtable_slot, VSS_BUS_WRITER_PATH,
                                     VSS_BUS_IFACE_EVENTS, writer_events_vtable, w);
        if (k < 0)
                return vss_hr_from_errno(k);

        /* Events run on the I/O thread as they arrive (writer-events.c). */
        bus_conn_set_idle(w->conn, writer_io_idle, w);

        k = pthread_create(&w->worker, NULL, writer_worker_main, w);
        if (k != 0)
                return vss_hr_from_errno(k);
        w->worker_started = true;

        k = bus_conn_start(w->conn);
        if (k < 0)
                return vss_hr_from_errno(k);

        bus_conn_lock(w->conn);
        hr = writer_call_subscribe_locked(w, event_flags, &instance_id);
        bus_conn_unlock(w->conn);
        if (hr != S_OK)
                return hr;

        /* Identify replies carry the instance id, so events wait in the queue until it is
         * known, even one vssd sent right behind the Subscribe reply. */
        pthread_mutex_lock(&w->lock);
        w->instance_id = instance_id;
        w->registered = true;
        pthread_mutex_unlock(&w->lock);
        /* The callback thread runs what waited; the I/O thread runs what comes next. */
        writer_wake_worker(w);
        w->subscribed = true;
        return S_OK;
}

vss_hr vss_writer_subscribe(vss_writer *w, uint32_t event_flags) {
        vss_hr hr;

        if (!w)
                return E_INVALIDARG;
        /* A callback of w runs, so w is subscribed; answering without api_lock keeps a
         * callback from waiting on an unsubscribe that waits on the callback. */
        if (writer_current_frame && writer_current_frame->writer == w)
                return VSS_E_WRITER_ALREADY_SUBSCRIBED;

        pthread_mutex_lock(&w->api_lock);
        if (w->subscribed)
                hr = VSS_E_WRITER_ALREADY_SUBSCRIBED;
        else {
                hr = writer_subscribe_locked(w, event_flags);
                if (hr != S_OK)
                        writer_disconnect(w);
        }
        pthread_mutex_unlock(&w->api_lock);
        return hr;
}

/* Thaw every set still frozen through on_abort (run by the callback thread) and wait. */
static void writer_thaw_all(vss_writer *w) {
        pthread_mutex_lock(&w->lock);
        w->closing = true;
        writer_wake_worker(w);
        while (writer_frozen_count_locked(w) > 0 || w->n_local_pending > 0)
                pthread_cond_wait(&w->cond, &w->lock);
        pthread_mutex_unlock(&w->lock);
}

static void writer_call_unsubscribe(vss_writer *w) {
        bus_conn_lock(w->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
                int k;

                /* Best effort: when vssd is gone, closing the connection says the same. */
                k = sd_bus_message_new_method_call(bus_conn_get_bus(w->conn), &m, NULL, VSS_BUS_PATH,
                                                   VSS_BUS_IFACE_WRITER, "Unsubscribe");
                if (k >= 0)
                        (void) bus_conn_call(w->conn, m, LIBVSS_UNSUBSCRIBE_TIMEOUT_USEC, &error, &reply);
        }
        bus_conn_unlock(w->conn);
}

vss_hr vss_writer_unsubscribe(vss_writer *w) {
        if (!w)
                return E_INVALIDARG;
        /* The callback thread would wait for itself. */
        if (writer_current_frame)
                return VSS_E_BAD_STATE;

        pthread_mutex_lock(&w->api_lock);
        if (w->subscribed) {
                writer_thaw_all(w);
                writer_call_unsubscribe(w);
                writer_disconnect(w);
        }
        pthread_mutex_unlock(&w->api_lock);
        return S_OK;
}

void vss_writer_free(vss_writer *w) {
        if (!w)
                return;
        /* Freeing a writer from its own callback would pull the thread out from under it;
         * refuse by leaking rather than crash. */
        if (vss_writer_unsubscribe(w) != S_OK)
                return;
        writer_free_fields(w);
}

vss_hr vss_writer_get_instance_id(vss_writer *w, vss_id *ret) {
        vss_hr hr = S_OK;

        if (!w || !ret)
                return E_INVALIDARG;

        /* The writer lock, not api_lock: callbacks may ask while an unsubscribe waits for them. */
        pthread_mutex_lock(&w->lock);
        if (!w->registered)
                hr = VSS_E_BAD_STATE;
        else
                *ret = w->instance_id;
        pthread_mutex_unlock(&w->lock);
        return hr;
}

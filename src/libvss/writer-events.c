/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-events.c: how an event from vssd becomes a callback and a reply, and the Freeze
 * safety net.
 *
 * vssd calls the WriterEvents methods on the writer's connection. The handler (I/O thread,
 * bus lock held) only parses the context and queues the event. Callbacks run one at a time,
 * each reply sent when its callback returns, and vssd's deadlines are measured against them.
 *
 * Where a callback runs: on the I/O thread, from its idle hook, as soon as the connection has
 * nothing more to dispatch and no other callback runs. With 100 writers answering each event
 * on 2 cores, handing every event to another thread and its reply back cost two context
 * switches per writer per event (perf sched: ≈ 4.3 switches per writer per event before,
 * docs/benchmarks.md). The callback thread still exists for what the I/O thread cannot do:
 * it runs libvss's own Aborts when a deadline passes with nothing arriving, the events of a
 * connection that died, and those left when unsubscribing; and it stands in for the I/O
 * thread while a callback there runs past LIBVSS_STAND_IN_USEC (a timerfd armed for each
 * callback wakes it, so a fast callback costs it nothing): it serves the connection
 * (bus_conn_serve) until the callback returns, so a slow callback still never blocks the
 * connection for long: Thaws are accepted against their deadline, a full queue is refused,
 * a lost connection is seen.
 *
 * The safety net: VSS promises a writer that it is never left frozen because somebody else
 * failed. When a Freeze for set S arrives, a guard with a deadline (the writer's freeze
 * timeout) is armed. A Thaw or Abort for S disarms it. If the deadline passes first, or the
 * connection to vssd is lost, or the writer unsubscribes, libvss queues an Abort of its own
 * for S; it runs as soon as the callback thread is free (after a stuck on_freeze returns,
 * since callbacks never overlap). The guard then remembers that S was aborted locally, so
 * the Thaw or Abort vssd may still send for S is answered without running a callback again.
 * The deadline is checked by the callback thread (a timed wait) and on every event arrival,
 * so it works even when vssd never sends anything again.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "macro.h"
#include "vss-bus.h"
#include "writer-internal.h"

_Thread_local CallbackFrame *writer_current_frame = NULL;

static const char *const event_member[_EVENT_TYPE_MAX] = {
        [EVENT_IDENTIFY] = "Identify",
        [EVENT_PREPARE_FOR_BACKUP] = "PrepareForBackup",
        [EVENT_PREPARE_FOR_SNAPSHOT] = "PrepareForSnapshot",
        [EVENT_FREEZE] = "Freeze",
        [EVENT_THAW] = "Thaw",
        [EVENT_POST_SNAPSHOT] = "PostSnapshot",
        [EVENT_ABORT] = "Abort",
        [EVENT_BACKUP_COMPLETE] = "BackupComplete",
        [EVENT_BACKUP_SHUTDOWN] = "BackupShutdown",
        [EVENT_PRE_RESTORE] = "PreRestore",
        [EVENT_POST_RESTORE] = "PostRestore",
};

static EventType event_type_from_member(const char *member) {
        if (!member)
                return _EVENT_TYPE_INVALID;
        for (EventType t = 0; t < _EVENT_TYPE_MAX; t++)
                if (streq(event_member[t], member))
                        return t;
        return _EVENT_TYPE_INVALID;
}

/* Frees e. If it holds a message, the caller holds the bus lock. */
static void event_free(Event *e) {
        if (!e)
                return;
        sd_bus_message_unref(e->message);
        event_context_done(&e->ctx);
        free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Queue and guards (writer lock held)                                                          */
/* ------------------------------------------------------------------------------------------ */

static void queue_append_locked(vss_writer *w, Event *e) {
        e->next = NULL;
        if (w->queue_tail)
                w->queue_tail->next = e;
        else
                w->queue_head = e;
        w->queue_tail = e;
        w->n_queued++;
}

/* Insert e right after the queued Freeze of set_id if there is one, else at the head. */
static void queue_insert_abort_locked(vss_writer *w, Event *e, const vss_id *set_id) {
        Event *after = NULL;

        for (Event *i = w->queue_head; i; i = i->next)
                if (i->type == EVENT_FREEZE && i->ctx.has_snapshot_set_id &&
                    vss_id_equal(&i->ctx.snapshot_set_id, set_id))
                        after = i;

        if (after) {
                e->next = after->next;
                after->next = e;
                if (w->queue_tail == after)
                        w->queue_tail = e;
        } else {
                e->next = w->queue_head;
                w->queue_head = e;
                if (!w->queue_tail)
                        w->queue_tail = e;
        }
        w->n_queued++;
}

static Event *queue_pop_locked(vss_writer *w) {
        Event *e = w->queue_head;

        if (!e)
                return NULL;
        w->queue_head = e->next;
        if (!w->queue_head)
                w->queue_tail = NULL;
        e->next = NULL;
        w->n_queued--;
        return e;
}

/* Take out the first Abort libvss raised itself, leaving vssd's events queued. */
static Event *queue_pop_local_locked(vss_writer *w) {
        Event *prev = NULL;

        for (Event *e = w->queue_head; e; prev = e, e = e->next) {
                if (e->message)
                        continue;
                if (prev)
                        prev->next = e->next;
                else
                        w->queue_head = e->next;
                if (w->queue_tail == e)
                        w->queue_tail = prev;
                e->next = NULL;
                w->n_queued--;
                return e;
        }
        return NULL;
}

static FreezeGuard *guard_find_locked(vss_writer *w, const vss_id *set_id) {
        for (size_t i = 0; i < w->n_guards; i++)
                if (vss_id_equal(&w->guards[i].set_id, set_id))
                        return &w->guards[i];
        return NULL;
}

static void guard_remove_locked(vss_writer *w, FreezeGuard *g) {
        size_t i = (size_t) (g - w->guards);

        event_context_done(&g->ctx);
        w->guards[i] = w->guards[--w->n_guards];
        w->guards[w->n_guards] = (FreezeGuard) {};
}

/* A free guard slot: a new one, or the slot of a set aborted locally long ago. */
static FreezeGuard *guard_add_locked(vss_writer *w, const vss_id *set_id) {
        FreezeGuard *g;

        if (w->n_guards >= LIBVSS_MAX_FREEZE_GUARDS) {
                FreezeGuard *victim = NULL;

                for (size_t i = 0; i < w->n_guards; i++)
                        if (w->guards[i].aborted_locally)
                                victim = &w->guards[i];
                if (!victim)
                        return NULL;
                guard_remove_locked(w, victim);
        }

        g = &w->guards[w->n_guards++];
        *g = (FreezeGuard) { .set_id = *set_id };
        return g;
}

size_t writer_frozen_count_locked(const vss_writer *w) {
        size_t n = 0;

        for (size_t i = 0; i < w->n_guards; i++)
                if (!w->guards[i].aborted_locally)
                        n++;
        return n;
}

/* Queue libvss's own Abort for g's set and remember that it was aborted locally. */
static void guard_abort_locally_locked(vss_writer *w, FreezeGuard *g) {
        Event *e;

        g->aborted_locally = true;

        e = calloc(1, sizeof(*e));
        if (!e)
                /* Nothing to thaw with: the guard still dedupes vssd's own Abort. Cannot
                 * happen in practice; the alternative would be to keep retrying forever. */
                return;
        e->type = EVENT_ABORT;
        if (event_context_copy(&e->ctx, &g->ctx) < 0) {
                /* Without memory for the whole context, the set id is what matters. */
                e->ctx = (EventContext) {
                        .has_snapshot_set_id = true,
                        .snapshot_set_id = g->set_id,
                };
        }

        queue_insert_abort_locked(w, e, &g->set_id);
        w->n_local_pending++;
        /* Raised on the I/O thread (an event's arrival), its idle hook runs it next; raised
         * by the callback thread, that one runs it; a lost connection or leaving wakes the
         * callback thread for it. */
}

/* Abort locally every guarded set whose deadline passed, or all of them when vssd is gone
 * or the writer is leaving. */
static void guards_expire_locked(vss_writer *w, uint64_t now) {
        bool all = w->disconnected || w->closing;

        for (size_t i = 0; i < w->n_guards; i++) {
                FreezeGuard *g = &w->guards[i];

                if (g->aborted_locally)
                        continue;
                if (all || g->deadline_usec <= now)
                        guard_abort_locally_locked(w, g);
        }
}

static uint64_t guards_next_deadline_locked(const vss_writer *w) {
        uint64_t next = UINT64_MAX;

        for (size_t i = 0; i < w->n_guards; i++)
                if (!w->guards[i].aborted_locally)
                        next = MIN(next, w->guards[i].deadline_usec);
        return next;
}

static void timerfd_set_abs(int fd, uint64_t usec) {
        struct itimerspec its = {};

        if (usec != UINT64_MAX && usec != 0)
                its.it_value = (struct timespec) {
                        .tv_sec = (time_t) (usec / USEC_PER_SEC),
                        .tv_nsec = (long) ((usec % USEC_PER_SEC) * NSEC_PER_USEC),
                };
        else if (usec == 0)
                its.it_value.tv_nsec = 1;       /* already due: fire now (0 would disarm) */
        /* Cannot fail for a valid timerfd and value. */
        (void) timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Point the callback thread's deadline timer at the nearest guard deadline, if that is nearer
 * than what it is set to (a later one is re-read when the timer fires). */
static void guards_arm_locked(vss_writer *w) {
        uint64_t next = guards_next_deadline_locked(w);

        if (next < w->armed_deadline) {
                timerfd_set_abs(w->deadline_fd, next);
                w->armed_deadline = next;
        }
}

/* Arm, disarm or consult the guard of the event's set, then queue the event. */
static vss_hr writer_accept_event_locked(vss_writer *w, Event *e) {
        const vss_id *set_id = e->ctx.has_snapshot_set_id ? &e->ctx.snapshot_set_id : NULL;
        uint64_t now = now_usec();
        FreezeGuard *g;

        /* A Thaw that arrives after the deadline is too late: the set is aborted first. */
        guards_expire_locked(w, now);

        if (w->n_queued >= LIBVSS_MAX_QUEUED_EVENTS + w->n_local_pending)
                return VSS_E_WRITER_STATUS_NOT_AVAILABLE;

        g = set_id && !vss_id_is_null(set_id) ? guard_find_locked(w, set_id) : NULL;

        switch (e->type) {

        case EVENT_FREEZE:
                if (!set_id || vss_id_is_null(set_id))
                        break;
                if (!g) {
                        g = guard_add_locked(w, set_id);
                        if (!g)
                                return VSS_E_WRITER_STATUS_NOT_AVAILABLE;
                }
                event_context_done(&g->ctx);
                (void) event_context_copy(&g->ctx, &e->ctx);
                g->deadline_usec = now + (uint64_t) w->freeze_timeout_ms * USEC_PER_MSEC;
                g->aborted_locally = false;
                if (w->disconnected || w->closing)
                        guard_abort_locally_locked(w, g);
                else
                        guards_arm_locked(w);
                break;

        case EVENT_THAW:
        case EVENT_ABORT:
                if (!g)
                        break;
                if (g->aborted_locally)
                        e->suppressed = true;
                else
                        guard_remove_locked(w, g);
                break;

        case EVENT_BACKUP_SHUTDOWN:
                /* The backup is over. A set still frozen here (its Abort never came) is
                 * thawed before the shutdown callback runs. */
                if (g && !g->aborted_locally)
                        guard_abort_locally_locked(w, g);
                if (g)
                        guard_remove_locked(w, g);
                break;

        default:
                break;
        }

        /* The I/O thread's idle hook runs it once the connection is dispatched, or the thread
         * running a callback now takes it next. */
        queue_append_locked(w, e);
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* I/O thread side                                                                              */
/* ------------------------------------------------------------------------------------------ */

static int method_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        vss_writer *w = userdata;
        Event *e;
        vss_hr hr;
        int k;

        /* I/O thread, bus lock held: parse and queue, never block. */
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;

        e->type = event_type_from_member(sd_bus_message_get_member(m));
        if (e->type == _EVENT_TYPE_INVALID) {
                free(e);
                return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_METHOD, "Unknown writer event.");
        }

        k = event_context_read(m, &e->ctx);
        if (k < 0) {
                EventType t = e->type;

                free(e);
                return vss_hr_to_bus_error(error, E_INVALIDARG, "The %s event's context is malformed: %s",
                                           event_member[t], strerror(-k));
        }
        e->message = sd_bus_message_ref(m);

        pthread_mutex_lock(&w->lock);
        hr = writer_accept_event_locked(w, e);
        pthread_mutex_unlock(&w->lock);

        if (hr != S_OK) {
                EventType t = e->type;

                event_free(e);
                return vss_hr_to_bus_error(error, hr, "The writer cannot take the %s event now: too many events are waiting.",
                                           event_member[t]);
        }

        /* The reply is sent by the callback thread. */
        return 1;
}

void writer_on_disconnect(BusConn *c, void *userdata) {
        vss_writer *w = userdata;

        /* I/O thread, bus lock held. Lock order: bus, then writer. */
        pthread_mutex_lock(&w->lock);
        w->disconnected = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        /* The I/O thread ends now: the callback thread thaws what is frozen. */
        writer_wake_worker(w);
}

/* Every backup event answers (b ok, i failure, a{sv} out) (docs/dbus-api.md). */
#define BACKUP_EVENT_RESULT SD_BUS_RESULT("b", ok, "i", failure, "a{sv}", out)

const sd_bus_vtable writer_events_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Identify", SD_BUS_ARGS("a{sv}", ctx),
                                SD_BUS_RESULT("b", ok, VSS_BUS_SIG_WMD, metadata), method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("PrepareForBackup", SD_BUS_ARGS("a{sv}", ctx), BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("PrepareForSnapshot", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("Freeze", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("Thaw", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("PostSnapshot", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("Abort", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("BackupComplete", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("BackupShutdown", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("PreRestore", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_METHOD_WITH_ARGS("PostRestore", SD_BUS_ARGS("a{sv}", ctx),
                                BACKUP_EVENT_RESULT, method_event, 0),
        SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------------------------------------ */
/* Callback thread side                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* The `out` dictionary of a backup event's answer: the edited slice, when there is one. */
static int append_event_out(sd_bus_message *reply, const char *components_xml) {
        int k;

        k = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (k >= 0 && components_xml)
                k = sd_bus_message_append(reply, "{sv}", "components_xml", "s", components_xml);
        if (k >= 0)
                k = sd_bus_message_close_container(reply);
        return k;
}

/*
 * Send the reply to e (if it came from vssd) and free e. md: the Identify document (answer
 * (b, WMD)); otherwise the answer is (b, i, a{sv}) with components_xml (may be NULL) in it.
 */
static void writer_reply(vss_writer *w, Event *e, bool ok, vss_hr failure, const WriterMetadata *md,
                         const char *components_xml) {
        if (!e->message) {
                event_free(e);
                return;
        }

        bus_conn_lock(w->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                int k;

                k = sd_bus_message_new_method_return(e->message, &reply);
                if (k >= 0)
                        k = sd_bus_message_append(reply, "b", (int) ok);
                if (k >= 0 && md)
                        k = writer_metadata_append(reply, md);
                else if (k >= 0) {
                        k = sd_bus_message_append(reply, "i", failure);
                        if (k >= 0)
                                k = append_event_out(reply, components_xml);
                }
                if (k >= 0)
                        k = sd_bus_send(NULL, reply, NULL);
                /* A reply that cannot be built still gets an answer, so vssd does not wait
                 * for its deadline; on a closed connection both simply fail. */
                if (k < 0 && k != -ENOTCONN && k != -ECONNRESET)
                        (void) sd_bus_reply_method_errno(e->message, k, NULL);
                event_free(e);
        }
        bus_conn_unlock(w->conn);
}

static WriterMetadata *identify_document_new(vss_writer *w) {
        WriterMetadata *md;

        md = writer_metadata_new();
        if (!md)
                return NULL;

        if (writer_metadata_set_identity(md, &w->instance_id, &w->writer_id, w->writer_name, w->instance_name,
                                         w->usage_type, w->source_type, w->freeze_timeout_ms) != S_OK)
                return writer_metadata_free(md);
        return md;
}

static void writer_run_identify(vss_writer *w, Event *e) {
        vss_create_writer_metadata builder;
        CallbackFrame frame = { .writer = w, .event = e };
        WriterMetadata *md;
        bool ok = true;

        md = identify_document_new(w);
        if (!md) {
                bus_conn_lock(w->conn);
                (void) sd_bus_reply_method_errno(e->message, -ENOMEM, NULL);
                event_free(e);
                bus_conn_unlock(w->conn);
                return;
        }

        if (w->cb.on_identify) {
                builder.md = md;
                frame.metadata = &builder;
                writer_current_frame = &frame;
                ok = w->cb.on_identify(w, &builder, w->userdata);
                writer_current_frame = NULL;
        }

        writer_reply(w, e, ok, S_OK, md, NULL);

        /* Kept for AddDifferencedFilesByLastModifyTime, which judges file sets against it. */
        if (ok) {
                writer_metadata_free(w->identify_md);
                w->identify_md = md;
        } else
                writer_metadata_free(md);
}

/* The events whose callback receives an IVssWriterComponents. */
#define EVENTS_WITH_COMPONENTS \
        (EVENT_BIT(EVENT_PREPARE_FOR_BACKUP) | EVENT_BIT(EVENT_POST_SNAPSHOT) | EVENT_BIT(EVENT_BACKUP_COMPLETE) | \
         EVENT_BIT(EVENT_PRE_RESTORE) | EVENT_BIT(EVENT_POST_RESTORE))

/* The events whose edits of the components travel back to vssd (vss-semantics.md §8). */
#define EVENTS_WITH_EDITS \
        (EVENT_BIT(EVENT_PREPARE_FOR_BACKUP) | EVENT_BIT(EVENT_POST_SNAPSHOT) | EVENT_BIT(EVENT_PRE_RESTORE) | \
         EVENT_BIT(EVENT_POST_RESTORE))

/* Whether the writer has a callback for e's type: without one the event is answered as done
 * at once, with nothing to build for it (no components view, no slice parsed). */
static bool writer_has_callback(const vss_writer *w, EventType t) {
        const vss_writer_callbacks *cb = &w->cb;

        switch (t) {
        case EVENT_PREPARE_FOR_BACKUP:
                return cb->on_prepare_backup;
        case EVENT_PREPARE_FOR_SNAPSHOT:
                return cb->on_prepare_snapshot;
        case EVENT_FREEZE:
                return cb->on_freeze;
        case EVENT_THAW:
                return cb->on_thaw;
        case EVENT_POST_SNAPSHOT:
                return cb->on_post_snapshot;
        case EVENT_ABORT:
                return cb->on_abort;
        case EVENT_BACKUP_COMPLETE:
                return cb->on_backup_complete;
        case EVENT_BACKUP_SHUTDOWN:
                return cb->on_backup_shutdown;
        case EVENT_PRE_RESTORE:
                return cb->on_pre_restore;
        case EVENT_POST_RESTORE:
                return cb->on_post_restore;
        default:
                return false;
        }
}

static bool writer_call_callback(vss_writer *w, const Event *e, vss_writer_components *c) {
        const vss_writer_callbacks *cb = &w->cb;
        const vss_id *set_id = e->ctx.has_snapshot_set_id ? &e->ctx.snapshot_set_id : &VSS_ID_NULL;

        switch (e->type) {
        case EVENT_PREPARE_FOR_BACKUP:
                return cb->on_prepare_backup ? cb->on_prepare_backup(w, c, w->userdata) : true;
        case EVENT_PREPARE_FOR_SNAPSHOT:
                return cb->on_prepare_snapshot ? cb->on_prepare_snapshot(w, w->userdata) : true;
        case EVENT_FREEZE:
                return cb->on_freeze ? cb->on_freeze(w, w->userdata) : true;
        case EVENT_THAW:
                return cb->on_thaw ? cb->on_thaw(w, w->userdata) : true;
        case EVENT_POST_SNAPSHOT:
                return cb->on_post_snapshot ? cb->on_post_snapshot(w, c, w->userdata) : true;
        case EVENT_ABORT:
                return cb->on_abort ? cb->on_abort(w, w->userdata) : true;
        case EVENT_BACKUP_COMPLETE:
                return cb->on_backup_complete ? cb->on_backup_complete(w, c, w->userdata) : true;
        case EVENT_BACKUP_SHUTDOWN:
                return cb->on_backup_shutdown ? cb->on_backup_shutdown(w, set_id, w->userdata) : true;
        case EVENT_PRE_RESTORE:
                return cb->on_pre_restore ? cb->on_pre_restore(w, c, w->userdata) : true;
        case EVENT_POST_RESTORE:
                return cb->on_post_restore ? cb->on_post_restore(w, c, w->userdata) : true;
        default:
                return true;
        }
}

static void writer_run_backup_event(vss_writer *w, Event *e) {
        CallbackFrame frame = { .writer = w, .event = e, .failure = S_OK };
        vss_writer_components *c = NULL;
        _cleanup_free_ char *edits = NULL;
        bool ok;
        int k;

        if (e->suppressed) {
                /* libvss already aborted this set: an Abort is answered as done, a Thaw as
                 * the freeze timeout it was. */
                if (e->type == EVENT_THAW)
                        writer_reply(w, e, false, VSS_E_WRITERERROR_TIMEOUT, NULL, NULL);
                else
                        writer_reply(w, e, true, S_OK, NULL, NULL);
                return;
        }

        if (!writer_has_callback(w, e->type)) {
                writer_reply(w, e, true, S_OK, NULL, NULL);
                return;
        }

        if (EVENTS_WITH_COMPONENTS & EVENT_BIT(e->type)) {
                k = writer_components_new(w, &e->ctx, &c);
                if (k < 0) {
                        writer_reply(w, e, false,
                                     k == -ENOMEM ? VSS_E_WRITERERROR_OUTOFRESOURCES : VSS_E_WRITERERROR_NONRETRYABLE,
                                     NULL, NULL);
                        return;
                }
                /* The previous view goes now; until then a component kept from it is refused
                 * (VSS_E_BAD_STATE) instead of being freed memory. */
                writer_components_free(w->last_components);
                w->last_components = NULL;
        }

        frame.components = c;
        writer_current_frame = &frame;
        ok = writer_call_callback(w, e, c);
        writer_current_frame = NULL;

        /* Edits go back only from the windows a writer may edit in, and only with success;
         * in a restore also with a veto, which is when the failure messages matter. */
        if ((ok || e->type == EVENT_PRE_RESTORE || e->type == EVENT_POST_RESTORE) &&
            (EVENTS_WITH_EDITS & EVENT_BIT(e->type))) {
                vss_hr hr = writer_components_edits_xml(c, &edits);

                if (hr != S_OK) {
                        ok = false;
                        frame.failure = hr == E_OUTOFMEMORY ? VSS_E_WRITERERROR_OUTOFRESOURCES
                                                            : VSS_E_WRITERERROR_NONRETRYABLE;
                }
        }
        if (c)
                w->last_components = c;

        /* A veto without a code still needs one in the writer's status. */
        if (!ok && frame.failure == S_OK)
                frame.failure = VSS_E_WRITERERROR_NONRETRYABLE;

        writer_reply(w, e, ok, frame.failure, NULL, edits);
}

void writer_wake_worker(vss_writer *w) {
        uint64_t one = 1;

        /* A full counter still reads as readable: nothing to handle (write() is must-use). */
        if (write(w->worker_fd, &one, sizeof(one)) < 0)
                return;
}

static void fd_drain(int fd) {
        uint64_t v;

        /* eventfd and timerfd: one 8-byte read empties either; EAGAIN is as good. */
        if (read(fd, &v, sizeof(v)) < 0)
                return;
}

static void stand_in_arm(vss_writer *w, uint64_t usec) {
        struct itimerspec its = {
                .it_value.tv_sec = (time_t) (usec / USEC_PER_SEC),
                .it_value.tv_nsec = (long) ((usec % USEC_PER_SEC) * NSEC_PER_USEC),
        };

        /* Cannot fail for a valid timerfd and value; without it the connection would only
         * wait for the callback, as it did before the stand-in existed. */
        (void) timerfd_settime(w->stand_in_fd, 0, &its, NULL);
}

/* Writer lock held, running unset; e popped. Runs e with no lock held and takes the lock
 * back. inline_io: on the I/O thread, which nobody else polls for meanwhile. */
static void writer_run_event_locked(vss_writer *w, Event *e, bool inline_io) {
        bool local = !e->message, wake;

        w->running = true;
        pthread_mutex_unlock(&w->lock);

        if (inline_io)
                stand_in_arm(w, LIBVSS_STAND_IN_USEC);
        if (e->type == EVENT_IDENTIFY)
                writer_run_identify(w, e);
        else
                writer_run_backup_event(w, e);
        if (inline_io)
                stand_in_arm(w, 0);

        pthread_mutex_lock(&w->lock);
        w->running = false;
        if (local)
                w->n_local_pending--;
        /* Unsubscribing waits for the thaws; no waiter, no system call. */
        pthread_cond_broadcast(&w->cond);
        /* The callback thread waits for this callback to end only to stop standing in, to
         * leave, or to thaw after a lost connection. */
        wake = inline_io && (w->standing_in || w->stopping || w->disconnected);
        if (wake)
                writer_wake_worker(w);
}

bool writer_io_idle(BusConn *c, void *userdata) {
        vss_writer *w = userdata;
        Event *e = NULL;

        pthread_mutex_lock(&w->lock);
        /* Leaving: the callback thread runs what is owed, nothing new starts here. */
        if (!w->stopping && w->registered && !w->running)
                e = queue_pop_locked(w);
        if (e)
                writer_run_event_locked(w, e, true);  /* frees e */
        pthread_mutex_unlock(&w->lock);
        return e != NULL;
}

/* Writer lock held. Wait until woken, until the next guard deadline, or until the I/O
 * thread has run one callback for LIBVSS_STAND_IN_USEC; in that case serve the connection
 * until it returns. */
static void writer_worker_wait_locked(vss_writer *w) {
        struct pollfd pfd[3] = {
                { .fd = w->worker_fd, .events = POLLIN },
                { .fd = w->stand_in_fd, .events = POLLIN },
                { .fd = w->deadline_fd, .events = POLLIN },
        };
        uint64_t next = guards_next_deadline_locked(w);
        int r;

        /* The timer holds the nearest deadline, or one that passed (it fired, or the guard
         * went): set it again when that changed. */
        if (next != w->armed_deadline) {
                timerfd_set_abs(w->deadline_fd, next);
                w->armed_deadline = next;
        }

        pthread_mutex_unlock(&w->lock);
        r = poll(pfd, ELEMENTSOF(pfd), -1);
        if (r > 0 && (pfd[0].revents & POLLIN))
                fd_drain(w->worker_fd);
        if (r > 0 && (pfd[1].revents & POLLIN))
                fd_drain(w->stand_in_fd);
        if (r > 0 && (pfd[2].revents & POLLIN))
                fd_drain(w->deadline_fd);
        pthread_mutex_lock(&w->lock);
        if (r > 0 && (pfd[2].revents & POLLIN))
                w->armed_deadline = 0;  /* fired: re-read at the next wait */

        /* The timer may have fired for a callback that has just returned: then there is
         * nothing to stand in for. */
        if (r <= 0 || !(pfd[1].revents & POLLIN))
                return;
        while (w->running && !w->stopping && !w->disconnected) {
                bool served;

                /* Woken for something else meanwhile: start from an empty counter, or serving
                 * would end at once. The callback's end wakes us under this lock, so it cannot
                 * be drained here unseen. */
                fd_drain(w->worker_fd);
                w->standing_in = true;
                pthread_mutex_unlock(&w->lock);
                served = bus_conn_serve(w->conn, w->worker_fd);
                pthread_mutex_lock(&w->lock);
                w->standing_in = false;
                if (!served)
                        break;
        }
}

void *writer_worker_main(void *p) {
        vss_writer *w = p;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                Event *e = NULL;

                guards_expire_locked(w, now_usec());

                if (w->stopping) {
                        /* vssd's events die with the connection, but a thaw owed to the
                         * application still runs: a Freeze may have slipped in while leaving,
                         * or be running on the I/O thread right now. */
                        if (!w->running) {
                                e = queue_pop_local_locked(w);
                                if (!e)
                                        break;
                        }
                } else if (w->registered && !w->running)
                        e = queue_pop_locked(w);

                if (e)
                        writer_run_event_locked(w, e, false);
                else
                        writer_worker_wait_locked(w);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

void writer_drop_queue(vss_writer *w) {
        Event *e;

        /* Both threads have ended; messages still need the bus lock for their refcounts. */
        bus_conn_lock(w->conn);
        while ((e = queue_pop_locked(w)))
                event_free(e);
        bus_conn_unlock(w->conn);

        while (w->n_guards > 0)
                guard_remove_locked(w, &w->guards[0]);
        w->n_local_pending = 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * event-round.c: parallel event dispatch (event-round.h).
 *
 * Completion always goes through a one-shot defer source: a round whose writers are all gone
 * completes before start() returns from the writers' point of view, and a writer leaving
 * completes its slot from inside client_free(); in neither case may the caller's state machine
 * run re-entrantly. The defer source makes "done" a fresh event-loop iteration every time.
 *
 * An Abort or BackupShutdown round does not wait for a writer that is unresponsive
 * (writer-registry.h): one whose last event timed out and that has not answered anything
 * since. It is sent the event, and its entry ends at once as timed out: so after a writer
 * stopped reading in Freeze, the requester learns of the failure at the Freeze deadline, not
 * an event timeout later. Rounds whose answers matter (Identify, Freeze, ...) wait for it up
 * to their deadline as for anyone: it may only have been slow.
 *
 * A writer that said it has no callback for the event (writer_skips_event) is not sent it:
 * its entry ends at once as "ok", which is what its library would have answered.
 */
#include <stdlib.h>

#include "vssd/event-round.h"
#include "vssd/log.h"

typedef struct RoundEntry {
        EventRound *round;
        Writer *writer;                 /* ref */
        size_t tag;
        EventCall *call;                /* while pending */
        EventOutcome outcome;
} RoundEntry;

struct EventRound {
        sd_event *event;
        const char *method;
        uint64_t timeout_usec;
        event_round_done_t done;
        void *userdata;
        RoundEntry *entries;
        size_t n_entries;
        size_t n_pending;
        bool started;
        sd_event_source *defer;
};

int event_round_new(sd_event *e, const char *method, uint64_t timeout_usec, event_round_done_t done,
                    void *userdata, EventRound **ret) {
        EventRound *r;

        assert(e);
        assert(method);
        assert(done);
        assert(ret);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(e);
        r->method = method;
        r->timeout_usec = timeout_usec;
        r->done = done;
        r->userdata = userdata;
        *ret = r;
        return 0;
}

int event_round_add(EventRound *r, Writer *w, size_t tag) {
        RoundEntry *e;

        assert(r);
        assert(w);
        assert(!r->started);

        e = realloc(r->entries, (r->n_entries + 1) * sizeof(*e));
        if (!e)
                return -ENOMEM;
        r->entries = e;
        r->entries[r->n_entries++] = (RoundEntry) {
                .writer = writer_ref(w),
                .tag = tag,
                .outcome.status = EVENT_PENDING,
        };
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        EventRound *r = userdata;

        r->defer = sd_event_source_unref(r->defer);
        r->done(r, r->userdata); /* may free r */
        return 0;
}

static void maybe_complete(EventRound *r) {
        int k;

        if (!r->started || r->n_pending > 0 || r->defer)
                return;

        k = sd_event_add_defer(r->event, &r->defer, on_defer, r);
        if (k >= 0)
                k = sd_event_source_set_enabled(r->defer, SD_EVENT_ONESHOT);
        if (k < 0) {
                /* Without a defer source nothing would ever finish this round; give up loudly. */
                log_error_errno(k, "Failed to schedule completion of %s round: %m", r->method);
                abort();
        }
}

static void entry_finish(RoundEntry *e, EventOutcome *o) {
        EventRound *r = e->round;

        assert(e->outcome.status == EVENT_PENDING);

        e->call = NULL;
        e->outcome = *o;
        o->metadata = NULL; /* ours now */
        o->components_xml = NULL;
        r->n_pending--;

        log_debug("Writer \"%s\": %s -> %s (0x%08x).", e->writer->name, r->method,
                  event_status_to_string(e->outcome.status), (unsigned) e->outcome.failure);
        maybe_complete(r);
}

static void on_writer_answer(Writer *w, EventOutcome *o, void *userdata) {
        entry_finish(userdata, o);
}

/* Abort and BackupShutdown: what a writer answers changes no outcome, it only says it heard. */
static bool round_is_cleanup(const EventRound *r) {
        return streq(r->method, "Abort") || streq(r->method, "BackupShutdown");
}

int event_round_start(EventRound *r, const EventContext *ctx) {
        assert(r);
        assert(ctx);
        assert(!r->started);

        r->started = true;
        r->n_pending = r->n_entries;

        for (size_t i = 0; i < r->n_entries; i++) {
                RoundEntry *e = &r->entries[i];
                uint64_t timeout = r->timeout_usec ?: writer_freeze_timeout_usec(e->writer);
                int k;

                e->round = r;
                if (!writer_is_gone(e->writer) && writer_skips_event(e->writer, r->method)) {
                        EventOutcome o = { .status = EVENT_OK, .failure = S_OK };

                        entry_finish(e, &o);
                        continue;
                }
                k = writer_send_event(e->writer, r->method, ctx, timeout, on_writer_answer, e, &e->call);
                if (k < 0) {
                        EventOutcome o = { .status = EVENT_GONE, .failure = S_OK };

                        if (k != -ENOTCONN)
                                log_warning_errno(k, "Failed to send %s to writer \"%s\": %m", r->method,
                                                  e->writer->name);
                        entry_finish(e, &o);
                } else if (writer_is_unresponsive(e->writer) && round_is_cleanup(r)) {
                        /* It has not answered anything since an event timed out (stopped, hung,
                         * not reading): it still gets the event, but nobody waits for it. */
                        EventOutcome o = { .status = EVENT_TIMED_OUT, .failure = S_OK };

                        event_call_cancel(e->call);
                        entry_finish(e, &o);
                }
        }

        maybe_complete(r);
        return 0;
}

void event_round_expire(EventRound *r, EventStatus status) {
        assert(r);

        for (size_t i = 0; i < r->n_entries; i++) {
                RoundEntry *e = &r->entries[i];
                EventOutcome o = { .status = status, .failure = S_OK };

                if (e->outcome.status != EVENT_PENDING || !e->call)
                        continue;
                if (status == EVENT_TIMED_OUT)
                        writer_note_timeout(e->writer);
                event_call_cancel(e->call);
                entry_finish(e, &o);
        }
}

EventRound *event_round_free(EventRound *r) {
        if (!r)
                return NULL;

        for (size_t i = 0; i < r->n_entries; i++) {
                RoundEntry *e = &r->entries[i];

                event_call_cancel(e->call);
                writer_metadata_free(e->outcome.metadata);
                free(e->outcome.components_xml);
                writer_unref(e->writer);
        }
        sd_event_source_disable_unref(r->defer);
        sd_event_unref(r->event);
        free(r->entries);
        free(r);
        return NULL;
}

size_t event_round_count(const EventRound *r) {
        return r ? r->n_entries : 0;
}

Writer *event_round_writer(const EventRound *r, size_t i) {
        assert(r && i < r->n_entries);
        return r->entries[i].writer;
}

size_t event_round_tag(const EventRound *r, size_t i) {
        assert(r && i < r->n_entries);
        return r->entries[i].tag;
}

EventOutcome *event_round_outcome(EventRound *r, size_t i) {
        assert(r && i < r->n_entries);
        return &r->entries[i].outcome;
}

const char *event_round_method(const EventRound *r) {
        return r->method;
}

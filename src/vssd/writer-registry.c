/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-registry.c: registration, lifetime and ordering facts of writers
 * (writer-registry.h). The bus side (Subscribe, event calls) is writer-dbus.c.
 */
#include <stdlib.h>
#include <string.h>

#include "vss-bus.h"
#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/writer-registry.h"

static const char *const event_status_names[_EVENT_STATUS_MAX] = {
        [EVENT_PENDING] = "pending",
        [EVENT_OK] = "ok",
        [EVENT_VETO] = "veto",
        [EVENT_TIMED_OUT] = "timed-out",
        [EVENT_GONE] = "gone",
        [EVENT_CANCELLED] = "cancelled",
        [EVENT_BAD_REPLY] = "bad-reply",
};

const char *event_status_to_string(EventStatus s) {
        if (s < 0 || s >= _EVENT_STATUS_MAX)
                return "unknown";
        return event_status_names[s];
}

static Writer *writer_free(Writer *w) {
        assert(w);
        assert(!w->calls);

        free(w->name);
        free(w->instance_name);
        free(w);
        return NULL;
}

Writer *writer_ref(Writer *w) {
        if (w)
                w->n_ref++;
        return w;
}

Writer *writer_unref(Writer *w) {
        if (!w)
                return NULL;
        assert(w->n_ref > 0);
        if (--w->n_ref > 0)
                return NULL;
        return writer_free(w);
}

int writer_register(Manager *m, Client *c, const WriterRegistration *reg, Writer **ret) {
        Writer *w;

        assert(m);
        assert(c);
        assert(reg);
        assert(ret);

        if (m->n_writers >= m->config.max_writers)
                return -EUSERS;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->n_ref = 1; /* the registry's */
        w->manager = m;
        w->client = c;
        w->class_id = reg->class_id;
        vss_id_generate(&w->instance_id);
        w->name = strdup(reg->name);
        w->instance_name = strdup(strempty(reg->instance_name));
        if (!w->name || !w->instance_name) {
                writer_free(w);
                return -ENOMEM;
        }
        w->usage = reg->usage;
        w->source = reg->source;
        w->level = reg->level;
        w->freeze_timeout_ms = reg->freeze_timeout_ms ?: VSSD_DEFAULT_FREEZE_TIMEOUT_MS;
        /* VSS_SM_ALL_FLAGS from a client that knows no VSS_BUS_SM_NO_* bits: every event. */
        if (reg->event_flags == UINT32_MAX)
                w->event_flags = reg->event_flags;
        else {
                w->event_flags = reg->event_flags & VSS_BUS_SM_PUBLIC_MASK;
                w->skip_events = reg->event_flags & ~VSS_BUS_SM_PUBLIC_MASK;
        }
        w->last_state = VSS_WS_STABLE;
        w->last_failure = S_OK;

        LIST_PREPEND(writers, m->writers, w);
        m->n_writers++;

        log_info("Writer \"%s\" (class %s, instance %s, level %d) subscribed from pid %d.", w->name,
                 vss_id_to_str(&w->class_id).s, vss_id_to_str(&w->instance_id).s, (int) w->level,
                 (int) c->ucred.pid);
        *ret = w;
        return 0;
}

void writer_note_session(Writer *w, vss_writer_state state, vss_hr failure) {
        if (!w)
                return;
        w->last_state = state;
        w->last_failure = failure;
}

void writer_leave(Writer *w) {
        Manager *m;

        if (!w || !w->client)
                return;

        m = w->manager;
        log_info("Writer \"%s\" (instance %s) left.", w->name, vss_id_to_str(&w->instance_id).s);

        w->client = NULL;
        LIST_REMOVE(writers, m->writers, w);
        m->n_writers--;

        /* Rounds waiting on this writer learn at once that no answer will come. The registry's
         * reference, dropped last, keeps w alive through the handlers. */
        while (w->calls) {
                EventOutcome o = { .status = EVENT_GONE, .failure = S_OK };

                event_call_complete(w->calls, &o);
        }

        writer_unref(w); /* the registry's reference */
}

void event_call_complete(EventCall *c, EventOutcome *o) {
        Writer *w = c->writer;

        LIST_REMOVE(calls, w->calls, c);
        c->slot = sd_bus_slot_unref(c->slot);

        writer_ref(w);
        c->handler(w, o, c->userdata);
        writer_unref(w);

        o->metadata = writer_metadata_free(o->metadata);
        free(o->components_xml);
        o->components_xml = NULL;
        writer_unref(c->writer);
        free(c);
}

void event_call_cancel(EventCall *c) {
        if (!c)
                return;
        LIST_REMOVE(calls, c->writer->calls, c);
        c->slot = sd_bus_slot_unref(c->slot);
        writer_unref(c->writer);
        free(c);
}

void writer_note_timeout(Writer *w) {
        if (!w || w->unresponsive)
                return;
        w->unresponsive = true;
        log_info("Writer \"%s\" did not answer in time; until it answers again, no Abort or BackupShutdown waits for it.", w->name);
}

void writer_note_answer(Writer *w) {
        if (w)
                w->unresponsive = false;
}

bool writer_is_unresponsive(const Writer *w) {
        return w && w->unresponsive;
}

bool writer_skips_event(const Writer *w, const char *method) {
        static const struct {
                const char *method;
                uint32_t bit;
        } table[] = {
                { "PrepareForBackup", VSS_BUS_SM_NO_PREPARE_BACKUP },
                { "PrepareForSnapshot", VSS_BUS_SM_NO_PREPARE_SNAPSHOT },
                { "PostSnapshot", VSS_BUS_SM_NO_POST_SNAPSHOT },
                { "BackupComplete", VSS_BUS_SM_NO_BACKUP_COMPLETE },
                { "PreRestore", VSS_BUS_SM_NO_PRE_RESTORE },
                { "PostRestore", VSS_BUS_SM_NO_POST_RESTORE },
        };

        assert(w);
        assert(method);

        if (w->skip_events == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i].method, method))
                        return w->skip_events & table[i].bit;
        return false;
}

bool writer_is_gone(const Writer *w) {
        return !w || !w->client;
}

uint64_t writer_freeze_timeout_usec(const Writer *w) {
        return (uint64_t) w->freeze_timeout_ms * USEC_PER_MSEC;
}

unsigned writer_level_group(const Writer *w) {
        switch (w->level) {
        case VSS_APP_FRONT_END:
                return 0;
        case VSS_APP_BACK_END:
                return 1;
        default:
                return 2;
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-dbus.c: the bus side of writers: the org.vsslinux.VSS1.Writer methods (Subscribe,
 * Unsubscribe) and the event calls vssd makes on a writer's connection
 * (org.vsslinux.VSS1.WriterEvents on VSS_BUS_WRITER_PATH), with their a{sv} context and the
 * parsing of the answers: (b ok, i failure) for backup events, (b ok, WMD) for Identify.
 *
 * Reply classification: sd-bus answers a call whose deadline passed, and every call pending
 * on a connection that closed, with org.freedesktop.DBus.Error.NoReply; the connection state
 * tells which of the two happened.
 */
#include <stdlib.h>
#include <string.h>

#include "vss-bus.h"
#include "xml-util.h"
#include "vssd/backup-bcd.h"
#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/writer-registry.h"

static bool string_ok(const char *s, bool allow_empty) {
        return s && (allow_empty || s[0]) && strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING;
}

static int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *writer_id, *name, *instance_name;
        int32_t usage, source, level;
        uint32_t freeze_timeout_ms, event_flags;
        WriterRegistration reg = {};
        Writer *w;
        vss_id_str s;
        int r;

        r = sd_bus_message_read(m, "sssiiiuu", &writer_id, &name, &instance_name, &usage, &source, &level,
                                &freeze_timeout_ms, &event_flags);
        if (r < 0)
                return r;

        if (!client_may_subscribe(c))
                return vss_hr_to_bus_error(error, E_ACCESSDENIED,
                                           "uid %u may not register writers (needs root, group \"backup\" or --allow-writer-uid)",
                                           (unsigned) c->ucred.uid);
        if (c->role == CLIENT_ROLE_REQUESTER)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE,
                                           "this connection is a requester; a writer needs its own connection");
        if (c->writer)
                return vss_hr_to_bus_error(error, VSS_E_WRITER_ALREADY_SUBSCRIBED,
                                           "this connection already subscribed writer \"%s\"", c->writer->name);

        if (vss_id_parse(writer_id, &reg.class_id) != S_OK || vss_id_is_null(&reg.class_id))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "writer id is not a valid non-null id");
        if (!string_ok(name, false))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "writer name must be 1..%u bytes", VSS_MAX_STRING);
        if (!string_ok(instance_name, true))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "instance name longer than %u bytes", VSS_MAX_STRING);
        if (usage < VSS_UT_UNDEFINED || usage > VSS_UT_OTHER)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "usage type %d out of range", usage);
        if (source < VSS_ST_UNDEFINED || source > VSS_ST_OTHER)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "source type %d out of range", source);
        if (level < VSS_APP_AUTO || level > VSS_APP_SYSTEM_RM)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "application level %d out of range", level);
        if (freeze_timeout_ms > VSSD_MAX_FREEZE_TIMEOUT_MS)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "freeze timeout %u ms above the limit of %u ms",
                                           freeze_timeout_ms, VSSD_MAX_FREEZE_TIMEOUT_MS);

        reg.name = name;
        reg.instance_name = instance_name;
        reg.usage = usage;
        reg.source = source;
        reg.level = level;
        reg.freeze_timeout_ms = freeze_timeout_ms;
        reg.event_flags = event_flags;

        r = writer_register(c->manager, c, &reg, &w);
        if (r == -EUSERS)
                return vss_hr_to_bus_error(error, VSS_E_WRITER_STATUS_NOT_AVAILABLE,
                                           "%u writers are subscribed, the limit; retry when fewer are",
                                           c->manager->n_writers);
        if (r < 0)
                return vss_hr_to_bus_error(error, E_OUTOFMEMORY, "cannot register the writer");

        c->writer = w;
        c->role = CLIENT_ROLE_WRITER;
        s = vss_id_to_str(&w->instance_id);
        return sd_bus_reply_method_return(m, "s", s.s);
}

static int method_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        Writer *w;

        if (!c->writer)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE, "no writer is subscribed on this connection");

        /* Backups in flight treat it as gone, exactly as on a disconnect (docs/dbus-api.md). */
        w = TAKE_PTR(c->writer);
        writer_leave(w);
        return sd_bus_reply_method_return(m, NULL);
}

const sd_bus_vtable writer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Subscribe",
                                SD_BUS_ARGS("s", writer_id, "s", writer_name, "s", instance_name, "i", usage,
                                            "i", source, "i", level, "u", freeze_timeout_ms, "u", event_flags),
                                SD_BUS_RESULT("s", instance_id),
                                method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unsubscribe", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unsubscribe,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ------------------------------------------------------------------------------------------ */
/* Events                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int append_id(sd_bus_message *m, const char *key, const vss_id *id) {
        vss_id_str s = vss_id_to_str(id ?: &VSS_ID_NULL);

        return sd_bus_message_append(m, "{sv}", key, "s", s.s);
}

/* The writer's own components: the summary `components` and its slice `components_xml`. */
static int append_components(sd_bus_message *m, const BackupComponents *bcd, const Writer *w) {
        _cleanup_free_ char *xml = NULL;
        const BcdWriter *bw;
        int r;

        assert(bcd);

        bw = backup_components_find_writer(bcd, &w->instance_id);

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "components");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a" VSS_BUS_SIG_EVENT_COMP);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', VSS_BUS_SIG_EVENT_COMP);
        for (size_t i = 0; r >= 0 && bw && i < bw->n_components; i++) {
                const BcdComponent *c = bw->components[i];

                r = sd_bus_message_append(m, VSS_BUS_SIG_EVENT_COMP, (uint32_t) c->type, c->logical_path, c->name,
                                          "", c->backup_succeeded);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        r = bcd_writer_slice_xml(bcd, &w->instance_id, &xml);
        if (r < 0)
                return r;
        return sd_bus_message_append(m, "{sv}", "components_xml", "s", xml);
}

static int append_context(sd_bus_message *m, const EventContext *ctx, const Writer *w) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        if (ctx->backup_id) {
                r = append_id(m, "backup_id", ctx->backup_id);
                if (r < 0)
                        return r;
                r = append_id(m, "snapshot_set_id", ctx->snapshot_set_id);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_append(m, "{sv}", "context", "u", ctx->context);
        if (r < 0)
                return r;

        if (ctx->has_backup_state) {
                r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}",
                                          "backup_type", "u", (uint32_t) ctx->backup_type,
                                          "select_components", "b", ctx->select_components,
                                          "bootable_system_state", "b", ctx->bootable_system_state,
                                          "partial_file_support", "b", ctx->partial_file_support);
                if (r < 0)
                        return r;
        }

        if (ctx->has_volumes) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "volumes");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t i = 0; r >= 0 && i < ctx->n_volumes; i++)
                        r = sd_bus_message_append(m, "s", ctx->volumes[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }

        if (ctx->has_components) {
                r = append_components(m, ctx->bcd, w);
                if (r < 0)
                        return r;
        }

        return sd_bus_message_close_container(m);
}

/* The writer's identity is what it subscribed with; its Identify reply may not rewrite it. */
static int metadata_adopt_identity(WriterMetadata *md, const Writer *w) {
        _cleanup_free_ char *name = NULL, *instance_name = NULL;

        if (!vss_id_equal(&md->writer_id, &w->class_id))
                return -EBADMSG;

        name = strdup(w->name);
        instance_name = strdup(w->instance_name);
        if (!name || !instance_name)
                return -ENOMEM;

        free(md->writer_name);
        md->writer_name = TAKE_PTR(name);
        free(md->instance_name);
        md->instance_name = TAKE_PTR(instance_name);
        md->instance_id = w->instance_id;
        md->usage_type = w->usage;
        md->source_type = w->source;
        md->freeze_timeout_ms = w->freeze_timeout_ms;
        return 0;
}

/* The `out` dictionary of a backup event's answer; unknown keys are skipped. */
static int read_event_out(sd_bus_message *reply, EventOutcome *o) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *xml;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "components_xml")) {
                        size_t len;

                        r = sd_bus_message_read(reply, "v", "s", &xml);
                        if (r < 0)
                                return r;
                        len = strlen(xml);
                        if (o->components_xml || len > XML_MAX_DOCUMENT_SIZE)
                                return -EBADMSG;
                        o->components_xml = strdup(xml);
                        if (!o->components_xml)
                                return -ENOMEM;
                        o->components_xml_len = len;
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static void parse_reply(EventCall *call, sd_bus_message *reply, EventOutcome *o) {
        Writer *w = call->writer;
        const sd_bus_error *e;
        int ok, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                e = sd_bus_message_get_error(reply);

                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY)) {
                        bool closed = sd_bus_is_open(sd_bus_message_get_bus(reply)) <= 0 ||
                                (e->message && !strstr(e->message, "timed out"));

                        o->status = closed ? EVENT_GONE : EVENT_TIMED_OUT;
                        if (!closed)
                                writer_note_timeout(w);
                        return;
                }
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_DISCONNECTED)) {
                        o->status = EVENT_GONE;
                        return;
                }

                /* The writer's library answered with an error instead of (b, i). */
                log_warning("Writer \"%s\" answered %s with error %s: %s", w->name, call->method,
                            strempty(e->name), strempty(e->message));
                o->status = EVENT_VETO;
                o->failure = vss_hr_from_bus_error(e, -EIO);
                return;
        }

        r = sd_bus_message_read(reply, "b", &ok);
        if (r < 0)
                goto bad;

        if (call->identify) {
                if (!ok) {
                        o->status = EVENT_VETO;
                        return;
                }
                r = writer_metadata_read(reply, &o->metadata);
                if (r < 0)
                        goto bad;
                r = metadata_adopt_identity(o->metadata, w);
                if (r < 0)
                        goto bad;
                o->status = EVENT_OK;
                return;
        }

        r = sd_bus_message_read(reply, "i", &o->failure);
        if (r < 0)
                goto bad;
        /* (b, i) is the answer of libvss before the documents; (b, i, a{sv}) since. */
        r = sd_bus_message_at_end(reply, false);
        if (r < 0)
                goto bad;
        if (r == 0) {
                r = read_event_out(reply, o);
                if (r < 0)
                        goto bad;
        }
        o->status = ok ? EVENT_OK : EVENT_VETO;
        return;

bad:
        log_warning("Writer \"%s\" sent a malformed answer to %s: %s", w->name, call->method, strerror(-r));
        o->metadata = writer_metadata_free(o->metadata);
        free(o->components_xml);
        o->components_xml = NULL;
        o->status = EVENT_BAD_REPLY;
        o->failure = S_OK;
}

static int on_event_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        EventCall *call = userdata;
        EventOutcome o = { .status = EVENT_BAD_REPLY, .failure = S_OK };

        /* The reply callback, not the connection's filter, sees a reply: the gate learns it was read. */
        client_input_note_taken(call->writer->client, reply);
        parse_reply(call, reply, &o);
        event_call_complete(call, &o);
        return 0;
}

int writer_send_event(Writer *w, const char *method, const EventContext *ctx, uint64_t timeout_usec,
                      writer_event_handler_t handler, void *userdata, EventCall **ret_call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ EventCall *call = NULL;
        uint64_t queued = 0;
        int r;

        assert(w);
        assert(method);
        assert(ctx);
        assert(handler);
        assert(ret_call);

        if (writer_is_gone(w))
                return -ENOTCONN;

        /* A writer that stopped reading does not make vssd hold ever more for it: past
         * --max-queued messages waiting in vssd it misses this event, which counts as gone
         * (sd-bus itself never blocks on its socket, it queues). */
        if (sd_bus_get_n_queued_write(w->client->bus, &queued) >= 0 && queued >= w->manager->config.max_queued)
                return -ENOBUFS;

        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;

        r = sd_bus_message_new_method_call(w->client->bus, &m, NULL, VSS_BUS_WRITER_PATH, VSS_BUS_IFACE_EVENTS,
                                           method);
        if (r < 0)
                return r;
        r = append_context(m, ctx, w);
        if (r < 0)
                return r;

        r = sd_bus_call_async(w->client->bus, &call->slot, m, on_event_reply, call, timeout_usec);
        if (r < 0)
                return r;
        client_bus_changed(w->client);  /* its timeout to arm, maybe output to wait for */

        call->writer = writer_ref(w);
        call->method = method;
        call->identify = streq(method, "Identify");
        call->handler = handler;
        call->userdata = userdata;
        LIST_PREPEND(calls, w->calls, call);

        log_debug("Sent %s to writer \"%s\" (timeout %llu ms).", method, w->name,
                  (unsigned long long) (timeout_usec / USEC_PER_MSEC));
        *ret_call = TAKE_PTR(call);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-registry.h: the writers subscribed to vssd, and the one way vssd talks to a writer:
 * an event call on the writer's connection (writer_send_event).
 *
 * A Writer is registered by its connection's Subscribe and leaves on Unsubscribe or when the
 * connection closes. It is reference counted because backups keep the writers they gathered
 * (with their per-backup session state, seed 002: a writer may be in several backups at once)
 * after the writer itself is gone. Nothing per backup is stored here.
 *
 * Every event call in flight is listed on its writer, so a writer that leaves completes its
 * calls at once as EVENT_GONE instead of leaving a round waiting for a timeout.
 */
#pragma once

#include "macro.h"
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "vss/vss-common.h"
#include "vssd/list.h"
#include "vssd/manager.h"
#include "writer-metadata.h"

typedef struct EventCall EventCall;

struct Writer {
        unsigned n_ref;
        Manager *manager;
        Client *client;                 /* NULL once the writer left */

        vss_id class_id;
        vss_id instance_id;             /* generated at Subscribe */
        char *name;
        char *instance_name;            /* "" when none */
        vss_usage_type usage;
        vss_source_type source;
        vss_application_level level;
        uint32_t freeze_timeout_ms;
        uint32_t event_flags;           /* the VSS_SM_* bits it subscribed with */
        uint32_t skip_events;           /* VSS_BUS_SM_NO_*: events it has no callback for */

        EventCall *calls;               /* event calls in flight */

        /* An event call to it timed out and no answer of any kind came from it since: Abort
         * and BackupShutdown rounds still send it their events but do not wait for it
         * (event-round.c). */
        bool unresponsive;

        /* The state of its most recent finished backup session (VSS_WS_STABLE if none), for
         * the Admin interface's ListWriters. */
        vss_writer_state last_state;
        vss_hr last_failure;
        LIST_FIELDS(Writer, writers);
};

/* What Subscribe asked for. Strings borrowed. */
typedef struct WriterRegistration {
        vss_id class_id;
        const char *name;
        const char *instance_name;
        vss_usage_type usage;
        vss_source_type source;
        vss_application_level level;
        uint32_t freeze_timeout_ms;     /* 0: the VSS default, 60000 */
        uint32_t event_flags;           /* as sent: VSS_SM_* and VSS_BUS_SM_NO_* bits */
} WriterRegistration;

#define VSSD_DEFAULT_FREEZE_TIMEOUT_MS 60000U
#define VSSD_MAX_FREEZE_TIMEOUT_MS (24U * 3600U * 1000U)

/*
 * writer_register: add a writer for client c with a fresh instance id.
 * Returns 0, -EUSERS when the registry is full (config.max_writers), -ENOMEM.
 * *ret is owned by the registry (borrowed by the caller; writer_ref to keep it).
 */
int writer_register(Manager *m, Client *c, const WriterRegistration *reg, Writer **ret);

/*
 * writer_leave: the writer leaves the registry (Unsubscribe or disconnect). Every event call
 * in flight completes as EVENT_GONE before this returns; the registry's reference is dropped.
 * The caller must hold its own reference if it touches w afterwards. NULL ok.
 */
void writer_leave(Writer *w);

Writer *writer_ref(Writer *w);
Writer *writer_unref(Writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Writer *, writer_unref);

/* writer_note_session: remember state/failure as the writer's latest session outcome. */
void writer_note_session(Writer *w, vss_writer_state state, vss_hr failure);

/* writer_note_timeout: an event call to w went unanswered past its deadline. */
void writer_note_timeout(Writer *w);

/* writer_note_answer: a method reply or error arrived on w's connection (client-input.c). */
void writer_note_answer(Writer *w);

/* writer_is_unresponsive: see Writer.unresponsive. */
bool writer_is_unresponsive(const Writer *w);

/*
 * writer_skips_event: w said it has no callback for method (a WriterEvents member): an event
 * round counts it as answered "ok" without sending it (vss-bus.h).
 */
bool writer_skips_event(const Writer *w, const char *method);

/* writer_is_gone: true once the writer left (no more events can reach it). */
bool writer_is_gone(const Writer *w);

/* writer_freeze_timeout_usec: the writer's Freeze→Thaw bound in µs. */
uint64_t writer_freeze_timeout_usec(const Writer *w);

/* writer_level_group: 0 for FRONT_END, 1 for BACK_END, 2 for SYSTEM and every other level:
 * the Freeze order (Thaw runs the groups backwards). */
unsigned writer_level_group(const Writer *w);
#define WRITER_LEVEL_GROUPS 3U

/* The a{sv} context of an event (docs/dbus-api.md "Context keys"). Borrowed pointers. */
typedef struct EventContext {
        const vss_id *backup_id;        /* NULL: no backup_id/snapshot_set_id keys (Identify) */
        const vss_id *snapshot_set_id;
        uint32_t context;
        bool has_backup_state;
        vss_backup_type backup_type;
        bool select_components;
        bool bootable_system_state;
        bool partial_file_support;
        bool has_volumes;
        char *const *volumes;
        size_t n_volumes;
        /* The backup's Backup Components Document: each writer gets only its own components,
         * as `components` (a(usssb)) and as `components_xml` (its slice, backup-bcd.h). */
        bool has_components;
        const struct BackupComponents *bcd;
} EventContext;

typedef enum EventStatus {
        EVENT_PENDING,
        EVENT_OK,          /* the callback returned true */
        EVENT_VETO,        /* the callback returned false */
        EVENT_TIMED_OUT,   /* no answer within the timeout */
        EVENT_GONE,        /* the writer left, or its connection broke */
        EVENT_CANCELLED,   /* vssd stopped waiting (requester cancelled) */
        EVENT_BAD_REPLY,   /* an answer that breaks the protocol */
        _EVENT_STATUS_MAX,
} EventStatus;

typedef struct EventOutcome {
        EventStatus status;
        vss_hr failure;                 /* the writer's SetWriterFailure code, S_OK if none */
        WriterMetadata *metadata;       /* Identify with EVENT_OK: the validated document */
        char *components_xml;           /* backup events: the writer's edited slice, if it sent one */
        size_t components_xml_len;
} EventOutcome;

const char *event_status_to_string(EventStatus s);

/* The handler owns o->metadata and o->components_xml (may TAKE_PTR them); it must not free
 * the call. */
typedef void (*writer_event_handler_t)(Writer *w, EventOutcome *o, void *userdata);

/*
 * writer_send_event: call method (a VSS_BUS_IFACE_EVENTS member) on the writer's connection
 * with ctx, answer within timeout_usec. handler runs exactly once, later, from the event loop
 * (reply, timeout, writer gone), unless the call is cancelled first. *ret_call is borrowed:
 * valid until the handler runs or event_call_cancel. Returns 0, -ENOTCONN when the writer is
 * gone (no handler call), or a negative errno from sd-bus.
 */
int writer_send_event(Writer *w, const char *method, const EventContext *ctx, uint64_t timeout_usec,
                      writer_event_handler_t handler, void *userdata, EventCall **ret_call);

/* event_call_cancel: forget the call; its handler will not run; a late reply is dropped. NULL ok. */
void event_call_cancel(EventCall *c);

/* One event call in flight; owned by its writer's list. Internal to writer-*.c. */
struct EventCall {
        Writer *writer;
        sd_bus_slot *slot;
        const char *method;             /* static string */
        bool identify;
        writer_event_handler_t handler;
        void *userdata;
        LIST_FIELDS(EventCall, calls);
};

/* event_call_complete: detach c, run its handler with o, free c (and o->metadata and
 * o->components_xml unless the handler took them). Internal to writer-*.c. */
void event_call_complete(EventCall *c, EventOutcome *o);

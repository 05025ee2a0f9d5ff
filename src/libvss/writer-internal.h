/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-internal.h: the structs behind vss_writer and the pieces its files share:
 * writer.c (options, subscribe, unsubscribe), writer-events.c (the WriterEvents object, the
 * event queue, the callback thread and the Freeze safety net), event-context.c (the a{sv}
 * context of an event), writer-helpers.c (the protected query helpers),
 * writer-components.c and writer-metadata-builder.c (the objects handed to callbacks).
 *
 * Threads and locks: the I/O thread of the writer's BusConn runs the method handlers with the
 * bus lock held; they parse the event and queue it under the writer's own lock (lock order:
 * bus lock, then writer lock, never the reverse). Callbacks run one at a time (`running`),
 * with no lock held, on one of two threads: as a rule on the I/O thread itself, from its idle
 * hook once it has dispatched what arrived (no hand-off, no context switch); otherwise on the
 * callback thread (libvss's own Aborts, events queued before Subscribe was answered, the ones
 * left when leaving). The callback thread also stands in for the I/O thread: when a callback
 * there runs longer than LIBVSS_STAND_IN_USEC, it serves the connection until the callback
 * returns, so Thaw, Abort and a lost connection are still seen on time. The reply is sent by
 * the thread that ran the callback, with the bus lock.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "backup-components.h"
#include "bus-conn.h"
#include "component-view.h"
#include "vss/vss-writer.h"
#include "writer-metadata.h"

/* Events queued for the callback thread beyond which vssd is told to retry later. */
#define LIBVSS_MAX_QUEUED_EVENTS 64U
/* Snapshot sets one writer may have frozen (or recently aborted) at once. */
#define LIBVSS_MAX_FREEZE_GUARDS 64U
/* Keys an event context may carry; the protocol defines nine. */
#define LIBVSS_MAX_CONTEXT_KEYS 64U
/* How long subscribing waits for vssd to answer. */
#define LIBVSS_SUBSCRIBE_TIMEOUT_USEC (60ULL * USEC_PER_SEC)
/* How long a callback may keep the I/O thread before the callback thread serves the
 * connection in its place (writer-events.c). */
#define LIBVSS_STAND_IN_USEC (5ULL * USEC_PER_MSEC)
/* How long unsubscribing waits for vssd to acknowledge. */
#define LIBVSS_UNSUBSCRIBE_TIMEOUT_USEC (10ULL * USEC_PER_SEC)

typedef enum EventType {
        EVENT_IDENTIFY,
        EVENT_PREPARE_FOR_BACKUP,
        EVENT_PREPARE_FOR_SNAPSHOT,
        EVENT_FREEZE,
        EVENT_THAW,
        EVENT_POST_SNAPSHOT,
        EVENT_ABORT,
        EVENT_BACKUP_COMPLETE,
        EVENT_BACKUP_SHUTDOWN,
        EVENT_PRE_RESTORE,
        EVENT_POST_RESTORE,
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -1,
} EventType;

#define EVENT_BIT(t) (1U << (t))

typedef struct EventComponent {
        vss_component_type type;
        char *logical_path;     /* "" for the root */
        char *name;
        bool backup_succeeded;
} EventComponent;

/* The context dictionary of one event; has_* false when the key was absent. */
typedef struct EventContext {
        char *backup_id;                /* NULL when absent */
        bool has_snapshot_set_id;
        vss_id snapshot_set_id;
        bool has_context;
        uint32_t context;
        bool has_backup_type;
        vss_backup_type backup_type;
        bool has_select_components;
        bool select_components;
        bool bootable_system_state;
        bool partial_file_support;
        bool has_volumes;
        char **volumes;                 /* NULL-terminated */
        size_t n_volumes;
        bool has_components;
        EventComponent *components;
        size_t n_components;
        char *components_xml;           /* this writer's slice of the BCD; NULL when absent */
} EventContext;

typedef struct Event {
        struct Event *next;
        EventType type;
        /* The call to answer, or NULL for an Abort libvss raised itself. Referenced and
         * unreferenced with the bus lock held only (sd-bus refcounts are not atomic). */
        sd_bus_message *message;
        EventContext ctx;
        /* Answer without running the callback: the set was already aborted locally. */
        bool suppressed;
} Event;

/* One snapshot set between Freeze and Thaw/Abort, or aborted by libvss itself. */
typedef struct FreezeGuard {
        vss_id set_id;
        uint64_t deadline_usec;         /* CLOCK_MONOTONIC */
        bool aborted_locally;
        EventContext ctx;               /* the Freeze's context, for the local Abort */
} FreezeGuard;

struct vss_create_writer_metadata {
        WriterMetadata *md;
};

/*
 * The components handed to one callback: the writer's slice of the Backup Components
 * Document, parsed from the event (or built from the `components` summary when vssd sent no
 * slice). dirty: the callback edited it, so the slice goes back with the answer.
 */
struct vss_writer_components {
        BackupComponents *bcd;
        vss_component *items;
        size_t n_items;
        bool dirty;
};

struct vss_writer {
        /* Options, copied at vss_writer_new. */
        vss_id writer_id;
        char *writer_name;
        char *instance_name;            /* "" when none */
        vss_usage_type usage_type;
        vss_source_type source_type;
        vss_application_level level;
        uint32_t freeze_timeout_ms;
        char *socket_path;              /* NULL: default */
        vss_writer_callbacks cb;
        void *userdata;

        /* Serialises subscribe and unsubscribe. */
        pthread_mutex_t api_lock;
        BusConn *conn;
        sd_bus_slot *vtable_slot;
        bool subscribed;
        vss_id instance_id;

        /* Wakes the callback thread (eventfd); armed while the I/O thread runs a callback
         * (timerfd, LIBVSS_STAND_IN_USEC). All three from vss_writer_new to free. */
        int worker_fd;
        int stand_in_fd;
        /* Fires at the nearest Freeze guard deadline (timerfd, absolute); set by whoever arms
         * a nearer guard, so arming one wakes nobody. */
        int deadline_fd;

        /* Everything below is guarded by lock. */
        pthread_mutex_t lock;
        pthread_cond_t cond;            /* CLOCK_MONOTONIC; broadcast when a callback ends */
        Event *queue_head, *queue_tail;
        size_t n_queued;
        FreezeGuard guards[LIBVSS_MAX_FREEZE_GUARDS];
        size_t n_guards;
        size_t n_local_pending;         /* local Aborts queued or running */
        bool registered;                /* Subscribe answered: events may run */
        bool disconnected;              /* the connection to vssd was lost */
        bool closing;                   /* unsubscribing: thaw every frozen set now */
        bool stopping;                  /* the callback thread must end */
        bool running;                   /* a callback runs (on either thread) */
        bool standing_in;               /* the callback thread serves the connection */
        uint64_t armed_deadline;        /* what deadline_fd is set to (UINT64_MAX: disarmed) */
        pthread_t worker;
        bool worker_started;

        /* Only the thread that set `running`. */
        WriterMetadata *identify_md;            /* what the last on_identify built (seed 003 checks) */
        vss_writer_components *last_components; /* kept until the next view: stale use is refused */
};

/* The callback being run, on the thread running it; set only while a callback runs. */
typedef struct CallbackFrame {
        vss_writer *writer;
        const Event *event;
        vss_hr failure;                         /* from vss_writer_set_writer_failure */
        vss_create_writer_metadata *metadata;   /* on_identify only */
        vss_writer_components *components;      /* NULL when none was handed out */
} CallbackFrame;

extern _Thread_local CallbackFrame *writer_current_frame;

/* event-context.c */
/*
 * event_context_read: read the a{sv} context of an event, enforcing the protocol's types and
 * the limits of vss-bus.h. Unknown keys are skipped. Returns 0 or negative errno
 * (-EBADMSG for a wrong type or a value over a limit); *ret is untouched on failure.
 */
int event_context_read(sd_bus_message *m, EventContext *ret);
/* event_context_copy: deep copy. Returns 0 or -ENOMEM (dst untouched). */
int event_context_copy(EventContext *dst, const EventContext *src);
/* event_context_done: free the contents and zero the struct. */
void event_context_done(EventContext *c);

/* writer-events.c */
/* The WriterEvents vtable served on VSS_BUS_WRITER_PATH, userdata the vss_writer. */
extern const sd_bus_vtable writer_events_vtable[];
/* writer_worker_main: the callback thread (pthread start routine, argument the writer). */
void *writer_worker_main(void *p);
/* writer_io_idle: the BusConn idle hook of a writer connection (runs a queued event). */
bool writer_io_idle(BusConn *c, void *userdata);
/* writer_wake_worker: wake the callback thread to re-check the writer's state. Any lock. */
void writer_wake_worker(vss_writer *w);
/* writer_on_disconnect: BusConn disconnect callback of a writer connection. */
void writer_on_disconnect(BusConn *c, void *userdata);
/*
 * writer_drop_queue: free every queued event (bus lock taken for their messages) and every
 * guard. Only once the I/O and callback threads have ended.
 */
void writer_drop_queue(vss_writer *w);
/* writer_frozen_count_locked: sets frozen and not yet thawed or aborted (writer lock held). */
size_t writer_frozen_count_locked(const vss_writer *w);

/* writer-components.c */
/*
 * writer_components_new: the IVssWriterComponents handed to a callback of writer w: NULL
 * (*ret) when the backup is not in component mode, else a view of w's components in ctx
 * (possibly none), owning its copy of the document. Returns 0, -ENOMEM, or -EBADMSG when the
 * slice vssd sent cannot be loaded. Free with writer_components_free (NULL is a no-op).
 */
int writer_components_new(const vss_writer *w, const EventContext *ctx, vss_writer_components **ret);
void writer_components_free(vss_writer_components *c);
/*
 * writer_components_edits_xml: the edited slice to send back with the answer: S_OK with *ret
 * NULL when nothing was edited, S_OK with *ret (malloc'd) otherwise, or the failure.
 */
vss_hr writer_components_edits_xml(const vss_writer_components *c, char **ret);

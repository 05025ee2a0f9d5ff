/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requester-internal.h: the structs behind vss_requester, vss_async and the metadata views,
 * shared by the requester's files (requester.c: the calls; async.c: IVssAsync;
 * examine-metadata.c: the read views; enum-object.c: snapshot properties and Query).
 *
 * Locking: everything a reply callback can touch (the requester's caches, an async's
 * result) is guarded by the lock of the requester's BusConn, because reply callbacks run on
 * the I/O thread with that lock held.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus-conn.h"
#include "component-view.h"
#include "vss/vss-requester.h"
#include "writer-metadata.h"

/* Most writers one GatherWriterMetadata / GatherWriterStatus reply may list. */
#define LIBVSS_MAX_WRITERS 4096U
/* Most objects one Query reply may list. */
#define LIBVSS_MAX_QUERY_OBJECTS 65536U
/* Reply timeout of the calls vssd answers at once. Deferred calls have none: vssd bounds them. */
#define LIBVSS_CALL_TIMEOUT_USEC (120ULL * USEC_PER_SEC)

typedef enum AsyncKind {
        ASYNC_GATHER_WRITER_METADATA,
        ASYNC_PREPARE_FOR_BACKUP,
        ASYNC_DO_SNAPSHOT_SET,
        ASYNC_BACKUP_COMPLETE,
        ASYNC_GATHER_WRITER_STATUS,
        ASYNC_PRE_RESTORE,
        ASYNC_POST_RESTORE,
        _ASYNC_KIND_MAX,
} AsyncKind;

typedef struct WriterStatus {
        vss_id instance_id;
        vss_id writer_id;
        char *writer_name;
        vss_writer_state state;
        vss_hr failure;
} WriterStatus;

struct vss_wm_component {
        const WriterMetadata *md;
        const WmComponent *component;
};

struct vss_examine_writer_metadata {
        WriterMetadata *md;
        vss_wm_component *components; /* one view per md->components[i] */
        bool owned;                   /* made by new_from_xml: the caller frees it */
};

struct vss_async {
        unsigned n_ref;
        BusConn *conn;                /* owned reference */
        vss_requester *requester;     /* not owned; NULL once the requester is released */
        AsyncKind kind;
        sd_bus_slot *slot;            /* the pending call; unreferenced with the lock held */
        bool expected;                /* its reply is counted by bus_conn_expect_locked() */
        bool ended;
        vss_hr result;                /* once ended: S_OK, VSS_S_ASYNC_CANCELLED or a failure */
};

struct vss_requester {
        BusConn *conn;
        vss_async *pending;           /* the last deferred operation started (owned ref) */

        vss_examine_writer_metadata **metadata;
        size_t n_metadata;
        bool metadata_gathered;       /* a GatherWriterMetadata finished successfully */
        bool metadata_cached;         /* ... and FreeWriterMetadata has not dropped it */

        WriterStatus *status;
        size_t n_status;
        bool status_gathered;
        bool status_cached;

        /* The document GetWriterComponentsCount fetched; the read views hold references. */
        BcdDocument *components_doc;

        char *error_message;
};

/* requester.c */
/* requester_set_error_locked: remember the detail text of a failure; returns hr. */
vss_hr requester_set_error_locked(vss_requester *r, vss_hr hr, const char *message);
/*
 * requester_store_reply_locked: a deferred operation's successful reply arrived; for the
 * Gather operations, decode it into r's caches. Returns S_OK or the failure to report.
 */
vss_hr requester_store_reply_locked(vss_requester *r, AsyncKind kind, sd_bus_message *reply);

/* async.c */
/*
 * async_new: a pending vss_async for kind on conn (takes its own conn reference), with one
 * reference for the caller. NULL on OOM.
 */
vss_async *async_new(BusConn *conn, vss_requester *r, AsyncKind kind);
vss_async *async_ref(vss_async *a);
/* The reply callback to pass to sd_bus_call_async with the async as userdata. */
int async_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
/* async_expect_locked: a's call was sent, its reply is for the I/O thread to read;
 * async_unexpect_locked: no more (the reply came, or a is dropped). Lock held. */
void async_expect_locked(vss_async *a);
void async_unexpect_locked(vss_async *a);
/* async_refresh_locked: end a pending async whose connection died (VSS_E_UNEXPECTED). */
void async_refresh_locked(vss_async *a);

/* examine-metadata.c */
/* examine_metadata_new: a read view owning md (freed with it, also on failure). NULL on OOM. */
vss_examine_writer_metadata *examine_metadata_new(WriterMetadata *md);
vss_examine_writer_metadata *examine_metadata_free(vss_examine_writer_metadata *e);

/* documents.c */
/*
 * writer_components_ext_new: the read view of the index-th writer with components in doc
 * (takes its own reference). S_OK, VSS_E_OBJECT_NOT_FOUND, E_OUTOFMEMORY.
 */
vss_hr writer_components_ext_new(BcdDocument *doc, unsigned index, vss_writer_components_ext **ret);

/* enum-object.c */
/*
 * snapshot_prop_read: read one VSS_BUS_SIG_SNAPPROP from m into *ret (strings owned by it).
 * Returns 0, -EBADMSG for an invalid id or over-long string, or a negative sd-bus errno.
 */
int snapshot_prop_read(sd_bus_message *m, vss_snapshot_prop *ret);
/*
 * enum_object_read: read a Query reply ("a" SNAPPROP or "a" PROVIDER) into a new
 * enumeration. Returns 0 or negative errno.
 */
int enum_object_read(sd_bus_message *m, vss_object_type type, vss_enum_object **ret);

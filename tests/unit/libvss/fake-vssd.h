/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-vssd.h: a tiny in-process stand-in for vssd, for libvss's unit tests.
 *
 * It listens on a Unix socket in a temporary directory and serves one client connection at a
 * time as a peer-to-peer sd-bus server on a thread of its own, speaking just enough of
 * docs/dbus-api.md for the tests: Subscribe/Unsubscribe for writers, a few Requester methods
 * (deferred ones it can leave unanswered, Cancel), and it can call the WriterEvents methods
 * on a subscribed writer and collect the replies. Everything is guarded by one mutex; the
 * tests wait on conditions with a generous safety limit, never on timing.
 */
#pragma once

#include <stdbool.h>

#include "vss/vss.h"
#include "writer-metadata.h"

typedef struct FakeVssd FakeVssd;

typedef enum FakeDeferredMode {
        FAKE_DEFERRED_NEVER,     /* keep the call; answer it only on Cancel */
        FAKE_DEFERRED_ANSWER,    /* answer at once (Gather: one writer's metadata / status) */
} FakeDeferredMode;

typedef enum FakeCancelMode {
        FAKE_CANCEL_HONOUR,      /* the deferred call fails with VSS_S_ASYNC_CANCELLED */
        FAKE_CANCEL_TOO_LATE,    /* the deferred call succeeds just before Cancel's reply */
} FakeCancelMode;

typedef struct FakeEventReply {
        bool is_error;
        bool ok;
        vss_hr failure;
        WriterMetadata *md;      /* Identify only; owned by the FakeVssd */
        char *components_xml;    /* the `out` dictionary's edited slice, if any; owned by the FakeVssd */
} FakeEventReply;

FakeVssd *fake_vssd_new(void);
/*
 * fake_vssd_set_components_xml: from now on, events sent with select_components carry this
 * `components_xml` slice too (NULL: only the `components` summary, as an older vssd). Copied.
 */
void fake_vssd_set_components_xml(FakeVssd *f, const char *xml);
void fake_vssd_free(FakeVssd *f);
const char *fake_vssd_socket_path(FakeVssd *f);

void fake_vssd_set_deferred_mode(FakeVssd *f, FakeDeferredMode mode);
void fake_vssd_set_cancel_mode(FakeVssd *f, FakeCancelMode mode);

/* Close the current client connection from the server side. */
void fake_vssd_disconnect(FakeVssd *f);

/* Requester methods received so far (all members counted). */
unsigned fake_vssd_requester_calls(FakeVssd *f);
/* Wait until a deferred call is held; false after the safety limit. */
bool fake_vssd_wait_deferred(FakeVssd *f);

bool fake_vssd_wait_subscribed(FakeVssd *f);
bool fake_vssd_unsubscribed(FakeVssd *f);
/* The instance id the fake hands out at Subscribe. */
vss_id fake_vssd_instance_id(void);

/*
 * Call WriterEvents.<member> on the subscribed writer with a context holding set_id (if
 * non-NULL), volumes (NULL-terminated, may be NULL), backup state keys, and
 * select_components. Returns a handle for fake_vssd_wait_reply, or -1.
 */
int fake_vssd_send_event(FakeVssd *f, const char *member, const vss_id *set_id, const char *const *volumes,
                         bool select_components);
/* Wait for the reply to event handle h; false after the safety limit. */
bool fake_vssd_wait_reply(FakeVssd *f, int h, FakeEventReply *ret);

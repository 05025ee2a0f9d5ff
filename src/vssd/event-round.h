/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * event-round.h: one writer event sent to a set of writers in parallel, and the collected
 * outcome of each: ok, veto with the writer's failure code, timed out, gone. The round's
 * completion callback runs once, from the event loop, when every writer has answered or
 * timed out (or left); never from inside event_round_start() or a writer's handler, so the
 * caller may free the round and start the next one from the callback.
 */
#pragma once

#include "macro.h"
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "vssd/writer-registry.h"

typedef struct EventRound EventRound;

typedef void (*event_round_done_t)(EventRound *r, void *userdata);

/*
 * event_round_new: an empty round for method (static string, a WriterEvents member). Each
 * writer's deadline is timeout_usec, or its own freeze timeout when timeout_usec is 0
 * (Freeze, Thaw). Returns 0 or -ENOMEM.
 */
int event_round_new(sd_event *e, const char *method, uint64_t timeout_usec, event_round_done_t done,
                    void *userdata, EventRound **ret);

/* event_round_add: include writer w; tag is the caller's index for it. 0 or -ENOMEM. */
int event_round_add(EventRound *r, Writer *w, size_t tag);

/*
 * event_round_start: send the event with ctx (used only during this call) to every writer
 * added. A writer that cannot be reached completes at once as EVENT_GONE. Returns 0 or
 * -ENOMEM (then nothing was sent and done will not run).
 */
int event_round_start(EventRound *r, const EventContext *ctx);

/*
 * event_round_expire: every writer still pending completes now with status (EVENT_TIMED_OUT
 * when an outer deadline passed, EVENT_CANCELLED when the requester cancelled); late replies
 * are dropped. done runs from the event loop as usual.
 */
void event_round_expire(EventRound *r, EventStatus status);

/* event_round_free: cancel what is pending without calling done; frees. NULL ok. */
EventRound *event_round_free(EventRound *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(EventRound *, event_round_free);

size_t event_round_count(const EventRound *r);
Writer *event_round_writer(const EventRound *r, size_t i);
size_t event_round_tag(const EventRound *r, size_t i);
/* The outcome of writer i; the caller may take ->metadata. */
EventOutcome *event_round_outcome(EventRound *r, size_t i);
const char *event_round_method(const EventRound *r);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-bus.c: a writer's sd-bus driven by vssd itself rather than attached to the event
 * loop (client.h, client_bus_drive).
 *
 * Why: sd_bus_attach_event() gives each connection a prepare callback, and sd-event runs every
 * prepare callback on every turn of the loop. With 100 writers subscribed, each turn, even one
 * that only reads one writer's answer, asked 100 buses for their events and timeout
 * (sd_event_prepare was 17.7 % of vssd's CPU in a DoSnapshotSet with 100 writers,
 * docs/benchmarks.md). A writer's connection needs none of that per turn: its input comes only
 * through the input gate, which calls sd_bus_process() itself when it moved bytes into the
 * pipe; what is left is to write out what the socket did not take at once, and to wake sd-bus
 * at the nearest deadline of a call vssd made (an event's timeout). Both change only when
 * sd-bus did something on that connection, so they are updated then (client_bus_process after
 * the gate moved bytes, client_bus_changed after vssd sends an event), not on every turn.
 *
 * A requester's or administrator's connection stays attached: there are few of them, and their
 * replies are sent from many places (async completions).
 */
#include <poll.h>

#include "vssd/client.h"
#include "vssd/log.h"

/* sd_bus_process() calls in one settle before the rest is left to the next turn (a timer at
 * 0): sd-bus never has more than a message or two queued here, as the gate feeds it one at a
 * time, so this bounds a misbehaving state, not the normal case. */
#define SETTLE_ROUNDS_MAX 16U

/* The output watch and the deadline, from what sd-bus wants now. */
static void bus_sources_update(Client *c) {
        uint64_t until = UINT64_MAX;
        int events, r;

        events = sd_bus_get_events(c->bus);
        (void) sd_event_source_set_enabled(c->bus_out, events > 0 && (events & POLLOUT) ? SD_EVENT_ON : SD_EVENT_OFF);

        r = sd_bus_get_timeout(c->bus, &until);
        if (r <= 0 || until == UINT64_MAX) {
                (void) sd_event_source_set_enabled(c->bus_timer, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_time(c->bus_timer, until) < 0 ||
            sd_event_source_set_enabled(c->bus_timer, SD_EVENT_ONESHOT) < 0)
                log_warning("Cannot arm the bus deadline of pid %d; its event timeouts may not fire.",
                            (int) c->ucred.pid);
}

/* Whether sd-bus has work it wants done now (a queued message, a closing connection). */
static bool bus_work_pending(Client *c) {
        uint64_t until = UINT64_MAX;

        return sd_bus_get_timeout(c->bus, &until) > 0 && until == 0;
}

/* After sd_bus_process() on a driven bus: process what sd-bus still wants done now, then
 * watch the socket and arm the deadline for what it wants next. */
static void bus_settle(Client *c) {
        assert(c->dispatching);

        if (!client_bus_driven(c))
                return;
        /* After the peer's end of stream, on until sd-bus has read the pipe to its end and
         * reported Disconnected (which ends c): nothing else would make it read again. */
        for (unsigned i = 0; i < SETTLE_ROUNDS_MAX && !c->free_requested; i++) {
                if (c->phase != CLIENT_INPUT_EOF && !bus_work_pending(c))
                        break;
                if (sd_bus_process(c->bus, NULL) <= 0)
                        break;
        }
        if (!c->free_requested)
                bus_sources_update(c);
}

void client_bus_changed(Client *c) {
        assert(c);

        if (client_bus_driven(c) && !c->dispatching)
                bus_sources_update(c);
}

bool client_bus_process(Client *c) {
        assert(c);

        /* One call reads and dispatches a message; a second would only find the pipe empty
         * (anything else sd-bus has to do, it does on its own turn, or, when driven, in
         * bus_settle). */
        c->dispatching = true;
        (void) sd_bus_process(c->bus, NULL);
        bus_settle(c);
        c->dispatching = false;

        if (c->free_requested) {
                client_free(c);
                return false;
        }
        return true;
}

/* The socket takes more output, or a deadline passed: let sd-bus do what it wanted. */
static int on_bus_out(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) client_bus_process(userdata);
        return 0;
}

static int on_bus_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) client_bus_process(userdata);
        return 0;
}

/* vssd is exiting: what sd-bus still holds for the writer goes out first, as an attached bus's
 * exit handler would do. */
static int on_bus_exit(sd_event_source *s, void *userdata) {
        Client *c = userdata;

        (void) sd_bus_flush(c->bus);
        return 0;
}

int client_bus_drive(Client *c) {
        sd_event *e = c->manager->event;
        int r;

        assert(c);

        if (client_bus_driven(c) || c->output_fd < 0)
                return 0;

        /* sd-bus's own watch on the socket goes first: one epoll set takes an fd once. */
        r = sd_bus_detach_event(c->bus);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &c->bus_out, c->output_fd, EPOLLOUT, on_bus_out, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->bus_out, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(e, &c->bus_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_bus_timer, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->bus_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_exit(e, &c->bus_exit, on_bus_exit, c);
        if (r < 0) {
                client_bus_stop(c);
                /* Attached again, it works as before, only slower. */
                if (sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL) < 0)
                        log_error("The bus of pid %d is neither attached nor driven: it will not be served.",
                                  (int) c->ucred.pid);
                return r;
        }

        bus_sources_update(c);
        log_debug("Connection of pid %d is a writer's: its bus is driven by vssd from now on.", (int) c->ucred.pid);
        return 0;
}

void client_bus_stop(Client *c) {
        c->bus_out = sd_event_source_disable_unref(c->bus_out);
        c->bus_timer = sd_event_source_disable_unref(c->bus_timer);
        c->bus_exit = sd_event_source_disable_unref(c->bus_exit);
}

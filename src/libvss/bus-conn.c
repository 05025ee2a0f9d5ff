/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-conn.c: the per-connection I/O thread and the lock around sd-bus.
 *
 * This file owns the only code in libvss that polls a vssd connection. The I/O thread loops:
 * with the lock held it lets sd-bus dispatch everything it can (reply callbacks, incoming
 * method calls), reads what to wait for next (fd, events, the nearest reply timeout), drops
 * the lock and polls the bus fd together with an eventfd that other threads write after they
 * queued a message. Keeping poll() outside the lock is what lets user threads send while the
 * I/O thread waits; keeping sd_bus_process() inside it is what makes sd-bus safe to share.
 *
 * A thread leaving the lock wakes the I/O thread only when what it should poll for changed
 * (bus_conn_unlock): a writer's reply, written out whole by sd_bus_send(), changes nothing,
 * and sparing the wake-up spares a context switch per event on a busy machine.
 *
 * Two additions serve a writer, whose every event would otherwise cross from the I/O thread
 * to a thread of its own and back (two context switches per writer per event): an idle hook
 * the I/O thread runs without the lock once it has dispatched everything (the writer runs its
 * callback there, bus_conn_set_idle), and bus_conn_serve(), with which another thread polls
 * and dispatches the connection in the I/O thread's place while that one is busy in the hook.
 *
 * A requester's synchronous call would cost the same hand-off: the I/O thread wakes for the
 * reply, then wakes the caller. On a direct connection (bus_conn_set_direct) the I/O thread
 * "parks" whenever no reply is expected that nobody waits for: it polls the bus fd with no
 * events (a hang-up is still reported) and resume_fd. A caller in bus_conn_call() that finds
 * it parked "leads": it polls bus fd and wake_fd and dispatches, under the lock as always,
 * until its reply is in; other callers meanwhile wait as they would for the I/O thread, and
 * lead in turn when it lets go. Only one thread reads input at a time (a leader, or the I/O
 * thread when not parked; both only on a hang-up), so no reply is taken from under a poll
 * that waits for it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bus-conn.h"
#include "macro.h"
#include "vss-bus.h"

struct BusConn {
        unsigned n_ref;
        sd_bus *bus;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        int wake_fd;

        pthread_t thread;
        bool thread_started;
        bool stop;      /* the owner asked the I/O thread to end */
        bool dead;      /* closed or lost: nothing more will be dispatched */
        bool closed;    /* bus_conn_close() ran */

        /* What the I/O thread polls for, as of its last bus_conn_process() (lock held). */
        short polled_events;
        uint64_t polled_until;

        bus_conn_disconnect_t on_disconnect;
        void *userdata;

        bus_conn_idle_t on_idle;
        void *idle_userdata;

        /* Direct replies (bus_conn_set_direct). While the I/O thread is parked it polls the bus
         * only for a hang-up, and resume_fd; a thread waiting in bus_conn_call() then leads:
         * it polls and dispatches itself. */
        bool direct;
        bool io_parked;         /* the I/O thread polls for a hang-up only (lock held to change) */
        bool leading;           /* a caller polls and dispatches in the I/O thread's place */
        unsigned n_expected;    /* replies that nobody waits for in bus_conn_call() */
        int resume_fd;
};

static void bus_conn_wake(BusConn *c) {
        uint64_t one = 1;

        /* A full counter (EAGAIN) still means "readable", so the wake-up is never lost: the
         * result needs no handling (tested, not cast away: glibc marks write() must-use). */
        if (write(c->wake_fd, &one, sizeof(one)) < 0)
                return;
}

static void bus_conn_resume(BusConn *c) {
        uint64_t one = 1;

        /* As bus_conn_wake(), for a parked I/O thread. */
        if (c->resume_fd >= 0 && write(c->resume_fd, &one, sizeof(one)) < 0)
                return;
}

static void drain_fd(int fd) {
        uint64_t v;

        /* Nothing to drain (EAGAIN) is as good as drained. */
        if (read(fd, &v, sizeof(v)) < 0)
                return;
}

static void bus_conn_drain_wake(BusConn *c) {
        drain_fd(c->wake_fd);
}

/*
 * Lock not held. Wait for the bus (pfd[0], as bus_conn_dispatch_locked() set it up) or a wake-up
 * through wake_fd, up to timeout_ms; the wake-up is consumed. The one wait of whichever thread
 * serves the connection: the I/O thread or a caller leading it.
 */
static void bus_conn_wait_unlocked(BusConn *c, struct pollfd pfd[static 2], int timeout_ms) {
        pfd[1] = (struct pollfd) { .fd = c->wake_fd, .events = POLLIN };
        if (poll(pfd, 2, timeout_ms) > 0 && (pfd[1].revents & POLLIN))
                bus_conn_drain_wake(c);
}

/* Lock held. Whether the I/O thread must poll the bus for input: always, unless the owner made
 * the connection direct; then only while a reply is expected that no leading caller polls
 * for. A parked I/O thread still notices a hang-up. */
static bool bus_conn_io_must_serve(BusConn *c) {
        return !c->direct || (c->n_expected > 0 && !c->leading);
}

static int poll_timeout_ms(uint64_t until) {
        uint64_t n, ms;

        if (until == UINT64_MAX)
                return -1;
        n = now_usec();
        if (until <= n)
                return 0;
        ms = (until - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return ms > INT_MAX ? INT_MAX : (int) ms;
}

/* Lock held. Learn what to poll for. */
static int bus_conn_poll_params(BusConn *c, struct pollfd *ret_pfd, int *ret_timeout_ms) {
        uint64_t until;
        int r, fd, events;

        fd = sd_bus_get_fd(c->bus);
        if (fd < 0)
                return fd;
        events = sd_bus_get_events(c->bus);
        if (events < 0)
                return events;
        r = sd_bus_get_timeout(c->bus, &until);
        if (r < 0)
                return r;

        *ret_pfd = (struct pollfd) { .fd = fd, .events = (short) events };
        *ret_timeout_ms = poll_timeout_ms(until);
        c->polled_events = (short) events;
        c->polled_until = until;
        return 0;
}

/* Lock held. Dispatch all that is ready and learn what to poll for. */
static int bus_conn_process(BusConn *c, struct pollfd *ret_pfd, int *ret_timeout_ms, bool *ret_any) {
        int r;

        /* A connection being closed returns each reply callback's 0 as it fails the pending
         * calls one by one: go on until it is closed (an error), or a caller could see its
         * call failed before the connection is dead. */
        for (;;) {
                r = sd_bus_process(c->bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        *ret_any = true;
                if (r == 0 && sd_bus_is_open(c->bus) > 0)
                        break;
        }
        return bus_conn_poll_params(c, ret_pfd, ret_timeout_ms);
}

/* Lock held. Whether the I/O thread's poll is out of date: sd-bus wants other events (output
 * queued), a nearer timeout (a new reply deadline; 0 when messages wait in its read queue),
 * or reports a failure the thread must see. */
static bool bus_conn_poll_stale(BusConn *c) {
        uint64_t until;
        int events;

        events = sd_bus_get_events(c->bus);
        if (events < 0 || (short) events != c->polled_events)
                return true;
        if (sd_bus_get_timeout(c->bus, &until) < 0)
                return true;
        return until < c->polled_until;
}

/* Lock held. Dispatch what is ready, broadcast if anything was, and learn what to poll for;
 * false once the connection is dead. The first thread to see it lost (the I/O thread or one serving in its place) marks it
 * dead and tells the owner, once: sd-bus has already failed every pending call with a
 * synthetic error reply while closing. */
static bool bus_conn_dispatch_locked(BusConn *c, struct pollfd *ret_pfd, int *ret_timeout_ms) {
        bool any = false, alive = !c->dead && bus_conn_process(c, ret_pfd, ret_timeout_ms, &any) >= 0;

        if (!alive && !c->dead) {
                c->dead = true;
                if (c->on_disconnect)
                        c->on_disconnect(c, c->userdata);
                any = true;
        }
        /* Waking the waiters for a round that dispatched nothing would cost each of them a
         * context switch for nothing. */
        if (any)
                pthread_cond_broadcast(&c->cond);
        return alive;
}

/*
 * I/O thread, lock held (released while parked). Poll the bus for a hang-up only (events 0:
 * POLLHUP and POLLERR are always reported) and resume_fd for a change of role. A hang-up is
 * dispatched here, so the loss is seen even with no call running; while a caller leads, input
 * is the leader's alone: the I/O thread does not dispatch, which would consume what the leader's
 * poll waits for.
 */
static void bus_conn_park_locked(BusConn *c) {
        struct pollfd pfd[2];
        struct pollfd unused;
        int r, timeout_ms;

        c->io_parked = true;
        /* A caller waiting as a follower may lead now. */
        pthread_cond_broadcast(&c->cond);

        pfd[0] = (struct pollfd) { .fd = sd_bus_get_fd(c->bus), .events = 0 };
        pfd[1] = (struct pollfd) { .fd = c->resume_fd, .events = POLLIN };
        pthread_mutex_unlock(&c->lock);

        r = poll(pfd, ELEMENTSOF(pfd), -1);
        if (r > 0 && (pfd[1].revents & POLLIN))
                drain_fd(c->resume_fd);

        pthread_mutex_lock(&c->lock);
        c->io_parked = false;
        if (r > 0 && pfd[0].fd >= 0 && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && !c->stop)
                (void) bus_conn_dispatch_locked(c, &unused, &timeout_ms);
}

static void *bus_conn_thread(void *p) {
        BusConn *c = p;

        pthread_mutex_lock(&c->lock);
        while (!c->stop && !c->dead) {
                struct pollfd pfd[2];
                int timeout_ms;

                if (!bus_conn_io_must_serve(c)) {
                        bus_conn_park_locked(c);
                        continue;
                }
                c->io_parked = false;   /* as it started: from here on it reads */

                if (!bus_conn_dispatch_locked(c, &pfd[0], &timeout_ms))
                        break;
                pthread_mutex_unlock(&c->lock);

                /*
                 * What the hook did (a reply sent, an event run) may have changed what to poll
                 * for: read that again. Nothing needs dispatching first: sd-bus's read queue
                 * was emptied above and nobody reads while the hook runs but a thread serving
                 * in our place, which empties it too; what arrived meanwhile makes the poll
                 * return at once. (Dispatching again would cost a read that fails with EAGAIN
                 * per event.)
                 */
                if (c->on_idle && c->on_idle(c, c->idle_userdata)) {
                        while (c->on_idle(c, c->idle_userdata))
                                ;
                        pthread_mutex_lock(&c->lock);
                        if (c->stop || c->dead || bus_conn_poll_params(c, &pfd[0], &timeout_ms) < 0)
                                continue;
                        pthread_mutex_unlock(&c->lock);
                }

                bus_conn_wait_unlocked(c, pfd, timeout_ms);
                pthread_mutex_lock(&c->lock);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

void bus_conn_set_idle(BusConn *c, bus_conn_idle_t on_idle, void *userdata) {
        assert(c);
        assert(!c->thread_started);
        assert(!c->direct);
        c->on_idle = on_idle;
        c->idle_userdata = userdata;
}

int bus_conn_set_direct(BusConn *c) {
        assert(c);
        assert(!c->thread_started);
        assert(!c->on_idle);

        c->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->resume_fd < 0)
                return negative_errno();
        c->direct = true;
        return 0;
}

void bus_conn_expect_locked(BusConn *c) {
        assert(c);
        if (!c->direct)
                return;
        if (c->n_expected++ == 0 && !c->leading)
                bus_conn_resume(c);
}

void bus_conn_expect_done_locked(BusConn *c) {
        assert(c);
        if (!c->direct)
                return;
        assert(c->n_expected > 0);
        /* The I/O thread parks by itself after its next dispatch: no wake-up needed. */
        c->n_expected--;
}

bool bus_conn_is_io_thread(BusConn *c) {
        assert(c);
        return c->thread_started && pthread_equal(pthread_self(), c->thread);
}

bool bus_conn_serve(BusConn *c, int stop_fd) {
        bool stopped = false;

        assert(c);
        assert(!bus_conn_is_io_thread(c));

        pthread_mutex_lock(&c->lock);
        while (!c->stop) {
                struct pollfd pfd[3];
                int r, timeout_ms;

                if (!bus_conn_dispatch_locked(c, &pfd[0], &timeout_ms))
                        break;
                pthread_mutex_unlock(&c->lock);

                pfd[1] = (struct pollfd) { .fd = c->wake_fd, .events = POLLIN };
                pfd[2] = (struct pollfd) { .fd = stop_fd, .events = POLLIN };
                r = poll(pfd, ELEMENTSOF(pfd), timeout_ms);
                if (r > 0 && (pfd[1].revents & POLLIN))
                        bus_conn_drain_wake(c);

                pthread_mutex_lock(&c->lock);
                if (r > 0 && (pfd[2].revents & POLLIN)) {
                        stopped = true;
                        break;
                }
        }
        pthread_mutex_unlock(&c->lock);

        /* A wake-up meant for the I/O thread (a close, output queued) may have been drained
         * here while it came back to poll: pass one on. Rare: only a slow hook is stood in for. */
        bus_conn_wake(c);
        return stopped;
}

int bus_conn_new(sd_bus *bus, bus_conn_disconnect_t on_disconnect, void *userdata, BusConn **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *owned = bus;
        pthread_condattr_t attr;
        BusConn *c;

        assert(bus);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->wake_fd < 0) {
                int r = negative_errno();
                free(c);
                return r;
        }

        /* Waits are measured on the monotonic clock, like sd-bus's own timeouts. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &attr);
        pthread_condattr_destroy(&attr);
        pthread_mutex_init(&c->lock, NULL);

        c->n_ref = 1;
        c->resume_fd = -EBADF;
        c->bus = TAKE_PTR(owned);
        c->on_disconnect = on_disconnect;
        c->userdata = userdata;
        *ret = c;
        return 0;
}

vss_hr bus_conn_open(const char *socket_path, bus_conn_disconnect_t on_disconnect, void *userdata,
                     BusConn **ret) {
        sd_bus *bus = NULL;
        int r;

        assert(ret);

        r = vss_bus_connect(vss_socket_path(socket_path), &bus);
        if (r < 0) {
                /* Only a refusal and a lack of memory say something about us; every other
                 * failure (no socket, nobody listening, a broken handshake) means the service
                 * is not there. */
                if (r == -EACCES || r == -EPERM || r == -ENOMEM)
                        return vss_hr_from_errno(r);
                return VSS_E_WRITER_INFRASTRUCTURE;
        }

        r = bus_conn_new(bus, on_disconnect, userdata, ret);
        if (r < 0)
                return vss_hr_from_errno(r);
        return S_OK;
}

int bus_conn_start(BusConn *c) {
        int r;

        assert(c);
        assert(!c->thread_started);

        /* A direct connection's I/O thread starts parked: it reads nothing before it has
         * checked it must, so the first call may lead without waiting for it to run. */
        c->io_parked = c->direct;
        r = pthread_create(&c->thread, NULL, bus_conn_thread, c);
        if (r != 0) {
                c->io_parked = false;
                return -r;
        }
        c->thread_started = true;
        return 0;
}

BusConn *bus_conn_ref(BusConn *c) {
        if (c)
                __atomic_add_fetch(&c->n_ref, 1, __ATOMIC_SEQ_CST);
        return c;
}

BusConn *bus_conn_unref(BusConn *c) {
        if (!c)
                return NULL;
        if (__atomic_sub_fetch(&c->n_ref, 1, __ATOMIC_SEQ_CST) > 0)
                return NULL;

        bus_conn_close(c);
        sd_bus_unref(c->bus);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        if (c->wake_fd >= 0)
                (void) close(c->wake_fd);
        if (c->resume_fd >= 0)
                (void) close(c->resume_fd);
        free(c);
        return NULL;
}

void bus_conn_close(BusConn *c) {
        if (!c)
                return;

        pthread_mutex_lock(&c->lock);
        if (c->closed) {
                pthread_mutex_unlock(&c->lock);
                return;
        }
        c->closed = true;
        c->stop = true;
        pthread_mutex_unlock(&c->lock);
        bus_conn_wake(c);
        bus_conn_resume(c);

        if (c->thread_started) {
                pthread_join(c->thread, NULL);
                c->thread_started = false;
        }

        pthread_mutex_lock(&c->lock);
        /* A leading caller has seen the stop (the wake-up above) and polls no more once it
         * let go: only then may the bus fd be closed. */
        while (c->leading)
                pthread_cond_wait(&c->cond, &c->lock);
        /* Deliver what callers queued (a last reply, Unsubscribe) before hanging up, but only
         * to a peer that is still there. */
        if (!c->dead)
                (void) sd_bus_flush(c->bus);
        sd_bus_close(c->bus);
        c->dead = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

sd_bus *bus_conn_get_bus(BusConn *c) {
        assert(c);
        return c->bus;
}

void bus_conn_lock(BusConn *c) {
        assert(c);
        pthread_mutex_lock(&c->lock);
}

void bus_conn_unlock(BusConn *c) {
        bool wake;

        assert(c);
        /* The I/O thread itself (leaving its idle hook) dispatches and re-reads all before
         * its next poll. */
        wake = !c->thread_started || c->dead ||
                (bus_conn_poll_stale(c) && !pthread_equal(pthread_self(), c->thread));
        pthread_mutex_unlock(&c->lock);
        if (wake)
                bus_conn_wake(c);
}

bool bus_conn_is_dead(BusConn *c) {
        assert(c);
        return c->dead;
}

bool bus_conn_wait(BusConn *c, uint64_t deadline_usec) {
        struct timespec ts;

        assert(c);

        if (deadline_usec == UINT64_MAX) {
                pthread_cond_wait(&c->cond, &c->lock);
                return true;
        }

        ts.tv_sec = (time_t) (deadline_usec / USEC_PER_SEC);
        ts.tv_nsec = (long) ((deadline_usec % USEC_PER_SEC) * NSEC_PER_USEC);
        return pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0;
}

void bus_conn_broadcast(BusConn *c) {
        assert(c);
        pthread_cond_broadcast(&c->cond);
}

typedef struct PendingCall {
        BusConn *conn;
        bool done;
        sd_bus_message *reply;
} PendingCall;

static int pending_call_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PendingCall *p = userdata;

        /* I/O thread, lock held: only record and signal. */
        p->reply = sd_bus_message_ref(m);
        p->done = true;
        pthread_cond_broadcast(&p->conn->cond);
        return 0;
}

/* Lock held. Whether a caller waiting for a reply may take the poll role: the connection is
 * direct, its I/O thread parked, nobody else leads, and no close is under way. */
static bool bus_conn_may_lead(BusConn *c) {
        return c->direct && c->io_parked && !c->leading && !c->stop && !c->dead;
}

/*
 * Lock held (released while polling). Poll and dispatch c from the calling thread, exactly as
 * the I/O thread would (reply callbacks, incoming calls, the disconnect callback), until p's
 * reply is in, the connection is dead or a close began. The reply thus reaches the thread
 * that waits for it without a hand-off: no wake-up of the I/O thread, no condition variable.
 * Other threads' calls meanwhile follow: they wake this one through wake_fd when they queued
 * output, and it dispatches their replies too. Letting go, it broadcasts, so that a follower
 * still waiting leads in turn, and resumes the I/O thread if replies are expected that nobody
 * polls for now.
 */
static void bus_conn_lead_locked(BusConn *c, const bool *done) {
        c->leading = true;
        while (!*done && !c->stop) {
                struct pollfd pfd[2];
                int timeout_ms;

                if (!bus_conn_dispatch_locked(c, &pfd[0], &timeout_ms) || *done)
                        break;
                pthread_mutex_unlock(&c->lock);

                bus_conn_wait_unlocked(c, pfd, timeout_ms);
                pthread_mutex_lock(&c->lock);
        }
        c->leading = false;
        if (!c->dead && !c->stop && bus_conn_io_must_serve(c))
                bus_conn_resume(c);
        pthread_cond_broadcast(&c->cond);
}

int bus_conn_call(BusConn *c, sd_bus_message *m, uint64_t timeout_usec, sd_bus_error *ret_error,
                  sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        PendingCall p = { .conn = c };
        uint64_t deadline = UINT64_MAX;
        int r;

        assert(c);
        assert(m);
        assert(ret_reply);

        if (c->dead)
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_DISCONNECTED, "The connection to vssd is closed.");

        r = sd_bus_call_async(c->bus, &slot, m, pending_call_reply, &p, timeout_usec);
        if (r < 0)
                return sd_bus_error_set_errno(ret_error, r);

        /*
         * Following the I/O thread (or a leading caller), the call is written out whole as a
         * rule, and the reply wakes the poller by itself; only the reply's deadline is news to
         * its poll. Rather than wake it for every call (a context switch and a poll round per
         * call), this thread waits until that deadline and only then wakes the poller, whose
         * sd_bus_process() fails the call as timed out. A call sd-bus had to queue changes what
         * the poller polls for (POLLOUT), and wakes it at once, as does a thread that is not
         * running yet. A leader polls with every deadline itself.
         */
        if (!bus_conn_may_lead(c) &&
            (!c->thread_started || c->dead || (short) sd_bus_get_events(c->bus) != c->polled_events ||
             sd_bus_get_timeout(c->bus, &deadline) < 0 || deadline <= now_usec())) {
                bus_conn_wake(c);
                deadline = UINT64_MAX;
        }

        while (!p.done && !c->dead) {
                if (bus_conn_may_lead(c)) {
                        bus_conn_lead_locked(c, &p.done);
                        continue;
                }
                if (!bus_conn_wait(c, deadline) && deadline != UINT64_MAX && now_usec() >= deadline) {
                        bus_conn_wake(c);
                        deadline = UINT64_MAX;
                }
        }

        if (!p.done)
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_DISCONNECTED, "The connection to vssd was lost.");

        if (sd_bus_message_is_method_error(p.reply, NULL)) {
                r = sd_bus_error_copy(ret_error, sd_bus_message_get_error(p.reply));
                sd_bus_message_unref(p.reply);
                return r < 0 ? r : -EIO;
        }

        *ret_reply = p.reply;
        return 0;
}

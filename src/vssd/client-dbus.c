/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-dbus.c: accepting a connection and turning it into a peer-to-peer sd-bus server
 * connection, the way systemd PID 1 serves /run/systemd/private: accept4 non-blocking,
 * credentials, admission, sd_bus_set_server with a random id, attach to the event loop,
 * a match on the local Disconnected signal, and the object vtables. sd_bus_track cannot be
 * used on direct connections, so the Disconnected signal is how we learn a peer went away.
 *
 * Admission happens before any sd-bus state exists: a peer that may neither request nor
 * subscribe is answered with a D-Bus authentication refusal and closed, and a peer past its
 * connection limit is closed (docs/security.md "Admission and resource limits"). An admitted
 * connection's sd-bus reads from a pipe that the input gate (client-input.c) fills.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "vss-bus.h"
#include "vssd/client.h"
#include "vssd/log.h"

/* Accepts per wake-up of the listener: a flood of connections must not starve the loop, nor a
 * full backlog keep root out longer than one pass. */
#define ACCEPT_BURST 64U
/* The kernel buffer of replies not yet read by the peer (sd-bus asks for 8 MiB). */
#define CLIENT_SNDBUF (256U * 1024U)
/* One refusal line in the log per this interval, with the count since the last one. */
#define REFUSAL_LOG_INTERVAL_USEC (10ULL * USEC_PER_SEC)

/*
 * What a D-Bus server that refuses answers to the handshake sd-bus clients pipeline ("AUTH
 * EXTERNAL", "DATA", "NEGOTIATE_UNIX_FD", "BEGIN"): a challenge, the rejection, an error for
 * the FD negotiation outside an authenticated state; BEGIN then ends the conversation. An sd-bus
 * client reports it as -EPERM, libvss as E_ACCESSDENIED.
 */
static const char auth_refusal[] = "DATA\r\nREJECTED EXTERNAL\r\nERROR\r\n";

static int read_peer_groups(int fd, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *groups = NULL;
        socklen_t len = 64 * sizeof(gid_t);

        /* The kernel tells us the size it needs with ERANGE; grow to it, within a bound. */
        for (;;) {
                gid_t *g;

                g = realloc(groups, len ?: 1);
                if (!g)
                        return -ENOMEM;
                groups = g;

                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0)
                        break;
                if (errno != ERANGE)
                        return -errno;
                if (len > VSSD_MAX_PEER_GROUPS * sizeof(gid_t))
                        return -E2BIG;
        }

        *ret_n = len / sizeof(gid_t);
        *ret = TAKE_PTR(groups);
        return 0;
}

static int read_peer(int fd, Client *c) {
        socklen_t len = sizeof(struct ucred);
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->ucred, &len) < 0)
                return -errno;
        if (len != sizeof(struct ucred))
                return -EIO;

        r = read_peer_groups(fd, &c->groups, &c->n_groups);
        if (r == -ENOPROTOOPT)
                c->n_groups = 0; /* old kernel: primary group only */
        else if (r < 0)
                return r;
        return 0;
}

static UidUsage *usage_find(Manager *m, uid_t uid) {
        LIST_FOREACH(usage, u, m->usage)
                if (u->uid == uid)
                        return u;
        return NULL;
}

/* The limit the peer's connection would break, or NULL when it may come in. */
static const char *over_connection_limit(Manager *m, uid_t uid) {
        UidUsage *u = usage_find(m, uid);
        unsigned mine = u ? u->n_connections : 0;

        if (uid == 0)
                return m->n_root_clients >= m->config.max_root_connections ? "--max-root-connections" : NULL;
        if (mine >= m->config.max_connections_per_uid)
                return "--max-connections-per-uid";
        if (m->n_clients - m->n_root_clients >= m->config.max_connections)
                return "--max-connections";
        return NULL;
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000U;
}

/* A refused peer can connect in a loop; the log says so once per interval, not per attempt. */
static void log_refusal(Manager *m, const Client *c, const char *why) {
        uint64_t n = monotonic_usec();

        m->n_refused++;
        if (m->refused_since != 0 && n - m->refused_since < REFUSAL_LOG_INTERVAL_USEC) {
                log_debug("Refused a connection from pid %d (uid %u): %s.", (int) c->ucred.pid,
                          (unsigned) c->ucred.uid, why);
                return;
        }
        log_warning("Refused a connection from pid %d (uid %u): %s (%u refusals in the last %llu s).",
                    (int) c->ucred.pid, (unsigned) c->ucred.uid, why, m->n_refused,
                    (unsigned long long) (REFUSAL_LOG_INTERVAL_USEC / USEC_PER_SEC));
        m->refused_since = n;
        m->n_refused = 0;
}

static int usage_take(Manager *m, Client *c) {
        UidUsage *u = usage_find(m, c->ucred.uid);

        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u)
                        return -ENOMEM;
                u->uid = c->ucred.uid;
                LIST_PREPEND(usage, m->usage, u);
        }
        u->n_connections++;
        c->usage = u;
        m->n_clients++;
        if (c->ucred.uid == 0)
                m->n_root_clients++;
        return 0;
}

void client_usage_release(Client *c) {
        Manager *m = c->manager;
        UidUsage *u = c->usage;

        if (!u)
                return;
        c->usage = NULL;
        m->n_clients--;
        if (c->ucred.uid == 0)
                m->n_root_clients--;
        if (--u->n_connections == 0) {
                assert(u->pending == 0);
                LIST_REMOVE(usage, m->usage, u);
                free(u);
        }
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        client_free(c);
        return 0;
}

/*
 * bus_setup takes fd and pipe_read_fd in all cases. Our half of the handshake in sd-bus's
 * terms: the peer's identity is what SO_PEERCRED said at accept; sd-bus, reading a pipe, cannot
 * see it, so it accepts any EXTERNAL identity, and the input gate lets only the peer's own uid
 * through (client-input.c). The gate also hands sd-bus the handshake up to BEGIN and nothing
 * after it until sd-bus has read it, so a call a libdbus peer sends in the same write as BEGIN
 * is never left in sd-bus's buffer at the end of authentication.
 */
static int bus_setup(Client *c, int fd, int pipe_read_fd) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int out = fd, in = pipe_read_fd;
        Manager *m = c->manager;
        sd_id128_t id;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_description(bus, "vssd-client");

        r = sd_bus_set_fd(bus, in, out);
        if (r < 0)
                return r;
        c->output_fd = out;     /* watched for output once the bus is driven (client-bus.c) */
        TAKE_FD(in);            /* the bus's from here on */
        TAKE_FD(out);

        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        r = sd_bus_set_server(bus, 1, id);
        if (r < 0)
                return r;
        r = sd_bus_set_anonymous(bus, 1);
        if (r < 0)
                return r;
        /* Access is decided per call from the credentials read at accept. */
        r = sd_bus_set_trusted(bus, 1);
        if (r < 0)
                return r;

        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, writer_vtable, c);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, backup_vtable, c);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_ADMIN, admin_vtable, c);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus", bus_compat_vtable, c);
        if (r < 0)
                return r;

        r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                      "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, NULL, c);
        if (r < 0)
                return r;

        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* sd-bus asked the kernel for 8 MiB of send buffer per connection; replies a peer does
         * not read are bounded by --max-queued instead, so the kernel's share can be small. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int) { CLIENT_SNDBUF }, sizeof(int));

        c->bus = TAKE_PTR(bus);
        return 0;
}

int client_new(Manager *m, int fd, Client **ret) {
        _cleanup_close_ int nfd = fd, input_fd = -EBADF;
        _cleanup_free_ Client *c = NULL;
        int pipe_fds[2] = { -EBADF, -EBADF };
        const char *limit;
        int r;

        assert(m);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->input_fd = c->pipe_fd = c->output_fd = -EBADF;

        r = read_peer(nfd, c);
        if (r < 0)
                goto fail;

        if (!client_may_request(c) && !client_may_subscribe(c)) {
                /* The socket is fresh: its send buffer takes these few bytes at once. */
                (void) send(nfd, auth_refusal, sizeof(auth_refusal) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                log_refusal(m, c, "neither root, in group \"backup\" nor an allowed writer uid");
                r = -EPERM;
                goto fail;
        }
        limit = over_connection_limit(m, c->ucred.uid);
        if (limit) {
                log_refusal(m, c, limit);
                r = -EUSERS;
                goto fail;
        }

        input_fd = fcntl(nfd, F_DUPFD_CLOEXEC, 3);
        if (input_fd < 0 || pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }

        r = usage_take(m, c);
        if (r < 0) {
                (void) close(pipe_fds[0]);
                (void) close(pipe_fds[1]);
                goto fail;
        }

        r = bus_setup(c, TAKE_FD(nfd), pipe_fds[0]);
        if (r < 0) {
                (void) close(pipe_fds[1]);
                client_usage_release(c);
                goto fail;
        }

        r = client_input_start(c, TAKE_FD(input_fd), pipe_fds[1]);
        if (r < 0) {
                c->bus = sd_bus_close_unref(c->bus);
                client_usage_release(c);
                goto fail;
        }

        LIST_PREPEND(clients, m->clients, c);
        *ret = TAKE_PTR(c);
        return 0;

fail:
        free(c->groups);
        return r;
}

int client_on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        for (unsigned i = 0; i < ACCEPT_BURST; i++) {
                Client *c;
                int nfd, r;

                nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (nfd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        log_warning_errno(-errno, "Failed to accept a connection, ignoring: %m");
                        return 0;
                }

                if (m->exiting) {
                        (void) close(nfd);
                        continue;
                }

                r = client_new(m, nfd, &c);
                if (r == -EPERM || r == -EUSERS)
                        continue;       /* logged, rate limited */
                if (r < 0) {
                        log_warning_errno(r, "Failed to set up a client connection, ignoring: %m");
                        continue;
                }

                log_debug("New connection from pid %d (uid %u, gid %u).", (int) c->ucred.pid,
                          (unsigned) c->ucred.uid, (unsigned) c->ucred.gid);
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-dbus.c: accepting a connection and turning it into a peer-to-peer sd-bus server
 * connection, the way systemd PID 1 serves /run/systemd/private: accept4 non-blocking,
 * connection limit, credentials, sd_bus_set_server with a random id, attach to the event loop,
 * a match on the local Disconnected signal, and the object vtables. sd_bus_track cannot be
 * used on direct connections, so the Disconnected signal is how we learn a peer went away.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-id128.h>

#include "vss-bus.h"
#include "vssd/client.h"
#include "vssd/log.h"

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

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        client_free(c);
        return 0;
}

/*
 * Runs after every event loop iteration while c is authenticating. Why: a libdbus peer
 * (dbus-send --peer, gdbus) sends BEGIN and its first method call in one write; sd-bus reads
 * both while finishing authentication, keeps the call in its input buffer, and only asks the
 * loop for more input, so the call would wait until the peer gave up (25 s) or hung up. Once
 * authentication is done, process what is buffered, then stop watching.
 */
static int on_auth_post(sd_event_source *s, void *userdata) {
        Client *c = userdata;
        sd_bus *bus;
        int r;

        if (sd_bus_is_ready(c->bus) <= 0)
                return 0;
        c->auth_watch = sd_event_source_disable_unref(c->auth_watch);

        /* A call may end the connection, and with it c: hold the bus, not c. */
        bus = sd_bus_ref(c->bus);
        do
                r = sd_bus_process(bus, NULL);
        while (r > 0);
        sd_bus_unref(bus);
        return 0;
}

int client_new(Manager *m, int fd, Client **ret) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int nfd = fd;
        _cleanup_free_ Client *c = NULL;
        socklen_t len = sizeof(struct ucred);
        sd_id128_t id;
        int r;

        assert(m);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;

        if (getsockopt(nfd, SOL_SOCKET, SO_PEERCRED, &c->ucred, &len) < 0)
                return -errno;
        if (len != sizeof(struct ucred))
                return -EIO;

        r = read_peer_groups(nfd, &c->groups, &c->n_groups);
        if (r == -ENOPROTOOPT)
                c->n_groups = 0; /* old kernel: primary group only */
        else if (r < 0)
                return r;

        r = sd_bus_new(&bus);
        if (r < 0)
                goto fail;
        (void) sd_bus_set_description(bus, "vssd-client");

        r = sd_bus_set_fd(bus, nfd, nfd);
        if (r < 0)
                goto fail;
        TAKE_FD(nfd);

        r = sd_id128_randomize(&id);
        if (r < 0)
                goto fail;
        r = sd_bus_set_server(bus, 1, id);
        if (r < 0)
                goto fail;
        /* Access is decided per call from the credentials read above. */
        r = sd_bus_set_trusted(bus, 1);
        if (r < 0)
                goto fail;

        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, writer_vtable, c);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, backup_vtable, c);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_ADMIN, admin_vtable, c);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus", bus_compat_vtable, c);
        if (r < 0)
                goto fail;

        r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                      "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, NULL, c);
        if (r < 0)
                goto fail;

        r = sd_bus_start(bus);
        if (r < 0)
                goto fail;

        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;
        r = sd_event_add_post(m->event, &c->auth_watch, on_auth_post, c);
        if (r < 0)
                goto fail;

        c->bus = TAKE_PTR(bus);
        LIST_PREPEND(clients, m->clients, c);
        m->n_clients++;
        *ret = TAKE_PTR(c);
        return 0;

fail:
        c->auth_watch = sd_event_source_disable_unref(c->auth_watch);
        free(c->groups);
        return r;
}

int client_on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        Client *c;
        int nfd, r;

        nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (nfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                log_warning_errno(-errno, "Failed to accept a connection, ignoring: %m");
                return 0;
        }

        if (m->exiting || m->n_clients >= m->config.max_connections) {
                log_warning("Refusing a connection: %s (%u connections, limit %u).",
                            m->exiting ? "shutting down" : "too many connections", m->n_clients,
                            m->config.max_connections);
                (void) close(nfd);
                return 0;
        }

        r = client_new(m, nfd, &c);
        if (r < 0) {
                log_warning_errno(r, "Failed to set up a client connection, ignoring: %m");
                return 0;
        }

        log_debug("New connection from pid %d (uid %u, gid %u).", (int) c->ucred.pid, (unsigned) c->ucred.uid,
                  (unsigned) c->ucred.gid);
        return 0;
}

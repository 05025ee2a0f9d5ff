/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-pair.c: see bus-pair.h. Both ends run in the test's thread, so every wait processes
 * both sides in turn until the expected message shows up; the authentication handshake
 * happens along the way.
 */
#include <errno.h>
#include <sys/socket.h>
#include <systemd/sd-id128.h>

#include "bus-pair.h"
#include "macro.h"

int bus_pair_open(BusPair *ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *server = NULL, *client = NULL;
        sd_id128_t id;
        int fds[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return -errno;

        r = sd_bus_new(&server);
        if (r >= 0)
                r = sd_bus_new(&client);
        if (r < 0) {
                close(fds[0]);
                close(fds[1]);
                return r;
        }

        r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_set_server(server, 1, id);
        if (r >= 0)
                r = sd_bus_set_fd(server, fds[0], fds[0]);
        if (r < 0) {
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        r = sd_bus_set_fd(client, fds[1], fds[1]);
        if (r < 0) {
                close(fds[1]);
                return r;
        }

        r = sd_bus_start(server);
        if (r < 0)
                return r;
        r = sd_bus_start(client);
        if (r < 0)
                return r;

        ret->server = TAKE_PTR(server);
        ret->client = TAKE_PTR(client);
        return 0;
}

void bus_pair_close(BusPair *p) {
        p->server = sd_bus_flush_close_unref(p->server);
        p->client = sd_bus_flush_close_unref(p->client);
}

int bus_pair_transfer(BusPair *p, sd_bus *from, sd_bus_message *m, sd_bus_message **ret) {
        sd_bus *to = from == p->server ? p->client : p->server;
        int r;

        r = sd_bus_send(from, m, NULL);
        if (r < 0)
                return r;

        for (int i = 0; i < 1000; i++) {
                sd_bus_message *got = NULL;

                r = sd_bus_process(from, NULL);
                if (r < 0)
                        return r;
                r = sd_bus_process(to, &got);
                if (r < 0)
                        return r;
                if (got) {
                        *ret = got;
                        return 0;
                }
                if (r == 0)
                        (void) sd_bus_wait(to, 10000);
        }
        return -ETIMEDOUT;
}

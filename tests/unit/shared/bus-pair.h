/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-pair.h: a peer-to-peer sd-bus connection over a socketpair, both ends in one thread,
 * for tests that need real messages on a real wire without a daemon.
 */
#pragma once

#include <systemd/sd-bus.h>

typedef struct BusPair {
        sd_bus *server;
        sd_bus *client;
} BusPair;

/* bus_pair_open: a connected pair (server: sd_bus_set_server; client: plain peer). 0 or -errno. */
int bus_pair_open(BusPair *ret);
/* bus_pair_close: unrefs both ends. */
void bus_pair_close(BusPair *p);
/*
 * bus_pair_transfer: sends m from one end and returns the message as the other end received
 * it (rewound, ready to read). 0 or -errno; *ret owned by the caller.
 */
int bus_pair_transfer(BusPair *p, sd_bus *from, sd_bus_message *m, sd_bus_message **ret);

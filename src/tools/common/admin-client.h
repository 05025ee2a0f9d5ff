/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admin-client.h: the tools' client of vssd's org.vsslinux.VSS1.Admin interface
 * (docs/dbus-api.md), which the public libvss API does not carry: vssadmin's verbs, and
 * vshadow's list of subscribed writers before Identify.
 *
 * Every function prints what went wrong (tool.h's wording) and returns minus the exit status,
 * so a caller only passes the value up.
 */
#pragma once

#include <systemd/sd-bus.h>

/*
 * admin_connect: a raw sd-bus connection to vssd at socket_path (NULL: $VSS_SOCKET, else the
 * default). Returns 0 and *ret (sd_bus_flush_close_unref), or minus the exit status.
 */
int admin_connect(const char *socket_path, sd_bus **ret);

/*
 * admin_call: calls Admin.MEMBER with arguments of signature types (NULL: none) and waits up
 * to a minute. Returns 0 and *ret_reply (may be NULL), or minus the exit status with vssd's
 * error printed.
 */
int admin_call(sd_bus *bus, const char *member, sd_bus_message **ret_reply, const char *types, ...);

/* admin_bad_reply: for a reply that does not read (r a negative errno); minus the exit status. */
int admin_bad_reply(int r);

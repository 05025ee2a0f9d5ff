/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-compat-dbus.c: just enough of the message bus's own interface (org.freedesktop.DBus on
 * /org/freedesktop/DBus) for stock D-Bus tools to talk to vssd's peer-to-peer socket.
 *
 * Why: busctl --address and gdbus --address treat any address as a message bus and start with
 * Hello(); with no answer they give up ("Invalid request descriptor", "Unknown object
 * '/org/freedesktop/DBus'") before sending the call the user asked for. vssd is not a bus and
 * routes nothing: Hello returns a unique name for the connection so the tools proceed, and
 * the bus name vssd's objects answer under (org.vsslinux.VSS1) is reported as owned by vssd.
 * Nothing here grants anything: every vssd method still decides from the peer's credentials.
 */
#include <stdio.h>

#include "macro.h"
#include "vss-bus.h"
#include "vssd/client.h"

#define COMPAT_DAEMON_NAME ":1.0"

/* A name per Hello, as a bus would give; it names nothing vssd routes by. */
static int method_hello(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static unsigned serial;
        char name[32];

        (void) snprintf(name, sizeof(name), ":1.%u", ++serial);
        return sd_bus_reply_method_return(m, "s", name);
}

static int method_get_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        if (!streq(name, VSS_BUS_SENDER) && !streq(name, "org.freedesktop.DBus"))
                return sd_bus_error_setf(error, "org.freedesktop.DBus.Error.NameHasNoOwner",
                                         "%s is not served here; vssd answers as " VSS_BUS_SENDER, name);
        return sd_bus_reply_method_return(m, "s", COMPAT_DAEMON_NAME);
}

static int method_list_names(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "as", 2, "org.freedesktop.DBus", VSS_BUS_SENDER);
}

const sd_bus_vtable bus_compat_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Hello", "", "s", method_hello, 0),
        SD_BUS_METHOD("GetNameOwner", "s", "s", method_get_name_owner, 0),
        SD_BUS_METHOD("ListNames", "", "as", method_list_names, 0),
        SD_BUS_VTABLE_END,
};

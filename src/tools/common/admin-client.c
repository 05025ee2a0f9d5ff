/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admin-client.c: the tools' one client of vssd's Admin interface (admin-client.h). One
 * connection per program run; calls are synchronous, because a tool has nothing else to do
 * while vssd answers.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "admin-client.h"
#include "tool.h"
#include "vss-bus.h"

/* Long enough for DeleteSnapshots of many snapshots; vssd never defers an Admin call. */
#define ADMIN_CALL_TIMEOUT_USEC (60 * USEC_PER_SEC)

int admin_connect(const char *socket_path, sd_bus **ret) {
        const char *path = vss_socket_path(socket_path);
        int r;

        r = vss_bus_connect(path, ret);
        if (r < 0)
                return -tool_vssd_unreachable(path, r);
        return 0;
}

int admin_call(sd_bus *bus, const char *member, sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_ADMIN, member);
        if (r >= 0 && types) {
                va_list ap;

                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_call(bus, m, ADMIN_CALL_TIMEOUT_USEC, &error, ret_reply);
        if (r < 0)
                return -tool_vss_error(vss_hr_from_bus_error(&error, r), "%s", error.message ?: strerror(-r));
        return 0;
}

int admin_bad_reply(int r) {
        return -tool_vss_error(VSS_E_UNEXPECTED, "%s",
                               r == -ENOMEM ? "out of memory" : "vssd's reply could not be read");
}

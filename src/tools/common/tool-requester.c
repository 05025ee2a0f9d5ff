/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-requester.c: the tools' requester edges (tool.h): connecting, with the one message
 * for a vssd that is not there, and running an asynchronous VSS step to its end. The tools
 * never do anything while a step runs, so each step is "start, wait, read the result,
 * release".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool-interrupt.h"
#include "tool.h"
#include "vss-bus.h"

vss_hr tool_async_result(vss_hr call_hr, vss_async *a) {
        vss_hr hr = call_hr;

        /* Cut short by SIGINT/SIGTERM once tool_interrupt_install() ran (tool-interrupt.c). */
        if (VSS_SUCCEEDED(call_hr))
                hr = a ? tool_interrupt_async_wait(a) : VSS_E_UNEXPECTED;
        vss_async_release(a);
        return hr;
}

int tool_vssd_unreachable_probe(const char *socket_path) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *path = vss_socket_path(socket_path);
        int r;

        /* libvss says only "unreachable"; the connect() errno says whether vssd is not running
         * or refused us, which need different remedies. */
        r = vss_bus_connect(path, &bus);
        return tool_vssd_unreachable(path, r < 0 ? r : -ECONNRESET);
}

int tool_requester_new(const char *socket_path, vss_requester **ret) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_hr hr;

        opts.socket_path = socket_path;
        hr = vss_requester_new(ret, &opts);
        if (VSS_SUCCEEDED(hr))
                return 0;
        if (hr != VSS_E_WRITER_INFRASTRUCTURE)
                return -tool_vss_error(hr, "connecting to vssd at %s", vss_socket_path(socket_path));
        return -tool_vssd_unreachable_probe(socket_path);
}

int tool_snapshot_dir(vss_requester *r, const vss_snapshot_prop *p, char **ret) {
        char *dir = NULL;
        struct stat st;
        vss_hr hr;

        if (!isempty(p->snapshot_device_object) && stat(p->snapshot_device_object, &st) >= 0 &&
            S_ISDIR(st.st_mode))
                dir = strdup(p->snapshot_device_object);
        else if (!isempty(p->exposed_path))
                dir = strdup(p->exposed_path);
        else {
                /* Not a directory, or not one we may look into: vssd mounts it read-only. */
                hr = vss_requester_expose_snapshot(r, &p->snapshot_id, NULL, &dir);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(r, "ExposeSnapshot", hr);
        }
        if (!dir)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        *ret = dir;
        return 0;
}

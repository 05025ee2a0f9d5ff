/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requester.c: vshadow's requester edges: opening one initialized for backup, and reading an
 * id from the command line. Everything that talks to vssd starts here.
 */
#include "vshadow.h"

int requester_open(vss_snapshot_context ctx, vss_requester **ret) {
        vss_requester *req = NULL;
        vss_hr hr;
        int r;

        r = tool_requester_new(arg.socket, &req);
        if (r < 0)
                return r;
        hr = vss_requester_initialize_for_backup(req, NULL);
        if (VSS_FAILED(hr)) {
                r = -tool_step_failed(req, "InitializeForBackup", hr);
                vss_requester_release(req);
                return r;
        }
        hr = vss_requester_set_context(req, ctx);
        if (VSS_FAILED(hr)) {
                r = -tool_step_failed(req, "SetContext", hr);
                vss_requester_release(req);
                return r;
        }
        *ret = req;
        return 0;
}

void requester_releasep(vss_requester **r) {
        vss_requester_release(*r);
}

void enum_object_freep(vss_enum_object **e) {
        vss_enum_object_free(*e);
}

int parse_id(const char *option, const char *s, vss_id *ret) {
        if (vss_id_parse(s, ret) != S_OK)
                return -tool_usage_error("-%s=%s: not an id (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", option, s);
        return 0;
}

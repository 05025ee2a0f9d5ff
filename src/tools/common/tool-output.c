/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-output.c: the one error printer of the tools (tool.h). Before it, each program wrote
 * its own, and the same condition came out in different words with different exit statuses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "tool.h"

int tool_version(void) {
        printf("%s %s\n", program_invocation_short_name, VSS_VERSION);
        return TOOL_EXIT_OK;
}

int tool_exit_for_hr(vss_hr hr) {
        /* libvss reports "no vssd" (or the connection lost) with this one code. */
        return hr == VSS_E_WRITER_INFRASTRUCTURE ? TOOL_EXIT_UNREACHABLE : TOOL_EXIT_VSS;
}

int tool_usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help'.\n", program_invocation_short_name);
        return TOOL_EXIT_USAGE;
}

int tool_vss_error(vss_hr hr, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: %s: %s", program_invocation_short_name, vss_hr_name(hr), vss_hr_message(hr));
        if (fmt) {
                fputs(": ", stderr);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
        }
        fputc('\n', stderr);
        return tool_exit_for_hr(hr);
}

int tool_step_failed(vss_requester *r, const char *step, vss_hr hr) {
        const char *detail = r ? vss_requester_get_error_message(r) : "";

        return tool_vss_error(hr, "%s failed%s%s", step, isempty(detail) ? "" : ": ", strempty(detail));
}

char *tool_step_message(vss_requester *r, const char *step, vss_hr hr) {
        const char *detail = r ? vss_requester_get_error_message(r) : NULL;
        char *s = NULL;

        if (asprintf(&s, "%s: %s failed%s%s", vss_hr_name(hr), step, isempty(detail) ? "" : ": ",
                     strempty(detail)) < 0)
                return NULL;
        return s;
}

void tool_note(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int tool_vssd_unreachable(const char *socket_path, int err) {
        err = err < 0 ? -err : err;

        /* One wording per condition, each with its remedy (docs/exit-codes.md). */
        if (err == EACCES || err == EPERM) {
                fprintf(stderr, "%s: vssd refused this user: ask an administrator for access to its socket (%s: "
                        "%s; %s)\n", program_invocation_short_name, socket_path, strerror(err),
                        vss_hr_name(E_ACCESSDENIED));
                return TOOL_EXIT_VSS;
        }
        if (err == ENOENT || err == ECONNREFUSED)
                fprintf(stderr, "%s: vssd is not running: start it with `systemctl start vssd.socket` (nothing "
                        "listens on %s; %s)\n", program_invocation_short_name, socket_path,
                        vss_hr_name(VSS_E_WRITER_INFRASTRUCTURE));
        else
                fprintf(stderr, "%s: vssd cannot be reached: see `systemctl status vssd` (%s: %s; %s)\n",
                        program_invocation_short_name, socket_path, strerror(err),
                        vss_hr_name(VSS_E_WRITER_INFRASTRUCTURE));
        return TOOL_EXIT_UNREACHABLE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-writer.c: how the tools show one writer's status (tool.h): vssadmin list writers
 * (from Admin.ListWriters) and vshadow -ws (from GetWriterStatus) print the same fields, so
 * they are printed here once. The JSON object is the same for both programs (a script reads
 * `vssadmin list writers --json` and `vshadow -ws -json` alike, docs/vshadow.md); the text
 * keeps the block of the Windows program each one follows, which is what its users compare.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tool.h"

static void writer_status_json(const ToolWriterStatus *w, bool first) {
        printf("%s{", first ? "" : ",");
        json_field_string("writer_id", w->writer_id, false);
        json_field_string("instance_id", w->instance_id, false);
        json_field_string("name", w->name, false);
        if (w->instance_name)
                json_field_string("instance_name", w->instance_name, false);
        printf("\"state\":%" PRIu32 ",", w->state);
        json_field_string("state_name", vss_writer_state_to_string(w->state), false);
        printf("\"last_error\":%" PRId32 ",", (int32_t) w->last_error);
        json_field_string("last_error_name", vss_hr_name(w->last_error), true);
        putchar('}');
}

void tool_writer_status_print(const ToolWriterStatus *w, ToolWriterForm form, bool first) {
        switch (form) {
        case TOOL_WRITER_JSON:
                writer_status_json(w, first);
                break;
        case TOOL_WRITER_VSSADMIN:
                printf("Writer name: '%s'\n", w->name);
                printf("   Writer Id: {%s}\n", w->writer_id);
                printf("   Writer Instance Id: {%s}\n", w->instance_id);
                if (!isempty(w->instance_name))
                        printf("   Writer Instance Name: '%s'\n", w->instance_name);
                printf("   State: [%" PRIu32 "] %s\n", w->state, vss_writer_state_to_string(w->state));
                printf("   Last error: %s\n\n", w->last_error == S_OK ? "No error" : vss_hr_name(w->last_error));
                break;
        case TOOL_WRITER_VSHADOW:
                printf("* WRITER \"%s\"\n", w->name);
                printf("   - Status: %" PRIu32 " (%s)\n", w->state, vss_writer_state_to_string(w->state));
                printf("   - Writer failure code: 0x%08" PRIx32 " (%s)\n", (uint32_t) w->last_error,
                       vss_hr_name(w->last_error));
                printf("   - Writer ID: {%s}\n", w->writer_id);
                printf("   - Instance ID: {%s}\n\n", w->instance_id);
                break;
        }
}

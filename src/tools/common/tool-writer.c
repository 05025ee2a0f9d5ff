/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-writer.c: how the tools show one writer's status (tool.h): vssadmin list writers
 * (from Admin.ListWriters) and vshadow -ws (from GetWriterStatus) print the same fields, so
 * they are printed here once. The JSON object is the same for both programs (a script reads
 * `vssadmin list writers --json` and `vshadow -ws -json` alike, docs/vshadow.md); the text
 * keeps the block of the Windows program each one follows, which is what its users compare.
 * Also the walk over a component's three kinds of file description, which -wm prints and the
 * requesters check against their volumes, and a component's identity in a Backup Components
 * Document, which the restores select it by.
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

unsigned tool_component_file_count(const vss_component_info *info, ToolFileKind kind) {
        switch (kind) {
        case TOOL_FILE_KIND_FILES:
                return info->file_count;
        case TOOL_FILE_KIND_DATABASE:
                return info->database_count;
        case TOOL_FILE_KIND_DATABASE_LOG:
                return info->log_file_count;
        default:
                return 0;
        }
}

vss_hr tool_component_get_file(vss_wm_component *comp, ToolFileKind kind, unsigned index, vss_wm_filedesc *ret) {
        switch (kind) {
        case TOOL_FILE_KIND_FILES:
                return vss_wm_component_get_file(comp, index, ret);
        case TOOL_FILE_KIND_DATABASE:
                return vss_wm_component_get_database_file(comp, index, ret);
        case TOOL_FILE_KIND_DATABASE_LOG:
                return vss_wm_component_get_database_log_file(comp, index, ret);
        default:
                return E_INVALIDARG;
        }
}

vss_hr tool_component_identity(vss_writer_components_ext *ext, unsigned index, const char **ret_logical_path,
                               const char **ret_name, vss_component_type *ret_type) {
        const char *lp = NULL, *name = NULL;
        vss_component_type type;
        vss_component *comp;
        vss_hr hr;

        hr = vss_writer_components_ext_get_component(ext, index, &comp);
        if (VSS_SUCCEEDED(hr))
                hr = vss_component_get_logical_path(comp, &lp);
        if (VSS_SUCCEEDED(hr))
                hr = vss_component_get_component_name(comp, &name);
        if (VSS_SUCCEEDED(hr))
                hr = vss_component_get_component_type(comp, &type);
        if (VSS_FAILED(hr))
                return hr;
        *ret_logical_path = lp;
        *ret_name = name;
        *ret_type = type;
        return S_OK;
}

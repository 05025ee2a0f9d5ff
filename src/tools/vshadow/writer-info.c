/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-info.c: -ws (the writers' status after a metadata gathering) and -wm (their
 * metadata: components, file sets, restore method). A writer's status is printed by the tools'
 * common tool_writer_status_print(), so -ws says what vssadmin list writers says; -wm reads
 * each writer's metadata once (WriterView) for its text and its JSON form.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Writer status and metadata listings                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char *usage_type_name(vss_usage_type t) {
        static const char *const names[] = { "undefined", "bootable system state", "system service", "user data",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *source_type_name(vss_source_type t) {
        static const char *const names[] = { "undefined", "transacted database", "non-transacted database",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *restore_method_name(vss_restore_method m) {
        static const char *const names[] = { "undefined", "restore if not there", "restore if can replace",
                                             "stop, restore, start", "restore to alternate location",
                                             "restore at reboot", "restore at reboot if cannot replace", "custom",
                                             "restore, stop, start" };

        return (unsigned) m < ELEMENTSOF(names) ? names[m] : "unknown";
}

static void print_filedesc(const char *kind, const vss_wm_filedesc *f) {
        printf("            - %s: path %s, filespec %s%s", kind, f->path, f->filespec,
               f->recursive ? ", recursive" : "");
        if (f->alternate_location)
                printf(", alternate location %s", f->alternate_location);
        printf(", backup type mask 0x%" PRIx32 "\n", f->backup_type_mask);
}

static void print_filedesc_json(const char *kind, const vss_wm_filedesc *f, bool first) {
        printf("%s{", first ? "" : ",");
        json_field_string("kind", kind, false);
        json_field_string("path", f->path, false);
        json_field_string("filespec", f->filespec, false);
        printf("\"recursive\":%s,", f->recursive ? "true" : "false");
        json_field_string("alternate_location", f->alternate_location, false);
        printf("\"backup_type_mask\":%" PRIu32 "}", f->backup_type_mask);
}

/* One writer's metadata as -wm shows it, read once for either form; strings borrowed from m. */
typedef struct WriterView {
        vss_examine_writer_metadata *m;
        const char *name, *instance_name, *service, *procedure;
        vss_id instance_id, writer_id;
        vss_usage_type usage;
        vss_source_type source;
        vss_restore_method method;
        uint32_t schema;
        unsigned n_exclude, n_components;
} WriterView;

static int writer_view_read(vss_requester *req, unsigned index, WriterView *ret) {
        WriterView v = {};
        vss_hr hr;

        hr = vss_requester_get_writer_metadata(req, index, &v.instance_id, &v.m);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_identity(v.m, &v.instance_id, &v.writer_id, &v.name,
                                                              &v.instance_name, &v.usage, &v.source);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_file_counts(v.m, NULL, &v.n_exclude, &v.n_components);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_backup_schema(v.m, &v.schema);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_restore_method(v.m, &v.method, &v.service, &v.procedure, NULL,
                                                                    NULL);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GetWriterMetadata", hr);
        *ret = v;
        return 0;
}

/* A component's file descriptions, of the three kinds in turn: as JSON array elements or as
 * -wm's text lines. */
static void component_files_print(vss_wm_component *comp, const vss_component_info *info, bool json) {
        static const char *const labels[_TOOL_FILE_KIND_MAX] = { "Files", "Database files", "Database log files" };
        static const char *const kinds[_TOOL_FILE_KIND_MAX] = { "files", "database", "database_log" };
        unsigned k = 0;

        for (ToolFileKind kind = 0; kind < _TOOL_FILE_KIND_MAX; kind++)
                for (unsigned i = 0; i < tool_component_file_count(info, kind); i++) {
                        vss_wm_filedesc f;

                        if (tool_component_get_file(comp, kind, i, &f) != S_OK)
                                continue;
                        if (json)
                                print_filedesc_json(kinds[kind], &f, k++ == 0);
                        else
                                print_filedesc(labels[kind], &f);
                }
}

/* A writer's component index c, or minus the exit status, printed. */
static int component_get(vss_requester *req, const WriterView *v, unsigned c, vss_wm_component **ret_comp,
                         vss_component_info *ret_info) {
        vss_hr hr;

        hr = vss_examine_writer_metadata_get_component(v->m, c, ret_comp);
        if (VSS_SUCCEEDED(hr))
                hr = vss_wm_component_get_info(*ret_comp, ret_info);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GetComponent", hr);
        return 0;
}

/* -wm -json: one writer's metadata as a JSON object. */
static int print_writer_metadata_json(vss_requester *req, unsigned index) {
        WriterView v;
        int r;

        r = writer_view_read(req, index, &v);
        if (r < 0)
                return r;

        printf("%s{", index == 0 ? "" : ",");
        json_field_string("writer_id", vss_id_to_str(&v.writer_id).s, false);
        json_field_string("instance_id", vss_id_to_str(&v.instance_id).s, false);
        json_field_string("name", v.name, false);
        json_field_string("instance_name", v.instance_name, false);
        json_field_string("usage_type", usage_type_name(v.usage), false);
        json_field_string("source_type", source_type_name(v.source), false);
        printf("\"backup_schema\":%" PRIu32 ",", v.schema);
        json_field_string("restore_method", restore_method_name(v.method), false);
        json_field_string("restore_service", v.service, false);
        printf("\"excluded_files\":[");
        for (unsigned i = 0, k = 0; i < v.n_exclude; i++) {
                vss_wm_filedesc f;

                if (vss_examine_writer_metadata_get_exclude_file(v.m, i, &f) == S_OK)
                        print_filedesc_json("excluded", &f, k++ == 0);
        }
        printf("],\"components\":[");
        for (unsigned c = 0; c < v.n_components; c++) {
                vss_wm_component *comp;
                vss_component_info info;

                r = component_get(req, &v, c, &comp, &info);
                if (r < 0) {
                        printf("]}]\n"); /* keep stdout valid JSON up to the error */
                        return r;
                }
                printf("%s{", c == 0 ? "" : ",");
                json_field_string("logical_path", info.logical_path, false);
                json_field_string("name", info.component_name, false);
                json_field_string("type", vss_component_type_to_string(info.type), false);
                json_field_string("caption", info.caption, false);
                printf("\"selectable\":%s,\"selectable_for_restore\":%s,\"files\":[",
                       info.selectable ? "true" : "false", info.selectable_for_restore ? "true" : "false");
                component_files_print(comp, &info, true);
                printf("]}");
        }
        printf("]}");
        return 0;
}

static int print_writer_metadata(vss_requester *req, unsigned index) {
        WriterView v;
        int r;

        r = writer_view_read(req, index, &v);
        if (r < 0)
                return r;

        printf("* WRITER \"%s\"\n", v.name);
        printf("    - WriterId   = {%s}\n", vss_id_to_str(&v.writer_id).s);
        printf("    - InstanceId = {%s}\n", vss_id_to_str(&v.instance_id).s);
        if (!isempty(v.instance_name))
                printf("    - Instance name: %s\n", v.instance_name);
        printf("    - Usage type: %s\n", usage_type_name(v.usage));
        printf("    - Source type: %s\n", source_type_name(v.source));
        printf("    - Backup schema: 0x%04" PRIx32 "\n", v.schema);
        printf("    - Restore method: %s%s%s\n", restore_method_name(v.method), isempty(v.service) ? "" : ", service ",
               strempty(v.service));
        for (unsigned i = 0; i < v.n_exclude; i++) {
                vss_wm_filedesc f;

                if (vss_examine_writer_metadata_get_exclude_file(v.m, i, &f) == S_OK)
                        printf("    - Excluded files: path %s, filespec %s%s\n", f.path, f.filespec,
                               f.recursive ? ", recursive" : "");
        }
        printf("    - Components: %u\n", v.n_components);
        for (unsigned c = 0; c < v.n_components; c++) {
                vss_wm_component *comp;
                vss_component_info info;

                r = component_get(req, &v, c, &comp, &info);
                if (r < 0)
                        return r;
                printf("        * Component \"%s%s%s\"\n", info.logical_path, isempty(info.logical_path) ? "" : "\\",
                       info.component_name);
                printf("            - Type: %s\n", vss_component_type_to_string(info.type));
                if (!isempty(info.caption))
                        printf("            - Caption: %s\n", info.caption);
                printf("            - Selectable: %s, selectable for restore: %s\n", info.selectable ? "yes" : "no",
                       info.selectable_for_restore ? "yes" : "no");
                component_files_print(comp, &info, false);
        }
        printf("\n");
        return 0;
}

int writer_listing(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        unsigned n = 0;
        vss_hr hr;
        int r;

        r = requester_open(VSS_CTX_BACKUP, &req);
        if (r < 0)
                return r;
        hr = vss_requester_set_backup_state(req, true, false, VSS_BT_FULL, false);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "SetBackupState", hr);
        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, req);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GatherWriterMetadata", hr);

        if (arg.command == COMMAND_WRITER_METADATA) {
                hr = vss_requester_get_writer_metadata_count(req, &n);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(req, "GetWriterMetadataCount", hr);
                if (arg.json)
                        putchar('[');
                for (unsigned i = 0; i < n; i++) {
                        r = arg.json ? print_writer_metadata_json(req, i) : print_writer_metadata(req, i);
                        if (r < 0)
                                return r;
                }
                if (arg.json)
                        printf("]\n");
                else
                        printf("%u writer%s answered Identify.\n", n, n == 1 ? "" : "s");
                return 0;
        }

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, req);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_get_writer_status_count(req, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GatherWriterStatus", hr);
        if (arg.json)
                putchar('[');
        for (unsigned i = 0; i < n; i++) {
                vss_id instance_id, writer_id;
                vss_writer_state state;
                vss_id_str writer_str, instance_str;
                ToolWriterStatus w = {};

                hr = vss_requester_get_writer_status(req, i, &instance_id, &writer_id, &w.name, &state,
                                                     &w.last_error);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(req, "GetWriterStatus", hr);
                writer_str = vss_id_to_str(&writer_id);
                instance_str = vss_id_to_str(&instance_id);
                w.writer_id = writer_str.s;
                w.instance_id = instance_str.s;
                w.state = (uint32_t) state;
                tool_writer_status_print(&w, arg.json ? TOOL_WRITER_JSON : TOOL_WRITER_VSHADOW, i == 0);
        }
        if (arg.json)
                printf("]\n");
        else
                printf("%u writer%s listed.\n", n, n == 1 ? "" : "s");
        return 0;
}

